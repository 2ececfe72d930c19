dofile(os.getenv("BENCH") .. "/report.lua")
-- POST /v1/orders, each request a new merchant order id ($PREFIX<thread>x<n>), returning to the sink.
local counter = 0
local thread_id = 0
local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  threads[#threads + 1] = thread
end
function init(args)
  thread_id = tid
end
function request()
  counter = counter + 1
  local body = string.format(
    '{"merchant_order_id":"%s%dx%d","merchant_user_id":"bench","amount":1,"pay_method":"wechat","return_url":"%s"}',
    os.getenv("PREFIX") or "c", thread_id, counter, os.getenv("SINK"))
  return wrk.format("POST", "/v1/orders",
    { ["Authorization"] = "Bearer " .. os.getenv("API_KEY"), ["Content-Type"] = "application/json" }, body)
end
