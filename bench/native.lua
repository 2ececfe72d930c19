dofile(os.getenv("BENCH") .. "/report.lua")
-- POST /v1/orders/{id}/wechat/native for each merchant order id of $LIST (cached code_urls),
-- each request formatted once, in init (see get_tokens.lua).
local requests = {}
local i = 0
function init(args)
  local headers = { ["Authorization"] = "Bearer " .. os.getenv("API_KEY") }
  for line in io.lines(os.getenv("LIST")) do
    requests[#requests + 1] = wrk.format("POST", "/v1/orders/" .. line .. "/wechat/native", headers)
  end
end
function request()
  i = i % #requests + 1
  return requests[i]
end
