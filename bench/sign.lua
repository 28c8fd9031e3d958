-- wrk script: sign POSTs, each with a unique address, carrying a real form token taken from
-- the widget page (BENCH_FORM_TOKEN) and the fields a person's browser sends.
local token = os.getenv("BENCH_FORM_TOKEN")
local run = os.getenv("BENCH_RUN")
local threads = 0
local sent = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

function request()
  sent = sent + 1
  local body = "csrf_token=" .. token
    .. "&name=Bench+Supporter+" .. sent
    .. "&email=bench-" .. run .. "-" .. thread_number .. "-" .. sent .. "%40example.org"
    .. "&country=PK&actions=letter&actions=email&consent=y"
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Sec-Fetch-Site"] = "same-origin",
  }, body)
end
