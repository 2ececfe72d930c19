dofile(os.getenv("BENCH") .. "/report.lua")
-- GET <path with TOKEN> for each line of $LIST (cached code_urls: no unifiedorder).
-- Each request is formatted once, in init: wrk shares the cores with the service, and
-- formatting it again for every send is the load generator's work, not the service's
-- (measured: ~3 µs of wrk's CPU per request, a tenth of what the service spends).
local requests = {}
local i = 0
function init(args)
  for line in io.lines(os.getenv("LIST")) do
    local path = string.gsub(os.getenv("PATH_TEMPLATE"), "TOKEN", line)
    requests[#requests + 1] = wrk.format("GET", path)
  end
end
function request()
  i = i % #requests + 1
  return requests[i]
end
