#!/usr/bin/env bash
# Builds and runs the libFuzzer targets (tests/fuzz, docs/fuzzing.md).
#   tools/fuzz.sh [TARGET|all] [SECONDS]     default: all, 60 seconds per target
# Builds in build-fuzz with clang (-DSIDEBAND_FUZZ=ON). Each target runs on a copy of its seed
# corpus (tests/fuzz/corpus/<target>/); new inputs and findings go to a scratch directory
# (SIDEBAND_FUZZ_WORK, default build-fuzz/fuzz-runs/<target>), never into the repo.
# Exits non-zero on any crash, leak, timeout or out-of-memory, printing the kept input's path.
# SIDEBAND_FUZZ_KEEP=1 resumes from the scratch corpus of an earlier run instead of the seeds alone.
# SIDEBAND_FUZZ_FLAGS adds libFuzzer flags (e.g. "-detect_leaks=0" to get past a known leak, with
# ASAN_OPTIONS=detect_leaks=0; "-jobs=2" ...).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
what=${1:-all}
seconds=${2:-60}
jobs=${SIDEBAND_JOBS:-2}
build=${SIDEBAND_FUZZ_BUILD:-build-fuzz}
case "$build" in /*) build_dir=$build ;; *) build_dir=$root/$build ;; esac # SIDEBAND_FUZZ_BUILD may be absolute
targets_all=(fuzz_webhook_signature fuzz_webhook_event fuzz_sip_headers fuzz_tenant_config fuzz_http_front_door
  fuzz_realtime_session fuzz_websocket_frames fuzz_plugin_tool_result)
# The allocation bound (issue 15: "parsing never allocates more than a bound per input byte"): no
# single allocation over this many MB for an input of at most -max_len (64 KiB), i.e. at most
# 1 KiB allocated at once per input byte; libFuzzer reports a bigger one as an OOM and keeps the input.
malloc_limit_mb=${SIDEBAND_FUZZ_MALLOC_LIMIT_MB:-64}

if [ "$what" = all ]; then
  targets=("${targets_all[@]}")
else
  case " ${targets_all[*]} " in
    *" $what "*) targets=("$what") ;;
    *) echo "unknown target '$what' (one of: ${targets_all[*]}, all)" >&2; exit 2 ;;
  esac
fi
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "SECONDS must be a whole number" >&2; exit 2; }

# clang is the only thing this may install (Debian's package, like tools/install-deps.sh).
if ! command -v clang >/dev/null || ! command -v clang++ >/dev/null; then
  echo "installing: clang"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends clang >/dev/null
fi

if ! grep -qs '^SIDEBAND_FUZZ:BOOL=ON' "$build/CMakeCache.txt"; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -DSIDEBAND_FUZZ=ON -DSIDEBAND_BUILD_TESTS=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build "$build" -j"$jobs" --target "${targets[@]}"

# Targets that write files per input (fuzz_tenant_config writes a tenant.json each time) use
# TMPDIR; on tmpfs they run several times faster (3,100 -> 11,400 exec/s measured) than on disk.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

status=0
summary=()
for t in "${targets[@]}"; do
  work=${SIDEBAND_FUZZ_WORK:-$build_dir/fuzz-runs}/$t
  # SIDEBAND_FUZZ_KEEP=1 goes on from the corpus an earlier run left there (a long run split into
  # parts, their executions added up); by default every run starts from the seeds alone.
  if [ "${SIDEBAND_FUZZ_KEEP:-0}" = 1 ] && [ -d "$work/corpus" ]; then
    if [ -n "$(ls -A "$work/artifacts" 2>/dev/null)" ]; then
      echo "$t: an earlier part left findings in $work/artifacts; look at them (or move them away) first" >&2
      status=1
      continue
    fi
    rm -f "$work/fuzz.log"
  else
    rm -rf "$work"
  fi
  mkdir -p "$work/corpus" "$work/artifacts"
  cp -r "tests/fuzz/corpus/$t/." "$work/corpus/"
  rm -f "$work/corpus"/crash-* # known findings are kept in the repo, not fuzzed from
  echo "== $t: ${seconds}s (log: $work/fuzz.log)"
  set +e
  "$build/tests/fuzz/$t" "$work/corpus" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
    -rss_limit_mb=2048 -malloc_limit_mb="$malloc_limit_mb" -print_final_stats=1 -artifact_prefix="$work/artifacts/" ${SIDEBAND_FUZZ_FLAGS:-} >"$work/fuzz.log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/fuzz.log" | grep -o '[0-9]*$' | tail -1)
  secs=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$work/fuzz.log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$work/fuzz.log" | tail -1 | grep -o '[0-9]*')
  corpus_n=$(find "$work/corpus" -type f | wc -l)
  findings=$(find "$work/artifacts" -type f | sort)
  line="$t: ${seconds}s, executions ${execs:-?}, exec/s ${secs:-?}, coverage ${cov:-?}, corpus ${corpus_n}, exit ${rc}"
  if [ "$rc" -ne 0 ] || [ -n "$findings" ]; then
    status=1
    line+=" FINDING"
    grep -m1 -E '^==[0-9]+==ERROR|runtime error|fuzz property violated|ERROR: libFuzzer' "$work/fuzz.log" >&2 || true
    for f in $findings; do echo "  kept input: $f" >&2; done
    [ -n "$findings" ] || echo "  no input kept; see $work/fuzz.log" >&2
  fi
  echo "$line"
  summary+=("$line")
done
echo "== summary"
printf '%s\n' "${summary[@]}"
exit $status
