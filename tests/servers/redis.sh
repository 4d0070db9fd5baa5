#!/bin/sh
# A throwaway redis-server for the tests, on 127.0.0.1 and a free port, nothing persisted.
#   redis.sh start DIR [PORT]  start it (DIR holds its pid file and log); prints one line, its URL:
#                              redis://127.0.0.1:PORT (PORT: a free one unless given, e.g. to restart
#                              on the same port)
#   redis.sh stop DIR          stop it and wait until it is gone
set -eu

usage() { echo "usage: $0 start DIR [PORT] | stop DIR" >&2; exit 2; }
[ $# -ge 2 ] || usage
command=$1
dir=$2
server=${REDIS_SERVER:-redis-server}
cli=${REDIS_CLI:-redis-cli}

# Alive and not a zombie (a daemon's parent may be slow to reap it).
alive() {
  state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  case $state in Z*) return 1 ;; esac
  return 0
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

case $command in
start)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  port=${3:-}
  tries=0
  while :; do
    [ -n "$port" ] || port=$(free_port)
    rm -f "$dir/redis.pid"
    if "$server" --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
      --pidfile "$dir/redis.pid" --dir "$dir" --logfile "$dir/redis.log" >/dev/null 2>&1; then
      i=0
      while [ $i -lt 200 ]; do
        # Answering, and it is ours (not another server already on that port).
        if [ -s "$dir/redis.pid" ] && [ "$("$cli" -h 127.0.0.1 -p "$port" info server 2>/dev/null |
          sed -n 's/^process_id:\([0-9]*\).*/\1/p')" = "$(cat "$dir/redis.pid")" ]; then
          echo "$port" > "$dir/redis.port"
          echo "redis://127.0.0.1:$port"
          exit 0
        fi
        # The daemon exits when it cannot bind (port taken since we picked it): pick another.
        if [ -s "$dir/redis.pid" ] && ! alive "$(cat "$dir/redis.pid")"; then break; fi
        if [ $i -gt 20 ] && [ ! -s "$dir/redis.pid" ]; then break; fi
        sleep 0.025
        i=$((i + 1))
      done
    fi
    tries=$((tries + 1))
    if [ -n "${3:-}" ] || [ $tries -ge 5 ]; then
      echo "redis.sh: redis-server did not start on port $port (see $dir/redis.log)" >&2
      exit 1
    fi
    port=
  done
  ;;
stop)
  [ -s "$dir/redis.pid" ] || exit 0
  pid=$(cat "$dir/redis.pid")
  kill "$pid" 2>/dev/null || true
  i=0
  while alive "$pid"; do
    i=$((i + 1))
    if [ $i -ge 400 ]; then kill -9 "$pid" 2>/dev/null || true; fi
    sleep 0.025
  done
  rm -f "$dir/redis.pid"
  ;;
*) usage ;;
esac
