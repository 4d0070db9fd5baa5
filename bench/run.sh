#!/usr/bin/env bash
# Sideband benchmarks (docs/benchmarks.md). Each one builds what it needs, starts the real
# sideband-host as a child process on 127.0.0.1 with the Realtime simulator, drives load, prints a
# table and writes bench/results/<name>.md. Figures only: nothing here judges a speed.
#   bash bench/run.sh webhook|incoming|incoming-repeat|sessions|isolation|http|calls|held|server|fleet|all
# (server = http, calls and held: the HTTP server cases of issue 11, with load generators we did not write.)
# Environment: SIDEBAND_BENCH_BUILD (build dir, default build-bench), SIDEBAND_JOBS (default 2),
#   BENCH_SECONDS (length of each measured run), BENCH_QUICK=1 (a ~2 s run of each, for a smoke check;
#   results then go to $BENCH_RESULTS_DIR, default a temp dir, not bench/results),
#   BENCH_SESSIONS="100 1000 2000" (call counts), BENCH_WINDOW (sessions window, s),
#   BENCH_BASELINE_REV (http/calls/held: also build sideband-host at that git revision and run every
#   case against both, interleaved), BENCH_IDLE / BENCH_SLOW (idle and slow connections held open
#   during http/calls/held runs), BENCH_CONNECTIONS, BENCH_CONCURRENCY, BENCH_HELD (see docs).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${SIDEBAND_BENCH_BUILD:-$root/build-bench}
jobs=${SIDEBAND_JOBS:-2}
quick=${BENCH_QUICK:-0}
what=${1:-}
case "$what" in webhook | incoming | incoming-repeat | sessions | isolation | http | calls | held | server | fleet | all) ;; *)
  echo "usage: bash bench/run.sh webhook|incoming|incoming-repeat|sessions|isolation|http|calls|held|server|fleet|all" >&2
  exit 64
  ;;
esac

if [ "$quick" = 1 ]; then
  seconds=${BENCH_SECONDS:-2}
  results=${BENCH_RESULTS_DIR:-$(mktemp -d)}
else
  seconds=${BENCH_SECONDS:-10}
  results=${BENCH_RESULTS_DIR:-$root/bench/results}
fi
mkdir -p "$results"
if [ -n "${BENCH_SAMPLES_DIR:-}" ]; then mkdir -p "$BENCH_SAMPLES_DIR"; fi
rev=${BENCH_REV:-$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)}

