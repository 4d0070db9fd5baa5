// Whole-call load driver for bench/run.sh (docs/benchmarks.md): Node's fetch (undici's, with an
// Agent whose pool is larger than the host's HTTP workers) sends signed realtime.call.incoming
// deliveries, each a fresh call id and event id, so every one the host accepts is a whole call
// (tenant lookup, capacity slot, POST .../accept to the simulator, sideband session launched).
// Each accepted call is then ended with a signed realtime.call.ended delivery.
//
//   OPENAI_WEBHOOK_SECRET=whsec_... node calls.mjs --url https://127.0.0.1:P/api/v1/openai/webhook
//       --ca-file ca.pem --to +18005550100 --concurrency 32 --connections 64
//       --mode whole --seconds 10 [--warmup-seconds 2]
//       --mode hold --calls 2000 --host-pid PID --metrics-url http://127.0.0.1:M/metrics
//       [--timeout-ms 30000]
//
// whole: --concurrency loops, each: incoming -> (accepted) -> ended, for --warmup-seconds (not
//   measured) then --seconds. Accept latency = the incoming delivery's round trip (send to last
//   byte of the answer, or to the time-out), for every one answered after the warm-up (those still
//   in flight at the end are waited for). Whole calls/s = calls whose ended delivery answered 200
//   within the measured window, per second.
// hold: places --calls calls at --concurrency, waits until the host's metrics show them all
//   active (sideband session open), samples /proc/PID/status (Threads, VmRSS) for 5 s, then ends
//   every call and samples again once none is active.
// Prints one "BENCH k=v ..." line (figures only; nothing is judged here) and progress on stderr.
import { Agent, fetch } from "undici";
import { createHmac, randomBytes } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";

const args = {};
for (let i = 2; i + 1 < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, "")] = process.argv[i + 1];
const num = (name, fallback) => (args[name] === undefined ? fallback : Number(args[name]));
const secret = process.env.OPENAI_WEBHOOK_SECRET;
if (!secret || !args.url) {
  console.error("usage: see the comment at the top of bench/node/calls.mjs");
  process.exit(64);
}
const mode = args.mode ?? "whole";
const concurrency = num("concurrency", 32);
const connections = num("connections", 64);
const timeoutMs = num("timeout-ms", 30000);
const to = args.to ?? "+18005550100";

// Standard Webhooks signature, as the host verifies it: base64(HMAC-SHA256(key, "id.ts.body")),
// the key being the base64 after "whsec_" (the first of the configured secrets signs).
const first = secret.split(/[\s,]+/).filter(Boolean)[0];
const key = first.startsWith("whsec_") ? Buffer.from(first.slice(6), "base64") : Buffer.from(first);
const hex = (n) => randomBytes(Math.ceil(n / 2)).toString("hex").slice(0, n);
const unixNow = () => Math.floor(Date.now() / 1000);

// The simulator's event shapes (tools/simulator/WebhookSender.cpp).
function incomingEvent() {
  const callId = `rtc_${hex(32)}`;
  const body = JSON.stringify({
    object: "event", id: `evt_${hex(32)}`, type: "realtime.call.incoming", created_at: unixNow(),
    data: {
      call_id: callId,
      sip_headers: [
        { name: "From", value: `"Bench Caller" <sip:+14155550100@sip.example.com>;tag=${hex(10)}` },
        { name: "To", value: `<sip:${to}@sip.api.openai.com>` },
        { name: "Call-ID", value: `${hex(24)}@sip.example.com` },
      ],
      sip_media_security: "srtp",
    },
  });
  return { callId, body };
}
function endedEvent(callId) {
  return { callId, body: JSON.stringify({ object: "event", id: `evt_${hex(32)}`, type: "realtime.call.ended",
    created_at: unixNow(), data: { call_id: callId } }) };
}

const agent = new Agent({
  connections, // per origin: more than the host's worker threads, so the pool may keep spare keep-alive connections
  pipelining: 1,
  keepAliveTimeout: 60_000,
  connect: { ca: args["ca-file"] ? readFileSync(args["ca-file"]) : undefined, servername: "localhost", timeout: timeoutMs },
  headersTimeout: timeoutMs,
  bodyTimeout: timeoutMs,
});

const errors = new Map();
const countError = (what) => errors.set(what, (errors.get(what) ?? 0) + 1);

