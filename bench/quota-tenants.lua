-- wrk script of bench/quota-lib.sh's 200-organization run: every request goes to the next tenant in turn (each
-- connection starts at its own place), with a fresh idempotency key. Args: <file> <path>. Backstop: the file holds
-- one tenant API key a line and <path> is /v1/usage/{metric}/consume. Baseline: the file holds one tenant id a line
-- and <path> is "baseline" (POST /consume/{tenant}).
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  tenants = {}
  for line in io.lines(args[1]) do
    if line ~= "" then tenants[#tenants + 1] = line end
  end
  target = args[2]
  math.randomseed(os.time() * 100 + tid)
  prefix = os.time() .. "-" .. tid .. "-" .. math.random(1, 1000000000)
  n = math.random(0, #tenants - 1)
end

function request()
  n = n + 1
  local tenant = tenants[n % #tenants + 1]
  if target == "baseline" then
    return wrk.format("POST", "/consume/" .. tenant, { ["Content-Type"] = "application/json" }, "{}")
  end
  return wrk.format("POST", target, { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. tenant },
    '{"amount":1,"idempotencyKey":"' .. prefix .. "-" .. n .. '"}')
end
