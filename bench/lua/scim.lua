-- wrk script for every benchmark scenario.
-- usage: wrk ... -s scim.lua URL -- MODE FILE TOKEN PREFIX
--   MODE   get | filter | page | post | acs
--   FILE   get/filter/page/post: lines "id userName" of the loaded users;
--          acs: one form-encoded body per line, each used once (split between threads)
--   TOKEN  bearer token ("-" for none); PREFIX  path of the SCIM root, e.g. /scim/v2
-- Prints one line "BENCH {json}" with requests, duration, errors and latency percentiles.

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("thread_index", counter)
  table.insert(threads, thread)
end

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function init(args)
  mode, file, token, prefix = args[1], args[2], args[3], args[4]
  math.randomseed(os.time() * 1000 + thread_index)
  headers = {}
  if token ~= "-" then headers["Authorization"] = "Bearer " .. token end
  ids, names, bodies = {}, {}, {}
  local index = 0
  for line in io.lines(file) do
    index = index + 1
    if mode == "acs" then
      if index % thread_count() == thread_index - 1 then table.insert(bodies, line) end
    else
      local id, name = line:match("^(%S+) (%S+)$")
      table.insert(ids, id)
      table.insert(names, name)
    end
  end
  next_body = 1
  exhausted = 0
  created = 0
  run = tostring(os.time()) .. "-" .. tostring(math.random(1000000))
end

function thread_count()
  return tonumber(os.getenv("BENCH_WRK_THREADS") or "1")
end

function request()
  if mode == "get" then
    return wrk.format("GET", prefix .. "/Users/" .. ids[math.random(#ids)], headers)
  elseif mode == "filter" then
    local filter = 'userName eq "' .. names[math.random(#names)] .. '"'
    return wrk.format("GET", prefix .. "/Users?filter=" .. urlencode(filter), headers)
  elseif mode == "page" then
    local start = math.random(math.max(#ids - 99, 1))
    return wrk.format("GET", prefix .. "/Users?startIndex=" .. start .. "&count=100", headers)
  elseif mode == "post" then
    created = created + 1
    local name = "new-" .. run .. "-" .. thread_index .. "-" .. created .. "@bench.example.com"
    local body = '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"' .. name ..
      '","name":{"givenName":"New","familyName":"User ' .. created .. '"},"displayName":"New User",' ..
      '"emails":[{"value":"' .. name .. '","type":"work","primary":true}],"active":true}'
    local h = {["Content-Type"] = "application/scim+json"}
    for k, v in pairs(headers) do h[k] = v end
    return wrk.format("POST", prefix .. "/Users", h, body)
  elseif mode == "acs" then
    local body = bodies[next_body]
    next_body = next_body + 1
    if body == nil then  -- every response was used: counted, so the run is not reported
      exhausted = exhausted + 1
      body = "SAMLResponse=exhausted"
    end
    local h = {["Content-Type"] = "application/x-www-form-urlencoded"}
    return wrk.format("POST", prefix, h, body)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local exhausted = 0
  for _, thread in ipairs(threads) do exhausted = exhausted + (thread:get("exhausted") or 0) end
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "errors_status": %d, "errors_connect": %d, ' ..
    '"errors_read": %d, "errors_write": %d, "errors_timeout": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"exhausted": %d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), exhausted))
end
