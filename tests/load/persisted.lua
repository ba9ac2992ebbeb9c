-- wrk script: one customer by id (q1 of the side-by-side pages), the next id from IDS_FILE per
-- request, sent as MODE says: "full" (the document), "hash" (a persisted query's hash alone, by
-- POST) or "get" (the hash alone, by GET).
local mode = os.getenv("MODE")
local query = os.getenv("QUERY")
local hash = os.getenv("HASH")
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.headers["Content-Type"] = "application/json"
local ids = {}
for line in io.lines(os.getenv("IDS_FILE")) do ids[#ids + 1] = line end
local n = 0
local extensions = '{"persistedQuery":{"version":1,"sha256Hash":"' .. hash .. '"}}'
local function escape(s)
  return (string.gsub(s, "[^%w%-_%.~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end
request = function()
  n = n + 1
  local id = ids[(n % #ids) + 1]
  local variables = '{"id":"' .. id .. '"}'
  if mode == "get" then
    local path = "/graphql?extensions=" .. escape(extensions) .. "&variables=" .. escape(variables)
    return wrk.format("GET", path, nil, nil)
  end
  local body
  if mode == "hash" then
    body = '{"extensions":' .. extensions .. ',"variables":' .. variables .. '}'
  else
    body = '{"query":' .. query .. ',"variables":' .. variables .. '}'
  end
  return wrk.format("POST", "/graphql", nil, body)
end
