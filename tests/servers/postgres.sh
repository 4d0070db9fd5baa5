#!/bin/bash
# A throwaway PostgreSQL 15 cluster for tests, on 127.0.0.1 and a free port.
#
#   postgres.sh start DIR   initialise a cluster in DIR (or reuse the one already there, on the same
#                           port), start it, create database "sideband" and print one line on stdout:
#                           postgresql://postgres@127.0.0.1:PORT/sideband
#   postgres.sh stop DIR    stop it (fast shutdown: clients are disconnected); DIR stays, so
#                           `start DIR` brings the same data back on the same port
#   postgres.sh ctest-start DIR / ctest-stop DIR
#                           the ctest fixture: a fresh server whose URL is written to DIR/url (nothing
#                           when SIDEBAND_TEST_POSTGRES_URL already names a server); stop and remove DIR
#
# DIR must be a new or empty directory the postgres user can reach (initdb refuses to run as root,
# so as root the cluster is run as "postgres" and DIR is chowned to it). The socket is in DIR, trust
# authentication, fsync off: for tests only. Logs go to DIR/log.
#
# How tests find a server (tests/tenants/PostgresTestServer.h): SIDEBAND_TEST_POSTGRES_URL if set
# (CI starts one server and exports its URL); else, under ctest, the server of the
# `postgres_server` fixture (tests/tenants/CMakeLists.txt), whose URL is in its DIR/url; else each
# test process starts a private one with this script. Each test creates its own database on it.
set -eu

BIN=${SIDEBAND_POSTGRES_BIN:-/usr/lib/postgresql/15/bin}

usage() {
    echo "usage: $0 start|stop|ctest-start|ctest-stop DIR" >&2
    exit 64
}

[ $# -eq 2 ] || usage
DIR=$2

# Runs a command as the cluster's owner.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    # A random port in 20000-59999 that nothing listens on (a race with another starter is caught
    # by pg_ctl failing, and retried).
    while :; do
        port=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000 ))
        if ! (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
            echo "$port"
            return
        fi
    done
}

start_server() {
    as_owner "$BIN/pg_ctl" start -w -t 20 -D "$DIR/data" -l "$DIR/log" -s \
        -o "-p $1 -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        >/dev/null
}

case $1 in
start)
    mkdir -p "$DIR"
    [ "$(id -u)" -ne 0 ] || chown postgres: "$DIR"
    if ! as_owner test -w "$DIR"; then
        echo "postgres.sh: $DIR is not writable by the cluster owner (its parents must be reachable)" >&2
        exit 1
    fi
    if [ ! -f "$DIR/data/PG_VERSION" ]; then
        as_owner "$BIN/initdb" -D "$DIR/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$DIR/initdb.log" 2>&1 || {
            cat "$DIR/initdb.log" >&2
            exit 1
        }
        created=1
    else
        created=0
    fi
    if [ -f "$DIR/port" ]; then
        port=$(cat "$DIR/port")
        start_server "$port" || { cat "$DIR/log" >&2; exit 1; }
    else
        tries=0
        while :; do
            port=$(free_port)
            if start_server "$port"; then break; fi
            tries=$((tries + 1))
            if [ $tries -ge 5 ]; then cat "$DIR/log" >&2; exit 1; fi
        done
        echo "$port" >"$DIR/port"
    fi
    if [ $created -eq 1 ]; then
        as_owner "$BIN/psql" -q -h "$DIR" -p "$port" -U postgres -d postgres -c "CREATE DATABASE sideband" >/dev/null
    fi
    echo "postgresql://postgres@127.0.0.1:$port/sideband"
    ;;
stop)
    if [ -f "$DIR/data/postmaster.pid" ]; then
        as_owner "$BIN/pg_ctl" stop -w -t 20 -D "$DIR/data" -m fast -s
    fi
    ;;
ctest-start)
    [ -z "${SIDEBAND_TEST_POSTGRES_URL:-}" ] || exit 0
    "$0" stop "$DIR" 2>/dev/null || true
    rm -rf "$DIR"
    url=$("$0" start "$DIR")
    echo "$url" >"$DIR/url"
    echo "$url"
    ;;
ctest-stop)
    [ ! -d "$DIR" ] || "$0" stop "$DIR"
    rm -rf "$DIR"
    ;;
*)
    usage
    ;;
esac
