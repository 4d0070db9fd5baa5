#!/usr/bin/env bash
# The README's first command: installs dependencies, builds, starts the host on its embedded
# default with a throw-away TLS certificate, sends it signed deliveries, prints each answer, stops.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"${SIDEBAND_JOBS:-2}" --target sideband-host

work=$(mktemp -d)
trap 'kill "$host" 2>/dev/null || true; wait "$host" 2>/dev/null || true; rm -rf "$work"' EXIT
bash tools/make-test-certs.sh "$work/tls"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18443)
export OPENAI_WEBHOOK_SECRET="whsec_$(openssl rand -base64 32)"
export OPENAI_API_KEY="sk-demo"
export SIDEBAND_LISTEN="127.0.0.1:$port" SIDEBAND_TLS_CERT="$work/tls/server.pem" SIDEBAND_TLS_KEY="$work/tls/server.key"
./build/host/sideband-host &
host=$!
for _ in $(seq 100); do curl -s --cacert "$work/tls/ca.pem" "https://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

url="https://localhost:$port/api/v1/openai/webhook"
send() { # name body
  echo "--- $1"; echo "$2"
  mapfile -t headers < <(printf '%s' "$2" | ./build/host/sideband-host sign --headers | sed -n '1,3p')
  echo -n "-> "
  curl -sS --cacert "$work/tls/ca.pem" -w ' (HTTP %{http_code})\n' -X POST "$url" \
    -H 'content-type: application/json' -H "${headers[0]}" -H "${headers[1]}" -H "${headers[2]}" --data-binary "$2"
}
call='{"id":"evt_demo1","type":"realtime.call.incoming","data":{"call_id":"rtc_demo1","sip_headers":[{"name":"From","value":"<sip:+14155550100@example.com>"},{"name":"To","value":"<sip:+18005550123@sip.api.openai.com>"}]}}'
send "incoming call" "$call"
send "the same delivery again (deduplicated)" "$call"
send "call ended" '{"id":"evt_demo2","type":"realtime.call.ended","data":{"call_id":"rtc_demo1"}}'
send "unknown event type" '{"id":"evt_demo3","type":"response.completed","data":{}}'
echo "--- a forged signature"
curl -sS --cacert "$work/tls/ca.pem" -w ' (HTTP %{http_code})\n' -X POST "$url" -H 'webhook-id: x' \
  -H "webhook-timestamp: $(date +%s)" -H 'webhook-signature: v1,Zm9yZ2Vk' -d "$call"
kill -TERM "$host"; wait "$host"; echo "host exited with $?"
