-- wrk script of bench/quota-consume*.sh: POST with a fresh idempotency key per request, as distinct client
-- operations send (a retry would reuse its key). Args: <bearer key> <path>. The key prefix holds the start time
-- and thread, so the warm-up and the measured run never share keys.
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  auth = "Bearer " .. (args[1] or "none")
  target = args[2] or "/"
  math.randomseed(os.time() * 100 + tid)
  prefix = os.time() .. "-" .. tid .. "-" .. math.random(1, 1000000000)
  n = 0
end

function request()
  n = n + 1
  return wrk.format("POST", target, { ["Content-Type"] = "application/json", ["Authorization"] = auth },
    '{"amount":1,"idempotencyKey":"' .. prefix .. "-" .. n .. '"}')
end
