-- wrk script: POST one GraphQL request per call, as a client that honours a 429's Retry-After
-- (it waits that long before its next request). Sending the heaviest page, such a client uses
-- all its rate-limit bucket allows, and no more.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
local body = os.getenv("BODY")
local wait_ms = 0
request = function()
  return wrk.format(nil, nil, nil, body)
end
response = function(status, headers, _)
  if status == 429 then
    local after = headers["Retry-After"] or headers["retry-after"]
    wait_ms = (tonumber(after) or 1) * 1000
  end
end
delay = function()
  local d = wait_ms
  wait_ms = 0
  return d
end
