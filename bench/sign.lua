-- wrk script: sign POSTs, each with a unique address and its own single-use form token (one a
-- line in BENCH_FORM_TOKENS, made by bench/run.py with the server's key), and the fields a
-- person's browser sends.
local run = os.getenv("BENCH_RUN")
-- wrk's -t: each thread runs this script in its own Lua state and takes every n-th token
local stride = tonumber(os.getenv("BENCH_THREADS") or "1")
local threads = 0
local sent = 0
local tokens = {}

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

function init(args)
  for line in io.lines(os.getenv("BENCH_FORM_TOKENS")) do
    tokens[#tokens + 1] = line
  end
end

function request()
  sent = sent + 1
  -- threads take every n-th token, so no two requests share one
  local token = tokens[((sent - 1) * stride + thread_number - 1) % #tokens + 1]
  local body = "csrf_token=" .. token
    .. "&name=Bench+Supporter+" .. sent
    .. "&email=bench-" .. run .. "-" .. thread_number .. "-" .. sent .. "%40example.org"
    .. "&country=PK&actions=letter&actions=email&consent=y"
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Sec-Fetch-Site"] = "same-origin",
  }, body)
end
