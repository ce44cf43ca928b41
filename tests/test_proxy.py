"""The intercepting proxy: BFL's hosts answered by the fake over TLS from the local CA, every other host
refused with nothing sent anywhere, and hostile clients bounded (floods, bad TLS, slow handshakes, huge heads)."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mock_server.frontends.asgi import create_app
from mock_server.mock import BflMock
from mock_server.tls.ca import LocalCA
from mock_server.tls.proxy import ProxyOptions, ThreadedProxy, split_authority

KEY = {"x-key": "test-key"}


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    ca = LocalCA(tmp_path_factory.mktemp("ca"))
    ca.leaf()
    return ca


@pytest.fixture
def mock() -> Iterator[BflMock]:
    m = BflMock(progression="polls:1", seed=7)
    yield m
    m.close()


def start(mock: BflMock, ca: LocalCA, **opts: object) -> ThreadedProxy:
    return ThreadedProxy(create_app(mock, close_on_shutdown=False), mock.settings, ca, ProxyOptions(**opts)).start()  # type: ignore[arg-type]


@pytest.fixture
def proxy(mock: BflMock, ca: LocalCA) -> Iterator[ThreadedProxy]:
    p = start(mock, ca)
    yield p
    p.stop()


def client(proxy: ThreadedProxy, ca: LocalCA) -> httpx.Client:
    ctx = ssl.create_default_context(cafile=str(ca.cert_path))
    return httpx.Client(proxy=proxy.url, verify=ctx, trust_env=False, headers=KEY, timeout=10)


@pytest.fixture
def canary() -> Iterator[socket.socket]:
    """A listener on 127.0.0.2 that must never be connected to (the proxy forwards nothing)."""
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    s.listen(8)
    s.setblocking(False)
    yield s
    s.close()


def assert_untouched(canary: socket.socket) -> None:
    with pytest.raises(BlockingIOError):
        canary.accept()


OPEN: list[socket.socket] = []


@pytest.fixture(autouse=True)
def _close_sockets() -> Iterator[None]:
    yield
    while OPEN:
        OPEN.pop().close()


def raw(proxy: ThreadedProxy) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
    OPEN.append(s)
    return s


def read_all(s: socket.socket) -> bytes:
    out = b""
    while True:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, TimeoutError):
            return out
        if not chunk:
            return out
        out += chunk


# ------------------------------------------------------------------ BFL's hosts are served by the fake
@pytest.mark.parametrize("host", ["api.bfl.ai", "api.eu.bfl.ai", "api.us1.bfl.ai"])
def test_connect_to_a_bfl_host_is_served_by_the_fake_over_https(
    proxy: ThreadedProxy, ca: LocalCA, mock: BflMock, host: str
) -> None:
    with client(proxy, ca) as c:
        sub = c.post(f"https://{host}/v1/flux-pro-1.1", json={"prompt": "a red cube"})
        assert sub.status_code == 200, sub.text
        polling = sub.json()["polling_url"]
        assert polling == f"https://{host}/v1/get_result?id={sub.json()['id']}"
        done = c.get(polling).json()
        assert done["status"] == "Ready" and done["result"]["sample"].startswith(f"https://{host}/")
        image = c.get(done["result"]["sample"])
        assert image.status_code == 200 and image.content[:3] == b"\xff\xd8\xff"
    assert [e.path for e in mock.journal][:1] == ["/v1/flux-pro-1.1"]  # the same fake, the same state


def test_configured_regional_hosts_appear_in_urls(ca: LocalCA) -> None:
    m = BflMock(progression="polls:1", public_url="https://api.us1.bfl.ai", delivery_url="https://delivery-us1.bfl.ai")
    p = start(m, ca)
    try:
        with client(p, ca) as c:
            sub = c.post("https://api.bfl.ai/v1/flux-pro-1.1", json={"prompt": "x"}).json()
            assert sub["polling_url"].startswith("https://api.us1.bfl.ai/v1/get_result?id=")
            sample = c.get(sub["polling_url"]).json()["result"]["sample"]
            assert sample.startswith("https://delivery-us1.bfl.ai/")
            assert c.get(sample).status_code == 200
    finally:
        p.stop()
        m.close()


def test_absolute_form_http_to_a_bfl_host_is_served(proxy: ThreadedProxy) -> None:
    with httpx.Client(proxy=proxy.url, trust_env=False, headers=KEY) as c:
        r = c.post("http://api.bfl.ai/v1/flux-pro-1.1", json={"prompt": "x"})
        assert r.status_code == 200 and r.json()["polling_url"].startswith("http://api.bfl.ai/v1/get_result")


def test_a_direct_request_to_the_proxy_port_is_told_what_it_is(proxy: ThreadedProxy) -> None:
    r = httpx.get(f"{proxy.url}/health", trust_env=False)
    assert r.status_code == 400 and "this port is a proxy" in r.json()["detail"]


# ------------------------------------------------------------------ nothing else, nothing leaves
def test_curl_to_a_non_bfl_host_is_refused_and_nothing_leaves(
    proxy: ThreadedProxy, canary: socket.socket, tmp_path: Path
) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl not installed")
    port = canary.getsockname()[1]
    for url in (f"https://127.0.0.2:{port}/", f"http://127.0.0.2:{port}/x"):
        r = subprocess.run(
            [curl, "-sS", "-x", proxy.url, url, "-o", str(tmp_path / "body"), "-w", "%{http_code}"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert "403" in r.stdout + r.stderr, r
    assert "127.0.0.2 is not one of BFL's hosts" in (tmp_path / "body").read_text()
    assert "--proxy-pass-through 127.0.0.2" in (tmp_path / "body").read_text()
    assert_untouched(canary)
    assert proxy.proxy.wait_for(lambda: proxy.proxy.refused == 2)


@pytest.mark.parametrize(
    "target", ["example.com:443", "api.bfl.ai.evil.com:443", "api.bfl.ai:22", "evilbfl.ai:443", "[::1]:443"]
)
def test_connect_refusals(proxy: ThreadedProxy, target: str) -> None:
    s = raw(proxy)
    s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    answer = read_all(s)
    assert answer.startswith(b"HTTP/1.1 403 ") and b"nothing was sent" in answer


def test_pass_through_hosts_are_tunnelled_only_when_named(mock: BflMock, ca: LocalCA, canary: socket.socket) -> None:
    p = start(mock, ca, pass_through=("127.0.0.2",))
    try:
        port = canary.getsockname()[1]
        s = raw(p)
        s.sendall(f"CONNECT 127.0.0.2:{port} HTTP/1.1\r\n\r\n".encode())
        assert s.recv(100).startswith(b"HTTP/1.1 200 ")
        canary.setblocking(True)
        canary.settimeout(10)
        upstream, _ = canary.accept()
        s.sendall(b"ping")
        assert upstream.recv(4) == b"ping"
        upstream.sendall(b"pong")
        assert s.recv(4) == b"pong"
        upstream.close()
        s.close()
    finally:
        p.stop()


# ------------------------------------------------------------------ hostile input, within bounds
def test_huge_connect_head_gets_431(mock: BflMock, ca: LocalCA) -> None:
    p = start(mock, ca, max_header_bytes=4096)
    try:
        s = raw(p)
        s.sendall(b"CONNECT api.bfl.ai:443 HTTP/1.1\r\nX: " + b"a" * 8000)
        assert read_all(s).startswith(b"HTTP/1.1 431 ")
    finally:
        p.stop()


def test_slow_connect_head_gets_408(mock: BflMock, ca: LocalCA) -> None:
    p = start(mock, ca, header_timeout=0.3)
    try:
        s = raw(p)
        s.sendall(b"CONNECT api.bfl.ai:443 HTTP/1.1\r\n")  # and never the blank line
        assert read_all(s).startswith(b"HTTP/1.1 408 ")
    finally:
        p.stop()


def test_bad_tls_and_slow_handshakes_are_closed_and_the_proxy_keeps_serving(mock: BflMock, ca: LocalCA) -> None:
    p = start(mock, ca, handshake_timeout=0.3)
    try:
        bad = raw(p)
        bad.sendall(b"CONNECT api.bfl.ai:443 HTTP/1.1\r\n\r\n")
        assert bad.recv(100).startswith(b"HTTP/1.1 200 ")
        bad.sendall(b"\x16\x03\x01\x00\x05hello this is not TLS" * 10)
        slow = raw(p)
        slow.sendall(b"CONNECT api.bfl.ai:443 HTTP/1.1\r\n\r\n")
        assert slow.recv(100).startswith(b"HTTP/1.1 200 ")  # then never a ClientHello
        read_all(bad), read_all(slow)  # both closed by the proxy (read_all returns at EOF)
        assert p.proxy.wait_for(lambda: p.proxy.handshake_failures == 2)
        with client(p, ca) as c:
            assert c.get("https://api.bfl.ai/health").status_code == 200
    finally:
        p.stop()


def test_connect_flood_evicts_the_oldest_pending_and_serves_new_clients(mock: BflMock, ca: LocalCA) -> None:
    p = start(mock, ca, max_pending=8)
    try:
        flood = [raw(p) for _ in range(20)]
        for s in flood:
            s.sendall(b"CONNECT api.bfl.ai:443 HTTP/1.1\r\n")  # half a head each
        with client(p, ca) as c:
            assert c.get("https://api.bfl.ai/health").status_code == 200
        closed = 0
        for s in flood[:12]:  # the 12 oldest were closed to make room
            s.settimeout(10)
            closed += read_all(s) == b""
        assert closed == 12
        assert len(p.proxy.pending) <= 8
    finally:
        p.stop()


def test_malformed_heads_get_clear_errors(proxy: ThreadedProxy) -> None:
    for head, status in (
        (b"\x00\xff garbage\r\n\r\n", b"400"),
        (b"CONNECT  HTTP/1.1\r\n\r\n", b"400"),
        (b"CONNECT api.bfl.ai:99999 HTTP/1.1\r\n\r\n", b"400"),
        (b"CONNECT api.bfl.ai:443 HTTP/2.0\r\n\r\n", b"505"),
    ):
        s = raw(proxy)
        s.sendall(head)
        assert read_all(s).startswith(b"HTTP/1.1 " + status), head


def test_split_authority() -> None:
    assert split_authority("api.bfl.ai:443", 443) == ("api.bfl.ai", 443)
    assert split_authority("API.BFL.AI", 443) == ("api.bfl.ai", 443)
    assert split_authority("[::1]:8080", 443) == ("::1", 8080)
    for bad in ("", ":443", "a:0", "a:x", "a b:443", "[::1", "u@h:443"):
        assert split_authority(bad, 443) is None, bad


def tls_tunnel(p: ThreadedProxy, ca: LocalCA) -> ssl.SSLSocket:
    s = raw(p)
    s.sendall(b"CONNECT api.bfl.ai:443 HTTP/1.1\r\n\r\n")
    assert s.recv(100).startswith(b"HTTP/1.1 200 ")
    ctx = ssl.create_default_context(cafile=str(ca.cert_path))
    wrapped = ctx.wrap_socket(s, server_hostname="api.bfl.ai")
    OPEN.append(wrapped)
    return wrapped


def test_tunnels_beyond_the_cap_close_the_oldest_idle_one(mock: BflMock, ca: LocalCA) -> None:
    p = start(mock, ca, max_tunnels=2)
    try:
        first, second = tls_tunnel(p, ca), tls_tunnel(p, ca)
        third = tls_tunnel(p, ca)
        assert read_all(first) == b""  # closed to make room
        third.sendall(b"GET /health HTTP/1.1\r\nHost: api.bfl.ai\r\nConnection: close\r\n\r\n")
        assert read_all(third).startswith(b"HTTP/1.1 200 ")
        for s in (first, second, third):
            s.close()
    finally:
        p.stop()


def test_the_admin_token_holds_through_the_proxy(ca: LocalCA) -> None:
    m = BflMock(admin_token="s3cret")
    p = start(m, ca)
    try:
        with client(p, ca) as c:
            assert c.get("https://api.bfl.ai/_mock/config").status_code in (401, 403)
            assert (
                c.get("https://api.bfl.ai/_mock/config", headers={"authorization": "Bearer s3cret"}).status_code == 200
            )
    finally:
        p.stop()
        m.close()


def test_serve_reports_a_busy_proxy_port(tmp_path: Path) -> None:
    import os
    import sys

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        r = subprocess.run(
            [sys.executable, "-m", "mock_server", "serve", "--port", "0", "--proxy-port", str(busy.getsockname()[1])],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "BFL_MOCK_CA_DIR": str(tmp_path / "ca")},
        )
    finally:
        busy.close()
    assert r.returncode == 2 and "--proxy-port" in r.stderr and "already in use" in r.stderr
    assert "Traceback" not in r.stderr
