dofile(os.getenv("BENCH") .. "/report.lua")
-- GET <path with TOKEN> for each line of $LIST (cached code_urls: no unifiedorder).
local items = {}
local i = 0
function init(args)
  for line in io.lines(os.getenv("LIST")) do items[#items + 1] = line end
end
function request()
  i = i % #items + 1
  local path = string.gsub(os.getenv("PATH_TEMPLATE"), "TOKEN", items[i])
  return wrk.format("GET", path)
end
