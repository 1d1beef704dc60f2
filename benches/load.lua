-- wrk script for benches/run.sh. Arguments after `--`:
--   get                        plain GET of the URL given to wrk
--   post BODIES [CAPTURE_DIR]  POST each line of BODIES in turn (JSON); with CAPTURE_DIR,
--                              every 201 answer is appended to CAPTURE_DIR/<thread>.txt
-- done() prints one line: LOAD <requests> <seconds> <p50 ms> <p99 ms> <errors> <non-2xx>.

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

local bodies = {}
local next_body = 1
local capture = nil

local function capture_response(status, headers, body)
  if status == 201 and capture then
    local f = io.open(capture .. "/" .. tid .. ".txt", "a")
    f:write(body, "\n")
    f:close()
  end
end

function init(args)
  if args[1] == "post" then
    for line in io.lines(args[2]) do
      table.insert(bodies, line)
    end
    -- Threads start half the file apart, so they do not send the same bodies (a lookup
    -- value sent twice is refused with 409).
    next_body = ((tid - 1) * math.floor(#bodies / 2) + tid * 97) % #bodies + 1
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
    if args[3] then
      capture = args[3]
      response = capture_response
    end
  end
end

function request()
  if #bodies == 0 then
    return wrk.format(nil, nil, nil, nil)
  end
  local body = bodies[next_body]
  next_body = next_body % #bodies + 1
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  print(string.format("LOAD %d %.3f %.2f %.2f %d %d",
    summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.connect + e.read + e.write + e.timeout, e.status))
end
