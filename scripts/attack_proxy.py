"""Hostile clients against the intercepting proxy, then a normal client that must still be served.

    python scripts/attack_proxy.py [--flood 2000] [--huge 50] [--bad-tls 200] [--slow 300]

Starts a fake and its proxy in this process (loopback, port 0, a temporary CA), runs each phase, and after
each one times a real HTTPS request through the proxy (httpx, CONNECT api.bfl.ai). Also asks for a
non-BFL host with a canary listener on 127.0.0.2 that must receive nothing. Exit 1 if any check fails.
Figures (phase time, the legit request's latency afterwards, open file descriptors) go to stdout.
"""

from __future__ import annotations

import argparse
import os
import socket
import ssl
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mock_server.frontends.asgi import create_app
from mock_server.mock import BflMock
from mock_server.tls.ca import LocalCA
from mock_server.tls.proxy import ProxyOptions, ThreadedProxy


def fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:  # pragma: no cover - not Linux
        return -1


def legit(proxy: ThreadedProxy, ca: LocalCA) -> float:
    ctx = ssl.create_default_context(cafile=str(ca.cert_path))
    start = time.perf_counter()
    with httpx.Client(proxy=proxy.url, verify=ctx, trust_env=False, timeout=30) as c:
        r = c.get("https://api.bfl.ai/health")
    if r.status_code != 200:
        raise SystemExit(f"legit request failed: {r.status_code}")
    return (time.perf_counter() - start) * 1000


def connect(proxy: ThreadedProxy) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", proxy.port), timeout=30)
    return s


def phase(name: str, proxy: ThreadedProxy, ca: LocalCA, run: object) -> None:
    start = time.perf_counter()
    held = run()  # type: ignore[operator]
    took = (time.perf_counter() - start) * 1000
    ms = legit(proxy, ca)  # while the attackers' sockets are still open
    print(f"{name:<34} {took:8.0f} ms   legit request after: {ms:6.1f} ms   fds: {fds()}", flush=True)
    for s in held:
        s.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flood", type=int, default=2000, help="half-sent CONNECT heads held open")
    ap.add_argument("--huge", type=int, default=50, help="1 MiB CONNECT heads")
    ap.add_argument("--bad-tls", type=int, default=200, help="garbage instead of a ClientHello")
    ap.add_argument("--slow", type=int, default=300, help="CONNECTs that never start TLS")
    args = ap.parse_args(argv)
    ca = LocalCA(tempfile.mkdtemp(prefix="bfl-mock-attack-ca-"))
    mock = BflMock(progression="polls:1")
    opts = ProxyOptions(max_pending=256, handshake_timeout=2.0, header_timeout=2.0)
    proxy = ThreadedProxy(create_app(mock, close_on_shutdown=False), mock.settings, ca, opts).start()
    print(f"proxy at {proxy.url}; bounds: {opts}", flush=True)
    failed = False
    try:

        def flood() -> list[socket.socket]:
            out = []
            for _ in range(args.flood):
                s = connect(proxy)
                s.sendall(b"CONNECT api.bfl.ai:443 HTTP/1.1\r\n")
                out.append(s)
            return out

        def huge() -> list[socket.socket]:
            for _ in range(args.huge):
                s = connect(proxy)
                try:
                    s.sendall(b"CONNECT api.bfl.ai:443 HTTP/1.1\r\nX: " + b"a" * (1 << 20))
                except OSError:  # closed with 431 before all of it was sent: the point
                    pass
                s.close()
            return []

        def bad_tls() -> list[socket.socket]:
            for _ in range(args.bad_tls):
                s = connect(proxy)
                s.sendall(b"CONNECT api.bfl.ai:443 HTTP/1.1\r\n\r\n")
                s.recv(100)
                s.sendall(b"\x16\x03\x01\x02\x00" + os.urandom(512))
                s.close()
            return []

        def slow() -> list[socket.socket]:
            out = []
            for _ in range(args.slow):
                s = connect(proxy)
                s.sendall(b"CONNECT api.bfl.ai:443 HTTP/1.1\r\n\r\n")
                out.append(s)
            return out

        for name, fn in (("CONNECT flood (half heads)", flood), ("huge heads (1 MiB)", huge)):
            phase(name, proxy, ca, fn)
        for name, fn in (("bad TLS after CONNECT", bad_tls), ("slow handshakes (no ClientHello)", slow)):
            phase(name, proxy, ca, fn)

        canary = socket.socket()
        canary.bind(("127.0.0.2", 0))
        canary.listen(8)
        canary.setblocking(False)
        port = canary.getsockname()[1]
        for target in (f"https://127.0.0.2:{port}/", "https://example.com/"):
            try:
                with httpx.Client(proxy=proxy.url, trust_env=False, timeout=10) as c:
                    c.get(target)
                print(f"FAIL: {target} was not refused")
                failed = True
            except httpx.ProxyError as e:
                print(f"refused as expected: {target} ({e})")
        try:
            canary.accept()
            print("FAIL: the canary received a connection")
            failed = True
        except BlockingIOError:
            print("canary on 127.0.0.2 received nothing")
        canary.close()
        print(f"handshake failures counted: {proxy.proxy.handshake_failures}, refused: {proxy.proxy.refused}")
    finally:
        proxy.stop()
        mock.close()
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
