dofile(os.getenv("BENCH") .. "/report.lua")
-- POST /v1/orders/{id}/wechat/native for each merchant order id of $LIST (cached code_urls).
local items = {}
local i = 0
function init(args)
  for line in io.lines(os.getenv("LIST")) do items[#items + 1] = line end
end
function request()
  i = i % #items + 1
  return wrk.format("POST", "/v1/orders/" .. items[i] .. "/wechat/native",
    { ["Authorization"] = "Bearer " .. os.getenv("API_KEY") })
end
