dofile(os.getenv("BENCH") .. "/report.lua")
-- POST $NOTIFY_PATH (default /notify/wechat) with signed notifies of type $NOTIFY_TYPE, each
-- for another order: the lines of $LIST are split between the threads, so no two requests pay
-- the same order. Each request is formatted once, in init (see get_tokens.lua).
local requests = {}
local i = 0
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  threads[#threads + 1] = thread
end
function init(args)
  local n = 0
  local count = tonumber(os.getenv("THREADS"))
  local path = os.getenv("NOTIFY_PATH") or "/notify/wechat"
  local headers = { ["Content-Type"] = os.getenv("NOTIFY_TYPE") or "text/xml" }
  for line in io.lines(os.getenv("LIST")) do
    if n % count == tid then requests[#requests + 1] = wrk.format("POST", path, headers, line) end
    n = n + 1
  end
end
function request()
  i = i % #requests + 1
  return requests[i]
end
