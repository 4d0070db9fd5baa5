#!/usr/bin/env bash
# The README's test command: installs dependencies, builds, runs every test; then builds and runs
# the suite once more under AddressSanitizer + UndefinedBehaviorSanitizer, failing on any report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
jobs=${SIDEBAND_JOBS:-2}

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
