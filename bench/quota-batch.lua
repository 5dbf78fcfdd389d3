-- wrk script of bench/quota-lib.sh's batch run: each request is one batch of <items> consumptions of <metric>, each
-- with a fresh idempotency key (POST /v1/usage/batch; the baseline's POST /consume-batch takes the same body).
-- Args: <bearer key> <path> <metric> <items>.
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  auth = "Bearer " .. (args[1] or "none")
  target = args[2] or "/"
  metric = args[3] or "bench_calls"
  items = tonumber(args[4] or "100")
  math.randomseed(os.time() * 100 + tid)
  prefix = os.time() .. "-" .. tid .. "-" .. math.random(1, 1000000000)
  n = 0
end

function request()
  local parts = {}
  for i = 1, items do
    n = n + 1
    parts[i] = '{"metric":"' .. metric .. '","amount":1,"idempotencyKey":"' .. prefix .. "-" .. n .. '"}'
  end
  return wrk.format("POST", target, { ["Content-Type"] = "application/json", ["Authorization"] = auth },
    '{"items":[' .. table.concat(parts, ",") .. ']}')
end
