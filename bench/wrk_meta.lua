-- wrk script for the webhook ingest benchmark.
--
--   WRK_BODIES=file.tsv wrk -t1 -c64 -d30s --latency -s bench/wrk_meta.lua http://127.0.0.1:PORT/webhooks/meta/
--
-- With WRK_BODIES (lines "signature<TAB>body", bodies being single-line JSON) every request is a
-- signed Meta delivery POSTed in file order, cycling; without it, a plain GET of the URL (the
-- baselines). Either way done() prints one line "WRK_JSON {...}" with requests, duration,
-- status classes (counted in response()), requests written but unanswered when wrk stopped,
-- socket errors and latency percentiles in ms.

local requests_ = {}
local count = 0
local index = 0

-- Per-thread counters, read by done() through thread:get().
sent = 0
c2xx = 0
c3xx = 0
c4xx = 0
c5xx = 0

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local path = os.getenv("WRK_BODIES")
  if path == nil or path == "" then
    requests_[1] = wrk.format("GET", wrk.path)
    count = 1
    return
  end
  local file = assert(io.open(path, "r"))
  for line in file:lines() do
    local tab = line:find("\t", 1, true)
    if tab then
      local headers = {
        ["Content-Type"] = "application/json",
        ["X-Hub-Signature-256"] = line:sub(1, tab - 1),
        ["User-Agent"] = "facebookexternalua",
      }
      count = count + 1
      requests_[count] = wrk.format("POST", wrk.path, headers, line:sub(tab + 1))
    end
  end
  file:close()
  assert(count > 0, "no signed bodies in " .. path)
end

function request()
  index = index % count + 1
  sent = sent + 1
  return requests_[index]
end

function response(status, headers, body)
  if status < 300 then
    c2xx = c2xx + 1
  elseif status < 400 then
    c3xx = c3xx + 1
  elseif status < 500 then
    c4xx = c4xx + 1
  else
    c5xx = c5xx + 1
  end
end

function done(summary, latency, requests)
  local totals = { sent = 0, c2xx = 0, c3xx = 0, c4xx = 0, c5xx = 0 }
  for _, thread in ipairs(threads) do
    for name, _ in pairs(totals) do
      totals[name] = totals[name] + (thread:get(name) or 0)
    end
  end
  local e = summary.errors
  local ms = function(us) return us / 1000.0 end
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_s": %.3f, "sent": %d, "status_2xx": %d, "status_3xx": %d, '
      .. '"status_4xx": %d, "status_5xx": %d, "errors": {"connect": %d, "read": %d, "write": %d, '
      .. '"status": %d, "timeout": %d}, "latency_ms": {"mean": %.3f, "stdev": %.3f, "p50": %.3f, "p90": %.3f, '
      .. '"p99": %.3f, "max": %.3f}, "bytes": %d}\n',
    summary.requests, summary.duration / 1e6, totals.sent, totals.c2xx, totals.c3xx, totals.c4xx, totals.c5xx,
    e.connect, e.read, e.write, e.status, e.timeout,
    ms(latency.mean), ms(latency.stdev), ms(latency:percentile(50)), ms(latency:percentile(90)),
    ms(latency:percentile(99)), ms(latency.max), summary.bytes))
end
