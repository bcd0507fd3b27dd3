#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""Run commands on the other host of a two-host test, as ssh would.

  peer-agent.py serve [--port P]
      on the peer: run what the other host sends, until killed
  peer-agent.py run ADDR [--port P] -- COMMAND [ARG...]
      run COMMAND on the peer at ADDR (fe80::1%eth0 style for a link-local
      address): its output appears here, its exit status is ours (255 when
      the peer cannot be reached or went away meanwhile)

The agent listens on the wire between the two guests, which nothing else
reaches. A command runs in the agent's working directory; when the caller
goes away (killed, timed out), the command is killed too, so a server
started in the background never outlives its test.

Frames, both ways: a type byte, a 4-byte big-endian length, the payload.
To the peer: 'c' (the JSON argv). Back: 'o' (output bytes), 'x' (the exit
status, as decimal text), last.
"""
import argparse
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

PORT = 18500


def send_frame(sock, kind, data):
    sock.sendall(kind + struct.pack(">I", len(data)) + data)


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def recv_frame(sock):
    head = recv_exact(sock, 5)
    if head is None:
        return None, None
    (n,) = struct.unpack(">I", head[1:])
    data = recv_exact(sock, n)
    if data is None:
        return None, None
    return head[:1], data


def serve_one(conn):
    """Run the one command @conn sends, streaming its output back."""
    with conn:
        kind, data = recv_frame(conn)
        if kind != b"c":
            return
        argv = json.loads(data)
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT,
                                    start_new_session=True)
        except OSError as e:
            send_frame(conn, b"o", f"peer-agent: {argv[0]}: {e}\n".encode())
            send_frame(conn, b"x", b"127")
            return

        def caller_gone():
            # The caller never sends after its command: EOF means it left.
            try:
                while conn.recv(1):
                    pass
            except OSError:
                pass
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)

        threading.Thread(target=caller_gone, daemon=True).start()
        try:
            for chunk in iter(lambda: proc.stdout.read1(65536), b""):
                send_frame(conn, b"o", chunk)
        except OSError:
            pass
        rc = proc.wait()
        if rc < 0:
            rc = 128 - rc
        try:
            send_frame(conn, b"x", str(rc).encode())
        except OSError:
            pass


def serve(port):
    srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("::", port))
    srv.listen(16)
    print(f"peer-agent: serving on port {port}", flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve_one, args=(conn,), daemon=True).start()


def connect(addr, port, wait):
    """Connect to the agent at @addr, retrying for @wait seconds."""
    deadline = time.monotonic() + wait
    while True:
        try:
            info = socket.getaddrinfo(addr, port, socket.AF_UNSPEC,
                                      socket.SOCK_STREAM)[0]
            sock = socket.socket(info[0], info[1], info[2])
            # A host that is gone answers no SYN: give up on it in time.
            sock.settimeout(max(1.0, min(5.0, deadline - time.monotonic())))
            sock.connect(info[4])
            sock.settimeout(None)
            return sock
        except OSError as e:
            if time.monotonic() >= deadline:
                print(f"peer-agent: cannot reach {addr} port {port}: {e}",
                      file=sys.stderr)
                return None
            time.sleep(0.5)


def run(addr, port, argv, wait):
    sock = connect(addr, port, wait)
    if sock is None:
        return 255
    with sock:
        send_frame(sock, b"c", json.dumps(argv).encode())
        out = sys.stdout.buffer
        while True:
            kind, data = recv_frame(sock)
            if kind is None:
                print("peer-agent: the peer went away", file=sys.stderr)
                return 255
            if kind == b"o":
                out.write(data)
                out.flush()
            elif kind == b"x":
                return int(data)


def main():
    argv = sys.argv[1:]
    cmd = []
    if "--" in argv:
        cmd = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, default=PORT)
    r = sub.add_parser("run")
    r.add_argument("addr")
    r.add_argument("--port", type=int, default=PORT)
    r.add_argument("--wait", type=float, default=60,
                   help="seconds to keep trying to reach the peer")
    a = p.parse_args(argv)
    if a.mode == "serve":
        serve(a.port)
        return 0
    if not cmd:
        p.error("run: no command after --")
    return run(a.addr, a.port, cmd, a.wait)


if __name__ == "__main__":
    sys.exit(main())
