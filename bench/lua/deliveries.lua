-- wrk script: replays pre-signed webhook deliveries (bench-sign-deliveries output), one file per wrk
-- thread: wrk ... -s deliveries.lua URL -- FILE_PREFIX   reads FILE_PREFIX.1, FILE_PREFIX.2, ...
-- Every request is pre-formatted in init(); request() only hands the next one out. When a thread runs
-- out of deliveries it starts again from its first one (those are then redeliveries: counted as "wrapped").
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

function init(args)
  local file = args[1] .. "." .. tid
  requests = {}
  for line in io.lines(file) do
    local id, ts, sig, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    if id then
      requests[#requests + 1] = wrk.format("POST", nil, {
        ["Content-Type"] = "application/json",
        ["webhook-id"] = id,
        ["webhook-timestamp"] = ts,
        ["webhook-signature"] = sig,
      }, body)
    end
  end
  n = #requests
  i = 0
  wrapped = 0
  if n == 0 then error("no deliveries in " .. file) end
end

function request()
  i = i + 1
  if i > n then
    i = 1
    wrapped = wrapped + 1
  end
  return requests[i]
end

function done(summary, latency, requests)
  local wraps = 0
  for _, thread in ipairs(threads) do
    wraps = wraps + (thread:get("wrapped") or 0)
  end
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "BENCH requests=%d seconds=%.2f rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d non2xx=%d " ..
    "connect_errors=%d read_errors=%d write_errors=%d timeouts=%d wrapped=%d\n",
    summary.requests, seconds, summary.requests / seconds, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, wraps))
end