// One signed delivery; resolves to { status, body, ms } (status 0: no answer, see errors).
async function deliver(event) {
  const id = `wh_${hex(32)}`;
  const ts = String(unixNow());
  const signature = createHmac("sha256", key).update(`${id}.${ts}.${event.body}`).digest("base64");
  const started = performance.now();
  try {
    const response = await fetch(args.url, {
      method: "POST", dispatcher: agent, body: event.body, signal: AbortSignal.timeout(timeoutMs),
      headers: { "content-type": "application/json", "webhook-id": id, "webhook-timestamp": ts, "webhook-signature": `v1,${signature}` },
    });
    const body = await response.text();
    return { status: response.status, body, ms: performance.now() - started };
  } catch (error) {
    countError(error.cause?.code ?? error.cause?.name ?? error.name ?? "error");
    return { status: 0, body: "", ms: performance.now() - started };
  }
}

function percentile(sorted, p) {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.round((p / 100) * (sorted.length - 1)))];
}
const fmt = (ms) => ms.toFixed(2);
function latencyFields(prefix, values) {
  const sorted = Float64Array.from(values).sort();
  return `${prefix}_p50_ms=${fmt(percentile(sorted, 50))} ${prefix}_p99_ms=${fmt(percentile(sorted, 99))} ` +
    `${prefix}_max_ms=${fmt(sorted.length ? sorted[sorted.length - 1] : 0)}`;
}
const tally = (map) => [...map].map(([k, n]) => `${k}:${n}`).join(",") || "-";
const statuses = { incoming: new Map(), ended: new Map() };
const countStatus = (kind, status) => statuses[kind].set(status, (statuses[kind].get(status) ?? 0) + 1);

// Runs `count` loops at once; resolves when every loop has returned.
async function runLoops(count, body) {
  await Promise.all(Array.from({ length: count }, (_, i) => body(i)));
}

async function whole() {
  const warmupMs = num("warmup-seconds", 2) * 1000;
  const seconds = num("seconds", 10);
  const t0 = performance.now();
  const windowStart = t0 + warmupMs;
  const windowEnd = windowStart + seconds * 1000;
  const accept = [];
  let completed = 0, notAccepted = 0, endFailed = 0, started = 0;
  // The driver's own event-loop delay over the window: an answer that arrived while this process was
  // busy (or not scheduled) is timed late by this much, whatever the host did.
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  setTimeout(() => loopDelay.enable(), warmupMs).unref();
  setTimeout(() => loopDelay.disable(), warmupMs + seconds * 1000).unref(); // not the drain after it
  await runLoops(concurrency, async () => {
    while (performance.now() < windowEnd) {
      if (performance.now() >= windowStart) ++started;
      const call = incomingEvent();
      const answer = await deliver(call);
      countStatus("incoming", answer.status);
      // Every answer (or time-out) that comes after the warm-up counts, also one sent during it: a
      // delivery stuck across the window start is a stall the window must show.
      const measured = performance.now() >= windowStart;
      if (measured) accept.push(answer.ms);
      if (answer.status !== 200 || !answer.body.includes('"accepted":true')) {
        ++notAccepted;
        continue;
      }
      const ended = await deliver(endedEvent(call.callId));
      countStatus("ended", ended.status);
      if (ended.status !== 200) { ++endFailed; continue; }
      const now = performance.now();
      if (now >= windowStart && now <= windowEnd) ++completed;
    }
  });
  const elapsed = (performance.now() - windowStart) / 1000;
  console.log(`BENCH mode=whole concurrency=${concurrency} connections=${connections} seconds=${seconds} ` +
    `started=${started} completed=${completed} calls_per_s=${(completed / seconds).toFixed(1)} ` +
    `${latencyFields("accept", accept)} not_accepted=${notAccepted} end_failed=${endFailed} ` +
    `incoming_statuses=${tally(statuses.incoming)} ended_statuses=${tally(statuses.ended)} ` +
    `errors=${tally(errors)} drain_s=${(elapsed - seconds).toFixed(1)} ` +
    `client_loop_delay_p99_ms=${fmt(loopDelay.percentile(99) / 1e6)} client_loop_delay_max_ms=${fmt(loopDelay.max / 1e6)}`);
}

// --- hold ----------------------------------------------------------------------------------------
function procStatus(pid) {
  const out = { threads: 0, rssKib: 0, anonKib: 0, fileKib: 0, fds: 0 };
  try {
    for (const line of readFileSync(`/proc/${pid}/status`, "utf8").split("\n")) {
      if (line.startsWith("Threads:")) out.threads = Number(line.split(/\s+/)[1]);
      else if (line.startsWith("VmRSS:")) out.rssKib = Number(line.split(/\s+/)[1]);
      else if (line.startsWith("RssAnon:")) out.anonKib = Number(line.split(/\s+/)[1]);
      else if (line.startsWith("RssFile:")) out.fileKib = Number(line.split(/\s+/)[1]);
    }
    out.fds = readdirSync(`/proc/${pid}/fd`).length;
  } catch {}
  return out;
}
const metricsAgent = new Agent({ connections: 2 });
async function metric(name) {
  try {
    const response = await fetch(args["metrics-url"], { dispatcher: metricsAgent, signal: AbortSignal.timeout(5000) });
    const text = await response.text();
    const line = text.split("\n").find((l) => l.startsWith(`${name} `));
    return line ? Number(line.split(" ")[1]) : NaN;
  } catch {
    return NaN;
  }
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
async function waitFor(condition, ms) {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    if (await condition()) return true;
    await sleep(200);
  }
  return false;
}

