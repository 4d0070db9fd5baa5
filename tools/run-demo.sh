#!/usr/bin/env bash
# The README's first command. Installs dependencies, builds, starts sideband-host on its embedded
# default (SQLite, the example tenants, the reference plugins, a throw-away TLS certificate)
# pointed at the Realtime simulator, places three simulated calls (a booking through the
# appointments plugin, a transfer to a person, a rejected unknown number), prints each call's
# trace, stops everything and exits 0 when every call behaved as expected.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bash tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE="${SIDEBAND_BUILD_TYPE:-Release}" >/dev/null
cmake --build build -j"${SIDEBAND_JOBS:-2}" --target sideband-host sideband-sim appointments call-routing

work=$(mktemp -d)
host_pid=""
cleanup() {
  if [ -n "$host_pid" ]; then kill -TERM "$host_pid" 2>/dev/null || true; wait "$host_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
bash tools/make-test-certs.sh "$work/tls"
host_port=$(free_port)
sim_port=$(free_port)

export OPENAI_WEBHOOK_SECRET="whsec_$(openssl rand -base64 32)"
export OPENAI_API_KEY="sk-demo-$(openssl rand -hex 8)"
export SIDEBAND_SIM_API_KEY="$OPENAI_API_KEY"
export SIDEBAND_LISTEN="127.0.0.1:$host_port"
export SIDEBAND_TLS_CERT="$work/tls/server.pem" SIDEBAND_TLS_KEY="$work/tls/server.key"
export OPENAI_BASE_URL="https://127.0.0.1:$sim_port/v1" SIDEBAND_OPENAI_CA_FILE="$work/tls/ca.pem"
export SIDEBAND_DB="sqlite:$work/sideband.db" SIDEBAND_PLUGIN_DIR="$root/build/plugins-out"
export SIDEBAND_STATE_DIR="$work/state"

echo "== importing the example tenants"
./build/host/sideband-host tenants import tenants
./build/host/sideband-host tenants list

echo "== starting sideband-host on https://127.0.0.1:$host_port (log: host.log)"
./build/host/sideband-host > "$work/host.log" 2>&1 &
host_pid=$!
for _ in $(seq 100); do
  curl -sf --cacert "$work/tls/ca.pem" "https://localhost:$host_port/readyz" >/dev/null && break
  kill -0 "$host_pid" 2>/dev/null || { cat "$work/host.log"; exit 1; }
  sleep 0.1
done

# The next weekday, so the appointments plugin has free morning slots.
day=$(date -d tomorrow +%F)
while [ "$(date -d "$day" +%u)" -gt 5 ]; do day=$(date -d "$day + 1 day" +%F); done
sed "s/@DATE@/$day/g" tools/demo/scenario.json.in > "$work/scenario.json"

echo "== placing simulated calls (the simulator plays OpenAI on https://127.0.0.1:$sim_port)"
status=0
./build/tools/simulator/sideband-sim run "$work/scenario.json" \
  --webhook-url "https://localhost:$host_port/api/v1/openai/webhook" --ca-file "$work/tls/ca.pem" \
  --port "$sim_port" --tls-cert "$work/tls/server.pem" --tls-key "$work/tls/server.key" || status=$?

echo "== the host's side of the calls"
grep -E "call=|tool|accepted|rejected|ended" "$work/host.log" || true
echo "== metrics (calls)"
curl -s --cacert "$work/tls/ca.pem" "https://localhost:$host_port/metrics" | grep -E '^sideband_(calls|tool_calls)' || true

kill -TERM "$host_pid"; wait "$host_pid"; host_status=$?; host_pid=""
echo "== sideband-host stopped with exit code $host_status; simulator verdict: $([ $status -eq 0 ] && echo PASS || echo FAIL)"
[ "$status" -eq 0 ] && [ "$host_status" -eq 0 ]
