-- wrk script: POST one GraphQL request per call with a bearer token.
-- BODY is a JSON request; if IDS_FILE is set, "$ID" in BODY is replaced by the next id from it.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
local body = os.getenv("BODY")
local ids = {}
local ids_file = os.getenv("IDS_FILE")
if ids_file and ids_file ~= "" then
  for line in io.lines(ids_file) do ids[#ids + 1] = line end
end
local n = 0
request = function()
  if #ids == 0 then
    return wrk.format(nil, nil, nil, body)
  end
  n = n + 1
  local b = string.gsub(body, "%$ID", ids[(n % #ids) + 1])
  return wrk.format(nil, nil, nil, b)
end