# need_packages COMMAND:PACKAGE ...: apt-get installs the packages whose command is missing.
need_packages() {
  local missing=() pair sudo=""
  for pair in "$@"; do command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}"); done
  [ ${#missing[@]} -eq 0 ] && return
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
need_wrk() { need_packages wrk:wrk; }

build_targets() {
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null # cheap; picks up new targets
  cmake --build "$build" -j"$jobs" --target "$@" >/dev/null
}

# --- the host and its surroundings -------------------------------------------------------------
work=$(mktemp -d /tmp/sideband-bench.XXXXXX)
host_pid=""
sim_pid=""
aux_pids=() # helpers started next to a host (idle connections, /proc sampler)
baseline_tree=""
cleanup() {
  local pid
  for pid in "${aux_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  if [ -n "$baseline_tree" ]; then git -C "$root" worktree remove --force "$baseline_tree" 2>/dev/null || true; fi
  if [ -n "$host_pid" ]; then stop_host; fi
  if [ -n "$sim_pid" ]; then kill -TERM "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; fi
  if [ -n "${BENCH_KEEP_LOGS:-}" ]; then mkdir -p "$BENCH_KEEP_LOGS" && cp "$work"/*.log "$BENCH_KEEP_LOGS"/ 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
# The simulator and the host each hold one socket per call (thousands for the sessions benchmark), and
# the http case opens 10,000 connections: raise the hard limit where allowed (root), then the soft one.
[ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge 65536 ] || ulimit -Hn 65536 2>/dev/null || true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
bash tools/make-test-certs.sh "$work/tls"
export OPENAI_WEBHOOK_SECRET="whsec_$(openssl rand -base64 32)"
export OPENAI_API_KEY="sk-bench-$(openssl rand -hex 8)"
export SIDEBAND_SIM_API_KEY="$OPENAI_API_KEY"
number="+18005550100"

# One tenant, `bench`, owning $number, using the echo plugin, with room for every benchmark's calls.
make_tenant() {
  mkdir -p "$work/tenants/bench"
  cat >"$work/tenants/bench/tenant.json" <<EOF
{"id":"bench","name":"Bench","call_limit":100000,"numbers":["$number"],"greeting":"Hello from the bench.",
 "config":{"model":"gpt-realtime","voice":"marin","plugin":"echo.so","tool_timeout_ms":5000}}
EOF
  echo "You are the benchmark's receptionist. Call the echo tool when asked." >"$work/tenants/bench/instructions.md"
  rm -f "$work"/sideband.db*
  "${import_binary:-$build/host/sideband-host}" tenants import "$work/tenants" --db "sqlite:$work/sideband.db" >/dev/null
}

load1() { cut -d' ' -f1 /proc/loadavg; }
# One core's speed right now (SHA-256 of 1 KiB blocks for 1 s, MB/s): on a shared VM it drops under
# sustained load (the hypervisor's share), which a load average does not show.
cpu_probe() { openssl speed -seconds 1 -bytes 1024 sha256 2>/dev/null | awk '/^sha256/ { printf "%.0f", $2 / 1000 }'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
hz=$(getconf CLK_TCK)

# start_host LOGNAME [VAR=value ...]: the real binary, TLS, on a fresh port; waits for /readyz.
start_host() {
  local log=$work/$1.log
  host_log_name=$1
  shift
  host_port=$(free_port)
  env SIDEBAND_LISTEN="127.0.0.1:$host_port" \
    SIDEBAND_TLS_CERT="$work/tls/server.pem" SIDEBAND_TLS_KEY="$work/tls/server.key" \
    OPENAI_BASE_URL="https://127.0.0.1:${sim_port:-9}/v1" SIDEBAND_OPENAI_CA_FILE="$work/tls/ca.pem" \
    SIDEBAND_DB="sqlite:$work/sideband.db" SIDEBAND_PLUGIN_DIR="${plugin_dir:-$build/bench/plugins-out}" \
    SIDEBAND_STATE_DIR="$work/state" "$@" "${host_binary:-$build/host/sideband-host}" >"$log" 2>&1 &
  host_pid=$!
  for _ in $(seq 100); do
    curl -sf --cacert "$work/tls/ca.pem" "https://localhost:$host_port/readyz" >/dev/null && return 0
    kill -0 "$host_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "sideband-host did not become ready:" >&2
  tail -20 "$log" >&2
  exit 1
}
# stop_host: SIGTERM, then SIGKILL if the host has not exited 45 s later (its drain allows 30 s):
# a host that never stops is noted ($host_notes) instead of hanging the benchmark.
host_notes=()
stop_host() {
  kill -TERM "$host_pid" 2>/dev/null || true
  local waited=0
  while kill -0 "$host_pid" 2>/dev/null && [ "$waited" -lt 450 ]; do sleep 0.1; waited=$((waited + 1)); done
  if kill -0 "$host_pid" 2>/dev/null; then
    host_notes+=("the host of row $host_log_name had not exited 45 s after SIGTERM: killed")
    echo "warning: ${host_notes[-1]}" >&2
    kill -KILL "$host_pid" 2>/dev/null || true
  fi
  wait "$host_pid" 2>/dev/null || true
  host_pid=""
}

host_url() { echo "https://127.0.0.1:$host_port/api/v1/openai/webhook"; }

# The value of KEY in a "BENCH k=v k=v" line.
val() { sed -n 's/^BENCH //p' <<<"$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }

# run_wrk FILE_PREFIX CONNECTIONS [SECONDS]: wrk, 2 threads, keep-alive HTTPS; prints the BENCH line.
run_wrk() {
  local prefix=$1 connections=$2 duration=${3:-$seconds}
  wrk -t2 -c"$connections" -d"${duration}s" --timeout 10s --latency -s "$root/bench/lua/deliveries.lua" \
    "$(host_url)" -- "$prefix" >"$work/wrk.out" 2>&1 || { cat "$work/wrk.out" >&2; return 1; }
  grep '^BENCH ' "$work/wrk.out"
}

# sign KIND COUNT_PER_THREAD PREFIX: one file per wrk thread (PREFIX.1, PREFIX.2), signed now.
sign() {
  local t
  for t in 1 2; do
    "$build/bench/bench-sign-deliveries" --kind "$1" --count "$2" --to "$number" --out "$3.$t"
  done
}

ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }
header() { printf '%s\n' "$@"; }

# --- 1. webhook ---------------------------------------------------------------------------------
bench_webhook() {
  need_wrk
  build_targets sideband-host bench-sign-deliveries echo
  make_tenant
  local out=$results/webhook.md rows=() line c threads kind
  # Unique deliveries at up to ~60,000/s must not run out within the run (a wrap turns them into redeliveries).
  local unique=$((seconds * 25000 + 10000))
  run_case() { # LABEL KIND CONNECTIONS HTTP_THREADS [VAR=value...]
    local label=$1 kind=$2 c=$3 threads=$4
    shift 4
    start_host "webhook-$kind-$c" SIDEBAND_HTTP_THREADS="$threads" MAX_CONCURRENT_CALLS=100 "$@"
    local count=$unique
    [ "$kind" = dup ] && count=2000
    sign "$([ "$kind" = dup ] && echo ended || echo "$kind")" "$count" "$work/d-$kind"
    # Redeliveries: first deliver each once (not measured), so every measured one is a duplicate.
    [ "$kind" = dup ] && run_wrk "$work/d-$kind" 2 1 >/dev/null
    local load before after t0 t1
    load=$(load1)
    before=$(cpu_ticks "$host_pid")
    t0=$(date +%s.%N)
    line=$(run_wrk "$work/d-$kind" "$c")
    t1=$(date +%s.%N)
    after=$(cpu_ticks "$host_pid")
    stop_host
    local cpu # over the whole wrk process lifetime (its Lua set-up included), so a slight underestimate
    cpu=$(awk -v t=$((after - before)) -v hz="$hz" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", 100 * t / hz / (b - a) }')
    rows+=("| $label | $c | $threads | $* | $(val "$line" rps) | $(ms "$(val "$line" p50_us)") | $(ms "$(val "$line" p90_us)") | $(ms "$(val "$line" p99_us)") | $(ms "$(val "$line" max_us)") | $(val "$line" non2xx) | $(val "$line" wrapped) | ${cpu}% | $load |")
    echo "${rows[-1]}"
  }
  echo "== webhook: wrk -t2, HTTPS keep-alive, ${seconds} s per run"
  for c in 2 4 8 16 32 64; do
    run_case "valid unique (realtime.call.ended, unknown call)" ended "$c" "$c"
  done
  run_case "valid unique (realtime.call.ended, unknown call)" ended 8 8 SIDEBAND_LOG_LEVEL=warn
  run_case "valid unique (realtime.call.ended, unknown call)" ended 16 32
  run_case "deduped redelivery (same event id)" dup 8 8
  run_case "deduped redelivery (same event id)" dup 16 16
  run_case "bad signature (401)" badsig 8 8
  run_case "bad signature (401)" badsig 16 16
  {
    header "# Webhook endpoint benchmark" "" \
      "\`bash bench/run.sh webhook\` - $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), git $rev." "" \
      "wrk ${seconds} s per row, 2 wrk threads, HTTPS keep-alive over loopback, pre-signed deliveries (bench/lua/deliveries.lua)." \
      "The host is the real \`sideband-host\` binary (RelWithDebInfo), restarted for every row, logging at info to a file unless the row says otherwise." \
      "Valid unique deliveries are \`realtime.call.ended\` events for call ids the host does not know: signature check, JSON parse," \
      "dedup claim and completion, routing, the ended handler (session lookup, ledger release) and one info log line each." \
      "Redeliveries repeat 2,000 already-processed event ids per wrk thread; bad signatures are well-formed \`v1,\` signatures made with another key." \
      "non-2xx must be 0 except for bad signatures (401 each). wrapped > 0 would mean the unique set ran out (it is sized for 50,000/s)." \
      "host CPU = the host process's user+system time over the run (200% = both cores); wrk runs on the same two cores." \
      "load = 1-minute load average just before the row (the machine is shared with other builds)." "" \
      "| deliveries | connections | SIDEBAND_HTTP_THREADS | other settings | requests/s | p50 ms | p90 ms | p99 ms | max ms | non-2xx | wrapped | host CPU | load |" \
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
  } >"$out"
  echo "== written $out"
}

# --- 2. incoming ---------------------------------------------------------------------------------
# start_sim [REFUSE]: REFUSE 1 (default) refuses every sideband socket; 0 accepts and holds them
# (no script: open and quiet until the host closes them), recording no event texts.
start_sim() {
  sim_port=$(free_port)
  local refuse=${1:-1}
  "$build/bench/bench-sim" --listen "127.0.0.1:$sim_port" --tls-cert "$work/tls/server.pem" \
    --tls-key "$work/tls/server.key" --http-threads 300 --refuse-sessions "$refuse" --record-traffic "$refuse" \
    --seconds 1800 >"$work/sim.log" 2>&1 &
  sim_pid=$!
  for _ in $(seq 50); do
    grep -q listening "$work/sim.log" && return 0
    sleep 0.1
  done
  cat "$work/sim.log" >&2
  exit 1
}
stop_sim() {
  kill -TERM "$sim_pid" 2>/dev/null || true
  wait "$sim_pid" 2>/dev/null || true
  sim_pid=""
}

# Calls accepted whose sideband session has neither started nor failed yet: the session workers'
# backlog when read right after the load stops (0 means the connects kept up).
sessions_behind() {
  curl -s --max-time 5 --cacert "$work/tls/ca.pem" "https://localhost:$host_port/metrics" |
    awk '/^sideband_calls_pending_all / { print $2; found = 1 } END { if (!found) print "?" }'
}

# Two hosts: the real binary (every accepted call opens its sideband socket: a TLS handshake and a
# WebSocket upgrade that the simulator refuses), and bench-pipeline-host (the same Host whose
# accepted calls end at once: the incoming-call pipeline alone).
incoming_hosts=(whole pipeline)
incoming_binary() {
  case "$1" in
  whole) echo "$build/host/sideband-host" ;;
  pipeline) echo "$build/bench/bench-pipeline-host" ;;
  esac
}

# rate_case LOGNAME RATE CONNECTIONS: a fresh tenant and $host_binary, bench-incoming-load at RATE
# over CONNECTIONS; sets the caller's $line (the BENCH line), $behind (sessions behind) and $load.
# BENCH_SAMPLES_DIR: also keep every delivery's timing there (LOGNAME.txt, see --samples).
rate_case() {
  make_tenant
  start_host "$1" SIDEBAND_HTTP_THREADS="$3" MAX_CONCURRENT_CALLS=100000
  load=$(load1)
  line=$("$build/bench/bench-incoming-load" --url "https://localhost:$host_port/api/v1/openai/webhook" \
    --ca-file "$work/tls/ca.pem" --rate "$2" --seconds "$seconds" --warmup-seconds 3 --connections "$3" \
    --to "$number" ${BENCH_SAMPLES_DIR:+--samples "$BENCH_SAMPLES_DIR/$1.txt"} | grep '^BENCH ')
  behind=$(sessions_behind)
  stop_host
}

bench_incoming() {
  need_wrk
  build_targets sideband-host bench-pipeline-host bench-sign-deliveries bench-sim bench-incoming-load echo
  local out=$results/incoming.md rows=() rate_rows=() line c load sim mode
  start_sim
  echo "== incoming: max throughput with wrk (${seconds} s per run)"
  for mode in "${incoming_hosts[@]}"; do
    host_binary=$(incoming_binary "$mode")
    for c in 10 200; do
      make_tenant
      start_host "incoming-wrk-$mode-$c" SIDEBAND_HTTP_THREADS="$c" MAX_CONCURRENT_CALLS=100000
      sign incoming $((seconds * 2500 + 2000)) "$work/inc"
      load=$(load1)
      line=$(run_wrk "$work/inc" "$c")
      local accepted
      accepted=$(grep -c ' accepted (' "$work/incoming-wrk-$mode-$c.log" || true)
      stop_host
      rows+=("| $mode | wrk, max throughput | $c | $c | $(val "$line" rps) | $(ms "$(val "$line" p50_us)") | $(ms "$(val "$line" p90_us)") | $(ms "$(val "$line" p99_us)") | $(ms "$(val "$line" max_us)") | $(val "$line" requests) / $accepted | $(val "$line" non2xx) | $(val "$line" wrapped) | $load |")
      echo "${rows[-1]}"
    done
  done
  echo "== incoming: constant rate with bench-incoming-load ($((seconds + 3)) s, first 3 s not measured)"
  local rate behind
  for mode in "${incoming_hosts[@]}"; do
    host_binary=$(incoming_binary "$mode")
    for rate in 1000 500; do
      for c in 10 200; do
        [ "$quick" = 1 ] && [ "$rate" = 500 ] && continue
        rate_case "incoming-rate-$mode-$rate-$c" "$rate" "$c"
        rate_rows+=("| $mode | $rate | $c | $c | $(val "$line" achieved_rps) | $(val "$line" p50_ms) | $(val "$line" p90_ms) | $(val "$line" p99_ms) | $(val "$line" max_ms) | $(val "$line" service_p50_ms) / $(val "$line" service_p99_ms) | $(val "$line" accepted) / $(val "$line" sent) | $(val "$line" statuses) | $behind | $(val "$line" late) | $load |")
        echo "${rate_rows[-1]}"
      done
    done
  done
  host_binary=""
  stop_sim # not in $(...): a subshell cannot wait for the simulator to print its totals
  sim=$(sed -n 's/^bench-sim REST/REST/p' "$work/sim.log")
  {
    header "# Incoming-call benchmark" "" \
      "\`bash bench/run.sh incoming\` - $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, git $rev." "" \
      "Signed \`realtime.call.incoming\` deliveries, each a fresh call id and event id, to one tenant (call_limit 100000, echo.so plugin," \
      "SQLite store in a temp dir, MAX_CONCURRENT_CALLS=100000) over HTTPS keep-alive on loopback. The response comes after the whole" \
      "accept path: verify, parse, dedup, tenant lookup (cached for SIDEBAND_TENANT_CACHE_MS, 1 s), capacity reservation, instructions," \
      "config, plugin tool build, \`POST /v1/realtime/calls/{id}/accept\` to the simulator (HTTPS, keep-alive pool, answers 200)," \
      "call record queued for the store's writer thread, session launched." \
      "host = whole: the real \`sideband-host\` binary. Every accepted call opens its sideband socket on the session workers (TLS" \
      "handshake + WebSocket upgrade), which the simulator (bench-sim, a separate process on the same 2 cores) refuses with 403," \
      "so the call ends and frees its slot: a steady state at any rate, with each call's handshake paid on both sides." \
      "host = pipeline: \`bench-pipeline-host\`, the same Host with a launcher that ends each accepted call at once (slot released," \
      "end recorded): the incoming-call pipeline alone, without the per-call sideband connect." \
      "load = 1-minute load average before the row; the host logs at info to a file; SIDEBAND_HTTP_THREADS = connections." "" \
      "## Maximum throughput (wrk, 2 threads, ${seconds} s, pre-signed deliveries)" "" \
      "| host | load generator | connections | SIDEBAND_HTTP_THREADS | deliveries/s | p50 ms | p90 ms | p99 ms | max ms | sent / accepted (host log) | non-2xx | wrapped | load |" \
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    header "" "## Constant rate (bench-incoming-load: Poco HTTPS keep-alive clients, open loop)" "" \
      "Latency is from each delivery's scheduled send time to the end of the response (queueing behind a slow answer counts);" \
      "service = from the actual send. 'late' = deliveries sent more than 1 ms after their due time. ${seconds} s measured after 3 s of warm-up." \
      "sessions behind = \`sideband_calls_pending_all\` right after the last response: accepted calls whose sideband connect had not" \
      "happened yet (0: the session workers kept up with the rate; a large number: they fell behind, and the answers' latency alone" \
      "does not show it)." "" \
      "| host | offered calls/s | connections | SIDEBAND_HTTP_THREADS | achieved/s | p50 ms | p90 ms | p99 ms | max ms | service p50 / p99 ms | accepted / sent | HTTP statuses | sessions behind | late | load |" \
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rate_rows[@]}"
    header "" "Simulator totals over all rows: $sim"
  } >"$out"
  echo "== written $out"
}

# --- 2b. incoming, repeated -----------------------------------------------------------------------
# The p99 of one 10 s run on a shared 2-core VM depends on the machine's state as much as on the
# code: this runs the 1,000 calls/s case BENCH_REPEATS times per host and connection count, each on
# a fresh host, interleaved (so a noisy minute hits every case alike), and reports the spread.
bench_incoming_repeat() {
  build_targets sideband-host bench-pipeline-host bench-sign-deliveries bench-sim bench-incoming-load echo
  local out=$results/incoming-repeats.md rows=() line c load mode run repeats=${BENCH_REPEATS:-10} behind probe
  local rate=${BENCH_RATE:-1000} target_ms=10 cases=()
  local hosts
  read -r -a hosts <<<"${BENCH_HOSTS:-${incoming_hosts[*]}}"
  for mode in "${hosts[@]}"; do for c in 10 200; do cases+=("$mode $c"); done; done
  start_sim
  echo "== incoming, repeated: $repeats x ${seconds} s at $rate calls/s per case"
  declare -A p99s
  for run in $(seq "$repeats"); do
    for case in "${cases[@]}"; do
      read -r mode c <<<"$case"
      host_binary=$(incoming_binary "$mode")
      probe=$(cpu_probe)
      rate_case "incoming-repeat-$mode-$c-$run" "$rate" "$c"
      p99s[$case]+="$(val "$line" p99_ms) "
      rows+=("| $run | $mode | $c | $(val "$line" achieved_rps) | $(val "$line" p50_ms) | $(val "$line" p99_ms) | $(val "$line" max_ms) | $(val "$line" accepted) / $(val "$line" sent) | $behind | $load | $probe |")
      echo "${rows[-1]}"
    done
  done
  host_binary=""
  stop_sim
  local summary=() values
  for case in "${cases[@]}"; do
    read -r mode c <<<"$case"
    values=${p99s[$case]}
    summary+=("$(tr ' ' '\n' <<<"$values" | sed '/^$/d' | sort -g | awk -v m="$mode" -v c="$c" -v t="$target_ms" '
      { v[NR] = $1; if ($1 < t) under++ }
      END { printf "| %s | %d | %d | %.2f | %.2f | %.2f | %d of %d |", m, c, NR, v[1], v[int((NR + 1) / 2)], v[NR], under, NR }')")
  done
  {
    header "# Incoming-call benchmark, repeated" "" \
      "\`BENCH_HOSTS=\"${hosts[*]}\" BENCH_REPEATS=$repeats bash bench/run.sh incoming-repeat\` - $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, git $rev." "" \
      "The constant-rate case of \`bench/run.sh incoming\` ($rate calls/s, open loop, latency from each delivery's due time," \
      "3 s warm-up then ${seconds} s measured), repeated on a fresh host each time, the cases interleaved. Hosts as in incoming.md:" \
      "pipeline = bench-pipeline-host (accepted calls end at once), whole = sideband-host (each accepted call's sideband socket" \
      "is opened and refused by the simulator). load = 1-minute load average before the run; the host, the simulator and the" \
      "load generator share the $(nproc) cores. probe = one core's SHA-256 MB/s (1 KiB blocks, 1 s) just before the run: the" \
      "machine's speed at that moment." "" \
      "## p99 across runs" "" \
      "| host | connections | runs | p99 min ms | p99 median ms | p99 max ms | runs with p99 < ${target_ms} ms |" \
      "|---|---|---|---|---|---|---|"
    printf '%s\n' "${summary[@]}"
    header "" "## Every run" "" \
      "| run | host | connections | achieved/s | p50 ms | p99 ms | max ms | accepted / sent | sessions behind | load | probe MB/s |" \
      "|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
  } >"$out"
  printf '%s\n' "${summary[@]}"
  echo "== written $out"
}

# --- 3. sessions ----------------------------------------------------------------------------------
bench_sessions() {
  build_targets sideband-host bench-sessions echo
  local out=$results/sessions.md rows=() n line load window
  window=${BENCH_WINDOW:-$([ "$quick" = 1 ] && echo 2 || echo 30)}
  local counts=${BENCH_SESSIONS:-$([ "$quick" = 1 ] && echo 20 || echo "100 1000 2000")}
  echo "== sessions: N concurrent calls, a tool call every 3 s each, ${window} s window"
  for n in $counts; do
    make_tenant
    sim_port=$(free_port)
    start_host "sessions-$n" SIDEBAND_HTTP_THREADS=16 MAX_CONCURRENT_CALLS=5000
    load=$(load1)
    line=$("$build/bench/bench-sessions" --host-url "https://localhost:$host_port/api/v1/openai/webhook" \
      --ca-file "$work/tls/ca.pem" --tls-cert "$work/tls/server.pem" --tls-key "$work/tls/server.key" \
      --sim-listen "127.0.0.1:$sim_port" --host-pid "$host_pid" --calls "$n" --ramp-rate 100 \
      --window "$window" --interval-ms 3000 --to "$number" --sender-threads 8 | tee "$work/sessions-$n-driver.log" | grep '^BENCH ')
    stop_host
    rows+=("| $n | $(val "$line" accepted) | $(val "$line" held) (min $(val "$line" min_held)) | $(val "$line" idle_threads) / $(val "$line" threads) | $(val "$line" idle_rss_mib) / $(val "$line" rss_mib) | $(val "$line" per_call_kib) | $(val "$line" fds) | $(val "$line" round_trips) / $(val "$line" timeouts) | $(val "$line" rt_p50_ms) | $(val "$line" rt_p90_ms) | $(val "$line" rt_p99_ms) | $(val "$line" rt_max_ms) | $(val "$line" resumes) / $(val "$line" dead_air) / $(val "$line" refused_creates) | $(val "$line" resume_p50_ms) | $(val "$line" resume_p99_ms) | $(val "$line" after_hangup_rss_mib) | $load |")
    echo "${rows[-1]}"
  done
  {
    header "# Concurrent sessions benchmark" "" \
      "\`bash bench/run.sh sessions\` - $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, git $rev." "" \
      "The real \`sideband-host\` (child process; SIDEBAND_HTTP_THREADS=16, MAX_CONCURRENT_CALLS=5000, other settings default:" \
      "4 session workers, 8 tool threads) and the Realtime simulator in bench-sessions. Calls are placed by signed incoming webhooks" \
      "(WebhookSender, 8 sender threads, 100 calls/s ramp) to tenant \`bench\` (call_limit 100000, echo.so built with the SDK)." \
      "Each call's script: wait an offset (0-2.7 s), then repeat {function_call \`echo\`, wait 3 s}. After every socket is open and 3 s" \
      "more, round trips (simulator: first function-call event written -> function_call_output read) are collected for ${window} s" \
      "while the host's /proc/PID/status is sampled every second (peak Threads and VmRSS shown). Per-call memory =" \
      "(peak RSS - idle RSS) / calls held. Then every call is hung up abruptly and RSS is read 3 s later." \
      "load = 1-minute load average before the row." \
      "Resume (issue 12: the tool round trip as the caller feels it) = simulator: a function call's first event" \
      "(response.function_call_arguments.done) written -> the host's accepted response.create after its output read; the" \
      "simulator ends each function-call response at once (response.done right after the call item, --response-done-delay-ms 0)," \
      "and the host runs the call only on that response.done. resumes / dead air / refused = resumes measured, completed" \
      "function-call responses never followed by a response.create, response.create refused as conflicting." \
      "Issue 12's floor: resume p99 < 5 ms at 1,000 calls." "" \
      "| calls | accepted | held (min in window) | host threads idle / peak | host RSS MiB idle / peak | per-call KiB | host fds | round trips / timeouts | p50 ms | p90 ms | p99 ms | max ms | resumes / dead air / refused | resume p50 ms | resume p99 ms | RSS after hang-up MiB | load |" \
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
  } >"$out"
  echo "== written $out"
}

# --- 5. plugin isolation (issue 13) -------------------------------------------------------------
# The tool round trip with the tenant's plugin in the host (in_process) and in its own sandboxed
# runner (process), same driver and load; then the memory of 100 isolated tenants.
# children_rss PID: "count sum_kib max_kib" over PID's sideband-plugin-runner children.
children_rss() {
  local p rss count=0 sum=0 max=0
  for p in $(pgrep -P "$1" -f sideband-plugin-runner 2>/dev/null); do
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    count=$((count + 1)) sum=$((sum + rss))
    [ "$rss" -gt "$max" ] && max=$rss
  done
  echo "$count $sum $max"
}
kib_mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

bench_isolation() {
  build_targets sideband-host sideband-plugin-runner bench-sessions echo
  local out=$results/isolation.md rows=() mode line load window n sampler peak tenants i
  window=${BENCH_WINDOW:-$([ "$quick" = 1 ] && echo 2 || echo 30)}
  n=${BENCH_ISOLATION_CALLS:-$([ "$quick" = 1 ] && echo 20 || echo 1000)}
  echo "== isolation: $n calls, a tool call every 3 s each, ${window} s window, in_process then process"
  for mode in in_process process; do
    make_tenant
    sim_port=$(free_port)
    start_host "isolation-$mode" SIDEBAND_HTTP_THREADS=16 MAX_CONCURRENT_CALLS=5000 SIDEBAND_PLUGIN_ISOLATION=$mode
    load=$(load1)
    # The runner's peak RSS while the calls run (sampled every second).
    (
      peak=0
      while kill -0 "$host_pid" 2>/dev/null; do
        read -r _ _ m <<<"$(children_rss "$host_pid")"
        [ "$m" -gt "$peak" ] && peak=$m && echo "$peak" >"$work/runner-peak"
        sleep 1
      done
    ) &
    sampler=$!
    aux_pids+=("$sampler")
    echo 0 >"$work/runner-peak"
    line=$("$build/bench/bench-sessions" --host-url "https://localhost:$host_port/api/v1/openai/webhook" \
      --ca-file "$work/tls/ca.pem" --tls-cert "$work/tls/server.pem" --tls-key "$work/tls/server.key" \
      --sim-listen "127.0.0.1:$sim_port" --host-pid "$host_pid" --calls "$n" --ramp-rate 100 \
      --window "$window" --interval-ms 3000 --to "$number" --sender-threads 8 | tee "$work/isolation-$mode-driver.log" | grep '^BENCH ')
    kill "$sampler" 2>/dev/null || true
    peak=$(cat "$work/runner-peak")
    stop_host
    rows+=("| $mode | $(val "$line" held) | $(val "$line" round_trips) / $(val "$line" timeouts) | $(val "$line" rt_p50_ms) | $(val "$line" rt_p90_ms) | $(val "$line" rt_p99_ms) | $(val "$line" rt_max_ms) | $(val "$line" resume_p50_ms) | $(val "$line" resume_p99_ms) | $(val "$line" threads) | $(val "$line" rss_mib) | $([ "$mode" = process ] && kib_mib "$peak" || echo -) | $load |")
    echo "${rows[-1]}"
  done

  # 100 tenants, each with its own runner (started with the host), no calls.
  tenants=${BENCH_TENANTS:-$([ "$quick" = 1 ] && echo 5 || echo 100)}
  rm -rf "$work/tenants" && mkdir -p "$work/tenants"
  for i in $(seq 1 "$tenants"); do
    mkdir -p "$work/tenants/t$i"
    printf '{"id":"t%s","name":"T%s","numbers":["+1800556%04d"],"greeting":"Hi.","config":{"plugin":"echo.so"}}\n' \
      "$i" "$i" "$i" >"$work/tenants/t$i/tenant.json"
    echo "You are tenant $i's receptionist." >"$work/tenants/t$i/instructions.md"
  done
  rm -f "$work"/sideband.db*
  "$build/host/sideband-host" tenants import "$work/tenants" --db "sqlite:$work/sideband.db" >/dev/null
  sim_port=$(free_port)
  start_host "isolation-tenants" SIDEBAND_PLUGIN_ISOLATION=process
  for _ in $(seq 600); do # runners start in the background: wait until every one is up (60 s at most)
    [ "$(curl -s --cacert "$work/tls/ca.pem" "https://localhost:$host_port/metrics" | grep -c '^sideband_plugin_runner_up{.*} 1')" -ge "$tenants" ] && break
    sleep 0.1
  done
  sleep 2
  read -r count sum max <<<"$(children_rss "$host_pid")"
  local host_rss host_threads
  host_rss=$(awk '/^VmRSS/ {print $2}' "/proc/$host_pid/status")
  host_threads=$(awk '/^Threads/ {print $2}' "/proc/$host_pid/status")
  stop_host
  {
    header "# Plugin isolation benchmark" "" \
      "\`bash bench/run.sh isolation\` - $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, git $rev." "" \
      "## Tool round trip, in-process vs isolated" "" \
      "The real \`sideband-host\` (child process) and bench-sessions (the Realtime simulator plus a webhook sender): $n calls" \
      "to tenant \`bench\` (echo.so built with the SDK), each calling \`echo\` every 3 s, round trips collected for ${window} s." \
      "Round trip = simulator: function-call event written -> function_call_output read. Resume = the same to the host's" \
      "response.create. Same load twice: SIDEBAND_PLUGIN_ISOLATION=in_process, then =process (the tenant's plugin in its own" \
      "sandboxed sideband-plugin-runner). Issue 13's floor: isolated adds < 1 ms at p99." "" \
      "| mode | calls held | round trips / timeouts | p50 ms | p90 ms | p99 ms | max ms | resume p50 ms | resume p99 ms | host threads | host RSS MiB | runner RSS MiB (peak) | load |" \
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    header "" "## Memory of $tenants isolated tenants" "" \
      "$tenants tenants imported, each with echo.so and isolation on; the host started (it starts every enabled tenant's runner)," \
      "no calls; figures read once all $tenants runners answered (sideband_plugin_runner_up) and 2 s more." \
      "Issue 13's floor: runner memory per tenant < 10 MB RSS." "" \
      "| runners | RSS per runner MiB (mean / max) | runners total MiB | host RSS MiB | host threads | host + runners MiB |" \
      "|---|---|---|---|---|---|" \
      "| $count | $(kib_mib $((sum / (count > 0 ? count : 1)))) / $(kib_mib "$max") | $(kib_mib "$sum") | $(kib_mib "$host_rss") | $host_threads | $(kib_mib $((sum + host_rss))) |"
  } >"$out"
  cat "$out"
  echo "== written $out"
}

# --- 4. the HTTP server, side by side: deduplicated deliveries, whole calls, held calls ---------
# Issue 11's benchmark. The load comes from tools this project did not write (wrk, h2load, Node's
# fetch on an undici Agent), idle and slow connections are held open next to it
# (bench/tools/idle_conns.py), and with BENCH_BASELINE_REV every case also runs against a
# sideband-host built from that revision, interleaved, both in one table.
idle_n=${BENCH_IDLE:-16}
slow_n=${BENCH_SLOW:-4}
server_hosts=()
declare -A host_bins host_plugin_dirs host_labels

# baseline_build REV: sideband-host and echo.so at REV, built once (cmake -j$jobs, only those two
# targets) from a git worktree in a temp dir; kept in $build/baseline-SHA, the worktree removed.
baseline_build() {
  local sha dir
  sha=$(git -C "$root" rev-parse --verify "$1^{commit}")
  dir=$build/baseline-${sha:0:12}
  if [ ! -x "$dir/sideband-host" ]; then
    echo "== building sideband-host at ${sha:0:12} (the baseline) into $dir" >&2
    baseline_tree=$(mktemp -d /tmp/sideband-baseline.XXXXXX)
    git -C "$root" worktree add --detach "$baseline_tree" "$sha" >/dev/null 2>&1
    mkdir -p "$dir"
    if ! { cmake -S "$baseline_tree" -B "$dir/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
      cmake --build "$dir/build" -j"$jobs" --target sideband-host; } >"$dir/build.log" 2>&1; then
      tail -30 "$dir/build.log" >&2
      exit 1
    fi
    # Its own echo.so (built with that revision's SDK) when the revision has the target.
    if cmake --build "$dir/build" -j"$jobs" --target echo >>"$dir/build.log" 2>&1; then

      rm -rf "$dir/plugins" && cp -r "$dir/build/bench/plugins-out" "$dir/plugins"
    fi
    cp "$dir/build/host/sideband-host" "$dir/sideband-host.new" && mv "$dir/sideband-host.new" "$dir/sideband-host"
    git -C "$root" worktree remove --force "$baseline_tree"
    baseline_tree=""
    rm -rf "$dir/build"
  fi
  host_bins[baseline]=$dir/sideband-host
  host_plugin_dirs[baseline]=$dir/plugins
  [ -d "$dir/plugins" ] || host_plugin_dirs[baseline]=$build/bench/plugins-out
  host_labels[baseline]="baseline ${sha:0:7}"
}

# The hosts every server case runs against: BENCH_SERVER_HOSTS (current, baseline), by default
# "baseline current" with BENCH_BASELINE_REV and "current" without. current = this tree's build
# (labelled "+wip" when host/, sdk/ or tools/ differ from HEAD).
prepare_server_hosts() {
  need_packages wrk:wrk h2load:nghttp2-client node:nodejs npm:npm
  local names=${BENCH_SERVER_HOSTS:-} targets=(bench-sign-deliveries bench-sim echo) name wip=""
  [ -n "$names" ] || names=$([ -n "${BENCH_BASELINE_REV:-}" ] && echo "baseline current" || echo current)
  read -r -a server_hosts <<<"$names"
  git -C "$root" diff --quiet HEAD -- host sdk tools CMakeLists.txt cmake 2>/dev/null || wip="+wip"
  for name in "${server_hosts[@]}"; do
    case "$name" in
    current)
      targets+=(sideband-host)
      host_bins[current]=$build/host/sideband-host
      host_plugin_dirs[current]=$build/bench/plugins-out
      host_labels[current]="current $rev$wip"
      ;;
    baseline) [ -n "${BENCH_BASELINE_REV:-}" ] || { echo "BENCH_SERVER_HOSTS names baseline: set BENCH_BASELINE_REV" >&2; exit 64; } ;;
    *) echo "BENCH_SERVER_HOSTS: unknown host $name (current, baseline)" >&2; exit 64 ;;
    esac
  done
  build_targets "${targets[@]}"
  for name in "${server_hosts[@]}"; do [ "$name" = baseline ] && baseline_build "$BENCH_BASELINE_REV"; done
  return 0
}
# row_hosts N: the hosts in order for row N, alternating (a noisy minute does not always hit the same one).
row_hosts() {
  if [ $(($1 % 2)) = 0 ]; then printf '%s\n' "${server_hosts[@]}"; else printf '%s\n' "${server_hosts[@]}" | tac; fi
}
use_host() {
  host_binary=${host_bins[$1]}
  import_binary=$host_binary
  plugin_dir=${host_plugin_dirs[$1]}
}

# start_server_host NAME LOGNAME [VAR=value ...]: a fresh tenant and host NAME (metrics on their own
# plain-HTTP listener, so reading them never queues behind the load), then the idle and slow
# connections and a /proc sampler (Threads, VmRSS every 0.5 s).
start_server_host() {
  use_host "$1"
  make_tenant
  metrics_port=$(free_port)
  start_host "$2" SIDEBAND_METRICS_LISTEN="127.0.0.1:$metrics_port" "${@:3}"
}
start_helpers() {
  idle_line="-"
  if [ "$idle_n" -gt 0 ] || [ "$slow_n" -gt 0 ]; then
    python3 "$root/bench/tools/idle_conns.py" --port "$host_port" --idle "$idle_n" --slow "$slow_n" \
      --ca-file "$work/tls/ca.pem" --seconds 900 >"$work/idle.out" 2>&1 &
    idle_pid=$!
    aux_pids+=("$idle_pid")
    for _ in $(seq 100); do grep -q '^ready' "$work/idle.out" && break; sleep 0.1; done
  fi
  local pid=$host_pid
  (while [ -r "/proc/$pid/status" ]; do
    awk '/^Threads:/ { t = $2 } /^VmRSS:/ { r = $2 } END { if (t) print t, r }' "/proc/$pid/status" 2>/dev/null
    sleep 0.5
  done) >"$work/proc.samples" &
  sampler_pid=$!
  aux_pids+=("$sampler_pid")
}
# stop_helpers: sets $idle_line (the helper's BENCH line) and $peak ("threads rss_mib", peak).
stop_helpers() {
  kill "$sampler_pid" 2>/dev/null || true
  wait "$sampler_pid" 2>/dev/null || true
  peak=$(awk '$1 > t { t = $1 } $2 > r { r = $2 } END { printf "%d %.1f", t, r / 1024 }' "$work/proc.samples")
  if [ "$idle_n" -gt 0 ] || [ "$slow_n" -gt 0 ]; then
    kill -TERM "$idle_pid" 2>/dev/null || true
    wait "$idle_pid" 2>/dev/null || true
    idle_line=$(grep '^BENCH ' "$work/idle.out" || echo "BENCH helper=failed")
  fi
  aux_pids=()
}
# "idle open/N, slow open/M, closed by the host" for a table cell.
idle_cell() {
  [ "$idle_line" = "-" ] && { echo "none"; return; }
  echo "$(val "$idle_line" idle_open)/$idle_n, $(val "$idle_line" slow_open)/$slow_n (closed $(val "$idle_line" idle_closed) / $(val "$idle_line" slow_closed))"
}
# The host's metrics, or nothing when they do not answer within 10 s (a stalled host must not end the run).
metrics_text() { curl -s --max-time 10 "http://127.0.0.1:$metrics_port/metrics" || true; }
metric_value() { metrics_text | awk -v name="$1" '$1 == name { print $2; found = 1 } END { if (!found) print "?" }'; }
# "DEDUPED OTHER": sideband_webhooks_total summed over outcome="deduped" and over every other outcome
# ("? ?" when the metrics do not answer).
webhook_outcomes() {
  metrics_text | awk '/^sideband_webhooks_total\{/ { if ($0 ~ /outcome="deduped"/) d += $NF; else o += $NF; n++ }
    END { if (n) printf "%d %d", d, o; else printf "? ?" }'
}
# histogram_bounds BEFORE_FILE AFTER_FILE NAME FILTER: "p50 / p99 / max" in ms of the histogram NAME's
# observations between two scrapes, series whose labels contain FILTER, each as the upper bound of its
# bucket ("<= 50"): what the server itself measured, without the load generator's own queueing.
histogram_bounds() {
  python3 - "$@" <<'PY'
import re, sys
before, after, name, flt = sys.argv[1:5]
def buckets(path):
    out = {}
    for line in open(path):
        m = re.match(r'^' + re.escape(name) + r'_bucket\{(.*)\} (\S+)$', line.strip())
        if not m or flt not in m.group(1): continue
        le = re.search(r'le="([^"]+)"', m.group(1)).group(1)
        bound = float('inf') if le == '+Inf' else float(le)
        out[bound] = out.get(bound, 0) + float(m.group(2))
    return out
b, a = buckets(before), buckets(after)
delta = sorted((k, a[k] - b.get(k, 0)) for k in a)
total = delta[-1][1] if delta else 0
def q(p):
    for bound, count in delta:
        if count >= p * total: return "<= %g" % (bound * 1000) if bound != float('inf') else "> %g" % (delta[-2][0] * 1000)
    return "?"
print("?" if not total else "%s / %s / %s" % (q(0.5), q(0.99), q(1.0)))
PY
}
# diff_cell BEFORE AFTER: AFTER - BEFORE, or "?" when either is unknown.
diff_cell() { if [ "$1" = "?" ] || [ "$2" = "?" ]; then echo "?"; else echo $(($2 - $1)); fi; }
cpu_share() { # TICKS_BEFORE TICKS_AFTER T0 T1 -> host CPU in % of one core
  awk -v t=$(($2 - $1)) -v hz="$hz" -v a="$3" -v b="$4" 'BEGIN { printf "%.0f", 100 * t / hz / (b - a) }'
}

# deliver_line FILE: POSTs the delivery in FILE (bench-sign-deliveries format) once with curl; prints the body.
deliver_line() {
  local id ts sig body
  IFS=$'\t' read -r id ts sig body <"$1"
  curl -s --max-time 15 --cacert "$work/tls/ca.pem" -H "content-type: application/json" -H "webhook-id: $id" \
    -H "webhook-timestamp: $ts" -H "webhook-signature: $sig" --data-binary "$body" \
    "https://localhost:$host_port/api/v1/openai/webhook"
}

# run_h2load FILE CONNECTIONS: h2load --h1, 2 threads, one request at a time per connection, the
# delivery in FILE sent $h2load_requests times in all (split over the connections); per-request
# latencies from its --log-file. Prints a BENCH line. A count, not -D: in timing mode h2load does not
# stop while a connection waits for a TLS handshake that a thread-per-connection server never starts
# (seen with 9c01c6d: 2 s runs still going after 6 minutes). -N 10: a connection that sees nothing for
# 10 s is dropped (as wrk's --timeout 10s). Killed after $seconds + 170 s (the row then says so).

run_h2load() {
  local id ts sig body
  IFS=$'\t' read -r id ts sig body <"$1"
  printf '%s' "$body" >"$work/h2load.body"
  rm -f "$work/h2load.log"
  local n=$((h2load_requests > $2 ? h2load_requests : $2))
  timeout $((seconds + 170)) h2load --h1 -t2 -c"$2" -m1 -N 10 -n "$n" -d "$work/h2load.body" -H "content-type: application/json" \
    -H "webhook-id: $id" -H "webhook-timestamp: $ts" -H "webhook-signature: $sig" \
    --log-file="$work/h2load.log" "$(host_url)" >"$work/h2load.out" 2>&1 || {
    echo "BENCH requests=0 rps=killed_after_$((seconds + 170))s p50_us=0 p99_us=0 max_us=0 non2xx=? failed=? errored=? timeouts=?"
    return 0
  }
  local rps requests statuses
  rps=$(sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' "$work/h2load.out")
  requests=$(sed -n 's/^requests: //p' "$work/h2load.out")   # N total, N started, N done, N succeeded, N failed, N errored, N timeout
  statuses=$(sed -n 's/^status codes: //p' "$work/h2load.out") # N 2xx, N 3xx, N 4xx, N 5xx
  local lat
  lat=$(cut -f3 "$work/h2load.log" 2>/dev/null | sort -n | awk '{ v[NR] = $1 } END {
      if (!NR) { print "0 0 0"; exit }
      i50 = int(0.50 * (NR - 1) + 1.5); i99 = int(0.99 * (NR - 1) + 1.5); if (i99 > NR) i99 = NR
      print v[i50], v[i99], v[NR] }')
  read -r p50 p99 max <<<"$lat"
  awk -v rps="$rps" -v req="$requests" -v st="$statuses" -v p50="$p50" -v p99="$p99" -v max="$max" 'BEGIN {
    split(req, r, /, /); split(st, s, /, /)
    printf "BENCH requests=%d rps=%s p50_us=%d p99_us=%d max_us=%d non2xx=%d failed=%d errored=%d timeouts=%d\n",
      r[4] + 0, rps, p50, p99, max, s[2] + s[3] + s[4], r[5] + 0, r[6] + 0, r[7] + 0 }'
}

# --- 4a. deduplicated deliveries (wrk, h2load) ---
bench_http() {
  prepare_server_hosts
  local out=$results/http.md rows=() tool c name n=0 line load before after t0 t1 cpu answer errors
  local outcomes0 outcomes1 other0 other1
  host_notes=()
  local conns=${BENCH_CONNECTIONS:-$([ "$quick" = 1 ] && echo "32 1000" || echo "32 1000 10000")}
  h2load_requests=${BENCH_H2LOAD_REQUESTS:-$((seconds * 20000))}

  start_sim
  echo "== http: one deduplicated delivery repeated, wrk and h2load --h1 (-t2), ${seconds} s per run, $idle_n idle + $slow_n slow connections"
  for tool in wrk h2load; do
    for c in $conns; do
      for name in $(row_hosts $((n++))); do
        start_server_host "$name" "http-$tool-$c-$name" MAX_CONCURRENT_CALLS=100000
        # One realtime.call.incoming, processed once (the call is accepted), then every repeat is deduped.
        sign incoming 1 "$work/dup"
        answer=$(deliver_line "$work/dup.1")
        [[ "$answer" == *'"accepted":true'* ]] || { echo "first delivery not accepted: $answer" >&2; exit 1; }
        answer=$(deliver_line "$work/dup.1")
        [ "$answer" = '{"ok":true,"deduped":true}' ] || { echo "repeat not deduped: $answer" >&2; exit 1; }
        cp "$work/dup.1" "$work/dup.2"
        start_helpers
        load=$(load1)
        read -r outcomes0 other0 <<<"$(webhook_outcomes)"
        before=$(cpu_ticks "$host_pid")
        t0=$(date +%s.%N)
        if [ "$tool" = wrk ]; then line=$(run_wrk "$work/dup" "$c"); else line=$(run_h2load "$work/dup.1" "$c"); fi
        t1=$(date +%s.%N)
        after=$(cpu_ticks "$host_pid")
        read -r outcomes1 other1 <<<"$(webhook_outcomes)"
        stop_helpers
        stop_host
        cpu=$(cpu_share "$before" "$after" "$t0" "$t1")
        if [ "$tool" = wrk ]; then
          errors="connect $(val "$line" connect_errors), read $(val "$line" read_errors), write $(val "$line" write_errors), timeout $(val "$line" timeouts)"
        else
          errors="failed $(val "$line" failed), errored $(val "$line" errored), timeout $(val "$line" timeouts)"
        fi
        rows+=("| $tool | $c | ${host_labels[$name]} | $(val "$line" rps) | $(ms "$(val "$line" p50_us)") | $(ms "$(val "$line" p99_us)") | $(ms "$(val "$line" max_us)") | $(val "$line" requests) | $(diff_cell "$outcomes0" "$outcomes1") / $(diff_cell "$other0" "$other1") | $(val "$line" non2xx) | $errors | ${peak% *} | ${peak#* } | ${cpu}% | $(idle_cell) | $load |")
        echo "${rows[-1]}"
      done
    done
  done
  stop_sim
  {
    header "# Deduplicated deliveries: wrk and h2load" "" \
      "\`$(server_cmd http)\` - $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, ${seconds} s per run, hosts: $(for h in "${server_hosts[@]}"; do printf '%s; ' "${host_labels[$h]}"; done)" "" \
      "One validly signed \`realtime.call.incoming\` delivery, processed once before the run (the call is accepted through bench-sim)," \
      "then repeated (wrk: for ${seconds} s; h2load: ${h2load_requests} requests): every repeat must answer 200 \`{\"ok\":true,\"deduped\":true}\` (checked with curl before the run)." \
      "wrk: 2 threads, HTTPS keep-alive, bench/lua/deliveries.lua, \`--timeout 10s\`. h2load: \`--h1 -t2 -m1 -N 10 -n ${h2load_requests}\` (a count: see run_h2load), latencies from its \`--log-file\`." \
      "Each row is a fresh host with default settings (SIDEBAND_HTTP_THREADS 32) plus MAX_CONCURRENT_CALLS=100000 and /metrics on its own listener;" \
      "the hosts of a connection count run one after the other, their order alternating." \
      "answered = responses the tool counted; deduped / other = the host's \`sideband_webhooks_total\` over the run, outcome=\"deduped\"" \
      "and every other outcome (0 when every answer was the deduped one; deduped may exceed answered by the requests in flight at the end)." \
      "Next to the load, bench/tools/idle_conns.py holds $idle_n idle TCP connections (no byte sent) and $slow_n slow ones (TLS, then a" \
      "request head one byte per second), reopening what the host closes: the cell shows how many were open at the end and how many" \
      "the host had closed. threads / RSS = the host's peak \`Threads\` / \`VmRSS\` (/proc, every 0.5 s); host CPU = its user+system" \
      "time over the run (200% = both cores, shared with the load generator and the simulator). load = 1-minute load average before the row." "" \
      "Issue 11's floor for the new server: >= 30,000 deduplicated deliveries/s at 1,000 connections." "" \
      "| tool | connections | host | deliveries/s | p50 ms | p99 ms | max ms | answered | deduped / other (host) | non-2xx | errors | host threads | host RSS MiB | host CPU | idle, slow open (closed by host) | load |" \
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    notes
  } >"$out"
  echo "== written $out"
}
# notes: the hosts that had to be killed, under the table.
notes() {
  [ ${#host_notes[@]} -eq 0 ] || header "" "Notes:" "${host_notes[@]/#/- }"
}

# server_cmd CASE: the command that made a report, with the BENCH_ variables that were set.
server_cmd() {
  local v out=""
  for v in BENCH_BASELINE_REV BENCH_SERVER_HOSTS BENCH_IDLE BENCH_SLOW BENCH_SECONDS BENCH_CONNECTIONS \
    BENCH_H2LOAD_REQUESTS BENCH_CONCURRENCY BENCH_HELD; do
    [ -z "${!v:-}" ] || out+="$v=${!v} "
  done
  echo "${out}bash bench/run.sh $1"
}

# Node's fetch (undici) driver, installed from bench/node/package-lock.json when missing.
need_node_driver() {
  [ -d "$root/bench/node/node_modules/undici" ] && return
  (cd "$root/bench/node" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}
node_driver() {
  node "$root/bench/node/calls.mjs" --url "https://127.0.0.1:$host_port/api/v1/openai/webhook" \
    --ca-file "$work/tls/ca.pem" --to "$number" "$@"
}

# --- 4b. whole calls (Node's fetch) ---
bench_calls() {
  prepare_server_hosts
  need_node_driver
  local out=$results/calls.md rows=() c pool name n=0 line load before after t0 t1 cpu left served passes
  host_notes=()
  local concurrencies=${BENCH_CONCURRENCY:-$([ "$quick" = 1 ] && echo 32 || echo "32 256")}
  start_sim 0
  echo "== calls: whole calls (incoming -> accepted -> ended) with Node's fetch, 2 s warm-up + ${seconds} s, $idle_n idle + $slow_n slow connections"
  for c in $concurrencies; do
    pool=$((c * 2 > 64 ? c * 2 : 64))
    for name in $(row_hosts $((n++))); do
      start_server_host "$name" "calls-$c-$name" MAX_CONCURRENT_CALLS=100000
      start_helpers
      load=$(load1)
      metrics_text >"$work/metrics.before"
      before=$(cpu_ticks "$host_pid")
      t0=$(date +%s.%N)
      line=$(node_driver --mode whole --concurrency "$c" --connections "$pool" --seconds "$seconds" --warmup-seconds 2 | grep '^BENCH ' || true)
      t1=$(date +%s.%N)
      after=$(cpu_ticks "$host_pid")
      sleep 3 # then: calls still active (their session open) or pending (session not started) 3 s after the last answer
      left="$(metric_value sideband_calls_active_all) / $(metric_value sideband_calls_pending_all)"
      metrics_text >"$work/metrics.after"
      served=$(histogram_bounds "$work/metrics.before" "$work/metrics.after" sideband_webhook_duration_seconds 'type="realtime.call.incoming"')
      passes=$(histogram_bounds "$work/metrics.before" "$work/metrics.after" sideband_event_loop_iteration_seconds 'loop="io-')
      stop_helpers
      stop_host
      cpu=$(cpu_share "$before" "$after" "$t0" "$t1")
      rows+=("| $c | $pool | ${host_labels[$name]} | $(val "$line" calls_per_s) | $(val "$line" accept_p50_ms) | $(val "$line" accept_p99_ms) | $(val "$line" accept_max_ms) | $served | $passes | $(val "$line" client_loop_delay_p99_ms) / $(val "$line" client_loop_delay_max_ms) | $(val "$line" completed) / $(val "$line" started) | $(val "$line" not_accepted) | $(val "$line" incoming_statuses) | $(val "$line" ended_statuses) | $(val "$line" errors) | $left | ${peak% *} | ${peak#* } | ${cpu}% | $(idle_cell) | $load |")
      echo "${rows[-1]}"
    done
  done
  stop_sim
  local sim
  sim=$(sed -n 's/^bench-sim REST/REST/p' "$work/sim.log")
  {
    header "# Whole calls: Node's fetch" "" \
      "\`$(server_cmd calls)\` - $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, hosts: $(for h in "${server_hosts[@]}"; do printf '%s; ' "${host_labels[$h]}"; done)" "" \
      "bench/node/calls.mjs: Node $(node --version)'s fetch (undici $(node -p "require('$root/bench/node/node_modules/undici/package.json').version")) on an undici Agent of \`pool\` connections" \
      "(more than the host's 32 HTTP workers). \`concurrency\` loops each send a signed \`realtime.call.incoming\` with a fresh call id," \
      "and when the host answers \`\"accepted\":true\` (after its POST .../accept to bench-sim) a signed \`realtime.call.ended\` for that call." \
      "bench-sim accepts every sideband socket and holds it open until the host closes it, so each accepted call is a whole call:" \
      "accept, sideband session (TLS + WebSocket upgrade), ended webhook, session closed, slot freed." \
      "2 s warm-up, then ${seconds} s measured. whole calls/s = calls whose ended delivery answered 200 within the window, per second;" \
      "accept latency = the round trip (send to last byte, or to the 30 s time-out) of every incoming delivery answered after the" \
      "warm-up, also one sent during it (a stall across the window start counts). started = incoming deliveries sent in the window," \
      "completed = ended deliveries answered 200 in it; time-outs and connection errors are under errors." \
      "left = \`sideband_calls_active_all\` / \`sideband_calls_pending_all\` 3 s after the last answer (calls whose session is still open / never started)." \
      "Each row is a fresh host with default settings plus MAX_CONCURRENT_CALLS=100000 and /metrics on its own listener;" \
      "idle and slow connections, threads, RSS, CPU and load as in http.md." "" \
      "host-side accept ms = the same deliveries as the host timed them (\`sideband_webhook_duration_seconds{type=\"realtime.call.incoming\"}\`," \
      "from request complete to answer written, the accept REST call included), p50 / p99 / max as histogram bucket bounds:" \
      "the client's figures minus the time requests and answers waited outside the host's handling (in the client, the kernel's queues)." \
      "host loop pass ms = how long the host's I/O loops' passes took over the row (\`sideband_event_loop_iteration_seconds\`, all loops," \
      "p50 / p99 / max as bucket bounds): a request that arrives during a pass waits for it to end." \
      "driver loop delay ms = Node's own event-loop delay over the window (\`perf_hooks.monitorEventLoopDelay\`, 1 ms resolution), p99 / max:" \
      "an answer that reached the driver while its loop was busy or not scheduled is timed late by up to this much." \
      "" "Issue 11's floor for the new server: max accept latency < 100 ms in every run." "" \
      "| concurrency | pool | host | whole calls/s | accept p50 ms | accept p99 ms | accept max ms | host-side accept p50 / p99 / max ms | host loop pass p50 / p99 / max ms | driver loop delay p99 / max ms | completed / started | not accepted | incoming statuses | ended statuses | errors | left active / pending | host threads | host RSS MiB | host CPU | idle, slow open (closed by host) | load |" \
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    header "" "Simulator totals over all rows: $sim"
    notes
  } >"$out"
  echo "== written $out"
}

# --- 4c. held calls ---
bench_held() {
  prepare_server_hosts
  need_node_driver
  local out=$results/held.md rows=() name n=0 line load calls=${BENCH_HELD:-$([ "$quick" = 1 ] && echo 200 || echo 2000)}
  host_notes=()
  start_sim 0
  echo "== held: $calls calls placed at concurrency 32 (Node's fetch) and held open, $idle_n idle + $slow_n slow connections"
  for name in $(row_hosts 0); do
    start_server_host "$name" "held-$name" MAX_CONCURRENT_CALLS=$((calls + 1000))
    start_helpers
    load=$(load1)
    line=$(node_driver --mode hold --calls "$calls" --concurrency 32 --connections 64 --host-pid "$host_pid" \
      --metrics-url "http://127.0.0.1:$metrics_port/metrics" | grep '^BENCH ' || true)
    stop_helpers
    stop_host
    rows+=("| $calls | ${host_labels[$name]} | $(val "$line" accepted) | $(val "$line" held) | $(val "$line" idle_threads) / **$(val "$line" threads)** | $(val "$line" idle_rss_mib) / **$(val "$line" rss_mib)** | $(val "$line" idle_anon_mib) / $(val "$line" anon_mib) | $(val "$line" idle_file_mib) / $(val "$line" file_mib) | $(val "$line" fds) | $(val "$line" accept_p50_ms) / $(val "$line" accept_p99_ms) / $(val "$line" accept_max_ms) | $(val "$line" place_s) | $(val "$line" ended_ok) | $(val "$line" left_active) | $(val "$line" after_threads) / $(val "$line" after_rss_mib) | $(val "$line" errors) | $(idle_cell) | $load |")
    echo "${rows[-1]}"
  done
  stop_sim
  {
    header "# Held calls: threads and memory" "" \
      "\`$(server_cmd held)\` - $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, hosts: $(for h in "${server_hosts[@]}"; do printf '%s; ' "${host_labels[$h]}"; done)" "" \
      "bench/node/calls.mjs --mode hold: $calls signed \`realtime.call.incoming\` deliveries (fresh call ids) at concurrency 32 on an" \
      "undici Agent of 64 connections; bench-sim accepts each call's sideband socket and holds it open. Once the host's metrics show" \
      "every accepted call active (\`sideband_calls_active_all\`, pending 0; at most 60 s), the host's /proc/PID/status is read five" \
      "times a second apart: peak \`Threads\` and \`VmRSS\`, and VmRSS's two parts: \`RssAnon\` (the heap and stacks) and \`RssFile\`" \
      "(pages of the mapped libraries and binary) (idle = before the first call, with the idle and slow connections already open)." \
      "Then every call is ended with a signed \`realtime.call.ended\` and, once none is active (at most 30 s) and the host's sweep has" \
      "given the heap's freed pages back (\`sideband_heap_trims_total\` grew; at most 15 s), threads and RSS are read again." \
      "A fresh host per row: default settings plus MAX_CONCURRENT_CALLS=$((calls + 1000)) and /metrics on its own listener;" \
      "idle and slow connections as in http.md." "" \
      "Issue 11's floor for the new server: 2,000 calls held with <= 32 threads and < 60 MB RSS." "" \
      "| calls | host | accepted | held (active) | threads idle / held | RSS MiB idle / held | anonymous MiB idle / held | files MiB idle / held | fds | accept p50 / p99 / max ms | placing s | ended 200 | left active | threads / RSS MiB after ending | errors | idle, slow open (closed by host) | load |" \
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    notes
  } >"$out"

  echo "== written $out"
}

# --- 6. a fleet: the cost of shared state (issue 14) ---
# Rows, interleaved per repeat: one replica with the in-memory ledger; one replica with the Redis
# ledger and dedup; three replicas with Redis behind haproxy (TCP, TLS passed through, /readyz checks).
# All share one Redis (tests/servers/redis.sh) and one SQLite store; Node's fetch drives whole calls.
redis_commands() { redis-cli -p "$1" info stats | awk -F: '/^total_commands_processed/ { print $2 + 0 }'; }
# start_balancer PORT...: haproxy in front of the replicas on PORTs; sets $lb_port and $lb_pid.
start_balancer() {
  local servers="" i=0 port
  lb_port=$(free_port)
  for port in "$@"; do servers+="    server r$((i++)) 127.0.0.1:$port"$'\n'; done
  cat >"$work/haproxy.cfg" <<EOF
global
    maxconn 8000
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend webhooks
    bind 127.0.0.1:$lb_port
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server check check-ssl verify none inter 1s fall 2 rise 1
$servers
EOF
  haproxy -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
  lb_pid=$!
  aux_pids+=("$lb_pid")
  sleep 2 # the first health checks pass
}
bench_fleet() {
  need_packages haproxy:haproxy redis-server:redis-server redis-cli:redis-tools node:nodejs npm:npm
  need_node_driver
  build_targets sideband-host bench-sim echo
  plugin_dir=$build/bench/plugins-out
  make_tenant
  local out=$results/fleet.md rows=() c=${BENCH_CONCURRENCY:-32} pool repeats=${BENCH_REPEATS:-2}
  local run layout line replicas ledger redis_url redis_port before after calls deliveries load per_call i pids ports
  pool=$((c * 2 > 64 ? c * 2 : 64))
  redis_url=$(bash "$root/tests/servers/redis.sh" start "$work/redis")
  redis_port=${redis_url##*:}
  start_sim 0
  echo "== fleet: whole calls at concurrency $c (Node's fetch, pool $pool), ${seconds} s per row, $repeats repeats"
  for run in $(seq "$repeats"); do
    for layout in memory-1 redis-1 redis-3; do
      replicas=${layout#*-} ledger=memory
      [ "${layout%-*}" = redis ] && ledger=$redis_url
      pids=() ports=()
      for i in $(seq "$replicas"); do
        start_host "fleet-$layout-$run-$i" MAX_CONCURRENT_CALLS=100000 SIDEBAND_LEDGER="$ledger" \
          SIDEBAND_REDIS_PREFIX="bench$run$layout:" SIDEBAND_REPLICA_ID="r$i" SIDEBAND_LOG_LEVEL=warn
        pids+=("$host_pid") ports+=("$host_port")
      done
      host_pid=""
      [ "$replicas" -gt 1 ] && { start_balancer "${ports[@]}"; host_port=$lb_port; }
      load=$(load1)
      before=$(redis_commands "$redis_port")
      line=$(node_driver --mode whole --concurrency "$c" --connections "$pool" --seconds "$seconds" --warmup-seconds 2 | grep '^BENCH ' || true)
      after=$(redis_commands "$redis_port")
      if [ "$replicas" -gt 1 ]; then
        kill "$lb_pid" 2>/dev/null || true
        wait "$lb_pid" 2>/dev/null || true
        aux_pids=()
      fi
      for i in "${!pids[@]}"; do host_pid=${pids[$i]} host_log_name="fleet-$layout-$run-$i"; stop_host; done
      calls=$(val "$line" completed)
      deliveries=$(($(val "$line" started) + ${calls:-0}))
      per_call="-"
      [ "$ledger" != memory ] && per_call=$(awk -v a="$before" -v b="$after" -v n="$(val "$line" started)" 'BEGIN { if (n > 0) printf "%.1f", (b - a) / n; else print "?" }')
      rows+=("| $run | $replicas | ${ledger%%:*} | $(val "$line" calls_per_s) | $(awk -v d="$deliveries" -v s="$seconds" 'BEGIN { printf "%.0f", d / s }') | $(val "$line" accept_p50_ms) | $(val "$line" accept_p99_ms) | $(val "$line" accept_max_ms) | $calls / $(val "$line" started) | $(val "$line" not_accepted) | $(val "$line" errors) | $per_call | $load |")
      echo "${rows[-1]}"
    done
  done
  # Round trips: one replica, calls one at a time for 2 s, Redis MONITOR counting the commands clients
  # sent (a script's own commands are marked "lua" and not counted). Separate from the rows: MONITOR slows Redis.
  local trips
  start_host "fleet-trips" SIDEBAND_LEDGER="$redis_url" SIDEBAND_REDIS_PREFIX="benchtrips:" SIDEBAND_LOG_LEVEL=warn
  timeout 10 redis-cli -p "$redis_port" monitor >"$work/monitor.txt" 2>/dev/null &
  local monitor_pid=$!
  sleep 0.5
  line=$(node_driver --mode whole --concurrency 1 --connections 2 --seconds 2 --warmup-seconds 0 | grep '^BENCH ' || true)
  sleep 0.5
  kill "$monitor_pid" 2>/dev/null || true
  wait "$monitor_pid" 2>/dev/null || true
  stop_host
  trips=$(grep -v 'lua]' "$work/monitor.txt" | grep -c '^[0-9]' || true)
  local per_op
  per_op=$(grep -v 'lua]' "$work/monitor.txt" | awk '/^[0-9]/ { print $4 }' | sort | uniq -c | awk '{ printf "%s%s %s", sep, $1, $2; sep = ", " }')
  trips=$(awk -v t="$trips" -v n="$(val "$line" completed)" 'BEGIN { if (n > 0) printf "%.1f", t / n; else print "?" }')
  echo "round trips per whole call: $trips ($per_op over $(val "$line" completed) calls)"
  stop_sim
  bash "$root/tests/servers/redis.sh" stop "$work/redis" >/dev/null 2>&1 || true
  {
    header "# A fleet: the cost of shared state" "" \
      "\`$(server_cmd fleet)\` - $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $rev" "" \
      "bench/node/calls.mjs --mode whole (as in calls.md): concurrency $c on an undici Agent of $pool connections, 2 s warm-up then ${seconds} s;" \
      "each call is a signed \`realtime.call.incoming\` (accepted: POST .../accept to bench-sim, sideband session) and a signed \`realtime.call.ended\`." \
      "Rows: one replica with the in-memory ledger and dedup; one replica with SIDEBAND_LEDGER=redis://... (ledger, webhook ids and" \
      "call-end bus in one local redis-server); three replicas on this machine behind haproxy $(haproxy -v 2>/dev/null | head -1 | awk '{print $3}')" \
      "(TCP, TLS passed through, round robin, /readyz checked), all with Redis. Every replica: default settings, MAX_CONCURRENT_CALLS=100000," \
      "warn logs, one SQLite store shared by all. The rows of one repeat run back to back, so a noisy minute hits them alike." "" \
      "deliveries/s = incoming + ended deliveries answered per second. Redis commands per call = Redis's total_commands_processed" \
      "over the row (the commands inside the Lua scripts, heartbeats and pings included) / incoming deliveries sent." "" \
      "Client round trips to Redis per whole call (one replica, calls one at a time for 2 s, counted with MONITOR): **$trips**" \
      "($per_op in all)." "" \
      "| repeat | replicas | ledger | whole calls/s | deliveries/s | accept p50 ms | accept p99 ms | accept max ms | completed / started | not accepted | errors | Redis commands per call | load |" \
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    notes
  } >"$out"
  echo "== written $out"
}

case "$what" in
webhook) bench_webhook ;;
incoming) bench_incoming ;;
incoming-repeat) bench_incoming_repeat ;;
sessions) bench_sessions ;;
isolation) bench_isolation ;;
http) bench_http ;;
calls) bench_calls ;;
held) bench_held ;;
server) bench_http && bench_calls && bench_held ;;
fleet) bench_fleet ;;
all) bench_webhook && bench_incoming && bench_sessions && bench_http && bench_calls && bench_held ;;
esac
