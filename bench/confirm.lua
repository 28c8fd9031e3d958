-- wrk script: confirm POSTs, one per link in BENCH_CONFIRM_PATHS (made by bench/run.py, one
-- "/v/<token>" a line), as the confirm page's button sends them. bench/run.py runs it for less
-- time than the links last; should they run out, the last link is sent again ("already
-- confirmed", which changes nothing, and the table says so).
local paths = {}
local sent = 0

function init(args)
  for line in io.lines(os.getenv("BENCH_CONFIRM_PATHS")) do
    paths[#paths + 1] = line
  end
end

function request()
  sent = sent + 1
  local path = paths[math.min(sent, #paths)]
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Sec-Fetch-Site"] = "same-origin",
  }, "")
end