async function hold() {
  const calls = num("calls", 2000);
  const pid = num("host-pid", 0);
  const idle = procStatus(pid);
  const accept = [];
  const accepted = [];
  let next = 0;
  const placeStart = performance.now();
  await runLoops(concurrency, async () => {
    while (next < calls) {
      ++next;
      const call = incomingEvent();
      const answer = await deliver(call);
      countStatus("incoming", answer.status);
      accept.push(answer.ms);
      if (answer.status === 200 && answer.body.includes('"accepted":true')) accepted.push(call.callId);
    }
  });
  const placeSeconds = (performance.now() - placeStart) / 1000;
  console.error(`placed ${calls} calls in ${placeSeconds.toFixed(1)} s, ${accepted.length} accepted`);
  // Every accepted call's sideband session open (the host counts it active) and none pending.
  const allOpen = await waitFor(async () => (await metric("sideband_calls_active_all")) >= accepted.length &&
    (await metric("sideband_calls_pending_all")) === 0, 60_000);
  const held = await metric("sideband_calls_active_all");
  const peak = { threads: 0, rssKib: 0, anonKib: 0, fileKib: 0, fds: 0 };
  for (let i = 0; i < 5; ++i) {
    const s = procStatus(pid);
    for (const k of Object.keys(peak)) peak[k] = Math.max(peak[k], s[k]);
    await sleep(1000);
  }
  console.error(`held ${held} (all open: ${allOpen}); threads ${peak.threads}, RSS ${(peak.rssKib / 1024).toFixed(1)} MiB ` +
    `(anonymous ${(peak.anonKib / 1024).toFixed(1)}, files ${(peak.fileKib / 1024).toFixed(1)}; idle ${(idle.anonKib / 1024).toFixed(1)} / ${(idle.fileKib / 1024).toFixed(1)})`);
  const trimsBefore = (await metric("sideband_heap_trims_total")) || 0; // no series before the first trim
  let i = 0, endedOk = 0;
  const endStart = performance.now();
  await runLoops(concurrency, async () => {
    while (i < accepted.length) {
      const answer = await deliver(endedEvent(accepted[i++]));
      countStatus("ended", answer.status);
      if (answer.status === 200) ++endedOk;
    }
  });
  const endSeconds = (performance.now() - endStart) / 1000;
  await waitFor(async () => (await metric("sideband_calls_active_all")) === 0, 30_000);
  const left = await metric("sideband_calls_active_all");
  // The host's sweep (every 5 s) gives the freed heap back once calls have ended: read RSS after it
  // (at most 15 s, e.g. for an older host without the metric).
  await waitFor(async () => (await metric("sideband_heap_trims_total")) > trimsBefore, 15_000);
  const after = procStatus(pid);
  const mib = (kib) => (kib / 1024).toFixed(1);
  console.log(`BENCH mode=hold concurrency=${concurrency} connections=${connections} calls=${calls} ` +
    `accepted=${accepted.length} held=${held} all_open=${allOpen ? 1 : 0} place_s=${placeSeconds.toFixed(1)} ` +
    `${latencyFields("accept", accept)} idle_threads=${idle.threads} idle_rss_mib=${mib(idle.rssKib)} ` +
    `threads=${peak.threads} rss_mib=${mib(peak.rssKib)} anon_mib=${mib(peak.anonKib)} file_mib=${mib(peak.fileKib)} ` +
    `idle_anon_mib=${mib(idle.anonKib)} idle_file_mib=${mib(idle.fileKib)} fds=${peak.fds} ended_ok=${endedOk} end_s=${endSeconds.toFixed(1)} ` +
    `left_active=${left} after_threads=${after.threads} after_rss_mib=${mib(after.rssKib)} ` +
    `incoming_statuses=${tally(statuses.incoming)} ended_statuses=${tally(statuses.ended)} errors=${tally(errors)}`);
}

try {
  if (mode === "whole") await whole();
  else if (mode === "hold") await hold();
  else throw new Error(`unknown --mode ${mode}`);
} finally {
  await agent.destroy();
  await metricsAgent.destroy();
}
