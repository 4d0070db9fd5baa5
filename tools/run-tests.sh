#!/usr/bin/env bash
# The README's test command: installs dependencies, builds, runs every test; then builds and runs
# the suite once more under AddressSanitizer + UndefinedBehaviorSanitizer, failing on any report;
# then the concurrency suites under ThreadSanitizer and every fuzz target for a bounded time.
# SIDEBAND_SKIP_SANITIZERS=1, SIDEBAND_SKIP_TSAN=1, SIDEBAND_SKIP_FUZZ=1 skip those stages;
# SIDEBAND_FUZZ_SECONDS sets the seconds per fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
jobs=${SIDEBAND_JOBS:-2}
# The page test's browser driver (tests/browser: playwright-core, pinned in its lock file) for
# Debian's chromium. Debian's nodejs ships npm separately.
command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive $( [ "$(id -u)" -eq 0 ] || echo sudo ) apt-get install -y -qq npm >/dev/null
(cd tests/browser && npm ci --no-audit --no-fund --silent)

# The servers the shared-state tests use (tests/servers): one Redis and one PostgreSQL for the
# whole run on free 127.0.0.1 ports, each test in its own key prefix or database; stopped at exit.
# Tests that stop a server mid-run start a private one.
servers=$(mktemp -d)
chmod 755 "$servers" # PostgreSQL runs as the postgres user
stop_servers() {
  bash tests/servers/redis.sh stop "$servers/redis" >/dev/null 2>&1 || true
  bash tests/servers/postgres.sh stop "$servers/postgres" >/dev/null 2>&1 || true
  rm -rf "$servers"
}
trap stop_servers EXIT
SIDEBAND_TEST_REDIS_URL=$(bash tests/servers/redis.sh start "$servers/redis")
SIDEBAND_TEST_POSTGRES_URL=$(bash tests/servers/postgres.sh start "$servers/postgres")
export SIDEBAND_TEST_REDIS_URL SIDEBAND_TEST_POSTGRES_URL

# Release (no debug info) keeps CI's two full builds within budget on 2 cores.
cmake -S . -B build -DCMAKE_BUILD_TYPE="${SIDEBAND_BUILD_TYPE:-Release}"
cmake --build build -j"$jobs"
cmake --build build -j"$jobs" --target bench-all # the benchmarks' tools must compile; they are not run here
(cd build && ctest -j"$jobs" --output-on-failure --timeout 300)

if [ "${SIDEBAND_SKIP_SANITIZERS:-0}" != 1 ]; then
  # -O1 -g1: sanitizer reports keep file:line, the build stays affordable.
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" -DSIDEBAND_SANITIZE=ON
  cmake --build build-asan -j"$jobs"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  # The out-of-tree SDK build proves the installed package, not memory safety: once is enough.
  (cd build-asan && ctest -j"$jobs" --output-on-failure --timeout 600 -E 'OutOfTree')
fi

if [ "${SIDEBAND_SKIP_TSAN:-0}" != 1 ]; then
  # ThreadSanitizer on the concurrency suites only (issue 15): calls, sessions, plugins, integration
  # fleet (against the Redis above) and webrtc; -O1 -g1 and only these executables (and what they start:
  # sideband-host, the test plugins) keep it affordable. Not isolation: TSan's runtime starts a
  # thread of its own, and the plugin runner's sandbox refuses to apply in a process that is not
  # single-threaded (host/isolation/Sandbox.cpp), so the runner cannot start. Reports from every
  # process, the children the tests start included, go to files under build-tsan/tsan-reports, and
  # any file there fails the stage even when the test itself passed. tests/tsan.supp holds the
  # suppressions (third-party code only, each with its reason).
  tsan_targets=(calls_tests incoming_call_tests sessions_tests call_end_to_end_tests plugin_tests
    integration_tests fleet_tests fleet_replica_tests webrtc_tests webrtc_end_to_end_tests)
  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" -DSIDEBAND_TSAN=ON
  cmake --build build-tsan -j"$jobs" --target "${tsan_targets[@]}"
  reports=$(pwd)/build-tsan/tsan-reports
  rm -rf "$reports" && mkdir -p "$reports"
  tsan_supp=$(pwd)/tests/tsan.supp
  # Tests of executables not built here are registered as <target>_NOT_BUILT: excluded, like the
  # out-of-tree SDK build, the packaging checks and the isolation suites (named, in case an earlier
  # build of build-tsan left their test lists).
  tsan_status=0
  (cd build-tsan && TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$tsan_supp:log_path=$reports/tsan" \
    ctest -j"$jobs" --output-on-failure --timeout 600 \
      -E '_NOT_BUILT$|OutOfTree|^packaging\.|^postgres_server_|^Sandbox|^Abi/SandboxLandlockAbi|^PluginRunnerTest\.|IsolatedCallsTest') ||
    tsan_status=$?
  if [ -n "$(ls -A "$reports")" ]; then
    echo "ThreadSanitizer reports:" >&2
    cat "$reports"/* >&2
    tsan_status=1
  fi
  [ "$tsan_status" -eq 0 ] || exit "$tsan_status"
fi

if [ "${SIDEBAND_SKIP_FUZZ:-0}" != 1 ]; then
  # Every libFuzzer target (tests/fuzz, docs/fuzzing.md) for a bounded time, clang build in
  # build-fuzz; fails on any crash, leak, timeout, out-of-memory or violated property. Its own
  # sanitizer options, not the ASan stage's.
  env -u ASAN_OPTIONS -u UBSAN_OPTIONS bash tools/fuzz.sh all "${SIDEBAND_FUZZ_SECONDS:-20}"
fi
