#!/usr/bin/env python3
"""Idle and slow client connections held open next to a benchmark's load (docs/benchmarks.md).

    python3 bench/tools/idle_conns.py --port P [--host 127.0.0.1] --idle N --slow M
        [--ca-file ca.pem] [--seconds 600]

idle: a TCP connection that never sends a byte (no TLS ClientHello either).
slow: a TLS connection (plain TCP without --ca-file) that, once its handshake is done, sends an
      HTTP request head one byte per second and never finishes it (a header line that keeps growing).
Whatever the server closes is counted and opened again 100 ms later, so N and M stay open for the
whole run as far as the server allows. One thread, non-blocking sockets, standard library only.
Prints "ready ..." once the first connects are done (or after 5 s), and one "BENCH k=v ..." line
when it stops: on SIGTERM/SIGINT or after --seconds (bounded: it always stops by itself).
"""
import argparse
import collections
import resource
import selectors
import signal
import socket
import ssl
import statistics
import sys
import time

HEAD = b"POST /api/v1/openai/webhook HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nX-Slow: "


class Conn:
    def __init__(self, kind):
        self.kind = kind
        self.sock = None
        self.phase = "closed"  # connecting -> handshaking (slow over TLS) -> open
        self.opened_at = 0.0
        self.sent = 0
        self.next_drip = 0.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--idle", type=int, default=0)
    parser.add_argument("--slow", type=int, default=0)
    parser.add_argument("--ca-file", default="")
    parser.add_argument("--seconds", type=float, default=600)
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    context = None
    if args.ca_file:
        context = ssl.create_default_context(cafile=args.ca_file)

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))

    sel = selectors.DefaultSelector()
    conns = [Conn("idle") for _ in range(args.idle)] + [Conn("slow") for _ in range(args.slow)]
    slow = [c for c in conns if c.kind == "slow"]
    closed = {"idle": 0, "slow": 0}  # closed by the server (EOF or error) once open or handshaking
    lifetimes = {"idle": [], "slow": []}  # seconds from connect to the server's close
    connect_errors = 0
    reopen = collections.deque()  # (time, conn), in time order (always now + 0.1 s)

    def watch(conn, events):
        try:
            sel.modify(conn.sock, events, conn)
        except KeyError:
            sel.register(conn.sock, events, conn)

    def open_conn(conn):
        nonlocal connect_errors
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.connect((args.host, args.port))
        except BlockingIOError:
            pass
        except OSError:
            connect_errors += 1
            sock.close()
            reopen.append((time.monotonic() + 0.1, conn))
            return
        conn.sock, conn.phase, conn.opened_at, conn.sent = sock, "connecting", time.monotonic(), 0
        watch(conn, selectors.EVENT_WRITE)

    def drop(conn, by_server):
        if by_server:
            closed[conn.kind] += 1
            lifetimes[conn.kind].append(time.monotonic() - conn.opened_at)
        try:
            sel.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        conn.sock.close()
        conn.phase = "closed"
        reopen.append((time.monotonic() + 0.1, conn))

    def handshake(conn):
        try:
            conn.sock.do_handshake()
        except ssl.SSLWantReadError:
            watch(conn, selectors.EVENT_READ)
            return
        except ssl.SSLWantWriteError:
            watch(conn, selectors.EVENT_WRITE)
            return
        except (ssl.SSLError, OSError):
            drop(conn, True)
            return
        conn.phase = "open"
        conn.next_drip = time.monotonic()
        watch(conn, selectors.EVENT_READ)

    for conn in conns:
        open_conn(conn)
    started = time.monotonic()
    ready = False
    deadline = started + args.seconds
    while not stopping and time.monotonic() < deadline:
        now = time.monotonic()
        if not ready and (now - started > 5 or all(c.phase != "connecting" for c in conns)):
            ready = True
            print(f"ready idle={args.idle} slow={args.slow} in {now - started:.1f} s", flush=True)
        while reopen and reopen[0][0] <= now:
            open_conn(reopen.popleft()[1])
        for key, _ in sel.select(timeout=0.1):
            conn = key.data
            if conn.phase == "connecting":
                error = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if error:
                    connect_errors += 1
                    drop(conn, False)
                elif conn.kind == "slow" and context:
                    sel.unregister(conn.sock)
                    conn.sock = context.wrap_socket(conn.sock, server_hostname="localhost",
                                                    do_handshake_on_connect=False)
                    conn.phase = "handshaking"
                    handshake(conn)
                else:
                    conn.phase = "open"
                    conn.next_drip = time.monotonic()
                    watch(conn, selectors.EVENT_READ)
            elif conn.phase == "handshaking":
                handshake(conn)
            elif conn.phase == "open":
                try:
                    data = conn.sock.recv(4096)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                    continue
                except OSError:
                    data = b""
                if not data:  # the server closed it (an answer such as 408 counts as a close too)
                    drop(conn, True)
        now = time.monotonic()
        for conn in slow:
            if conn.phase == "open" and now >= conn.next_drip:
                byte = HEAD[conn.sent:conn.sent + 1] or b"a"
                try:
                    if conn.sock.send(byte) == 1:
                        conn.sent += 1
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                    pass
                except OSError:
                    drop(conn, True)
                    continue
                conn.next_drip = now + 1.0

    def count(kind, phase):
        return sum(1 for c in conns if c.kind == kind and c.phase == phase)

    def median(values):
        return f"{statistics.median(values):.1f}" if values else "-"

    print(f"BENCH idle={args.idle} slow={args.slow} idle_open={count('idle', 'open')} "
          f"slow_open={count('slow', 'open')} slow_handshaking={count('slow', 'handshaking')} "
          f"connecting={sum(1 for c in conns if c.phase == 'connecting')} idle_closed={closed['idle']} "
          f"slow_closed={closed['slow']} idle_life_median_s={median(lifetimes['idle'])} "
          f"slow_life_median_s={median(lifetimes['slow'])} connect_errors={connect_errors} "
          f"seconds={time.monotonic() - started:.1f}", flush=True)
    for conn in conns:
        if conn.sock and conn.phase != "closed":
            conn.sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
