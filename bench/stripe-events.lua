-- wrk script: POSTs pre-signed Stripe events, one line per request ("<Stripe-Signature>\t<body>"), each line once.
-- Arguments after `--`: the events file and the number of wrk threads (threads take every n-th line).
local lines = {}
local index, step = 0, 1
local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  local f = assert(io.open(args[1], "r"))
  for line in f:lines() do lines[#lines + 1] = line end
  f:close()
  index = tid or 0
  step = tonumber(args[2] or "1")
end

function request()
  local line = lines[(index % #lines) + 1]
  index = index + step
  local tab = line:find("\t", 1, true)
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Stripe-Signature"] = line:sub(1, tab - 1),
  }, line:sub(tab + 1))
end
