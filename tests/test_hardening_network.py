"""Network and edge protections (docs/security.md): one regression test per reproduced finding.

DNS rebinding into the admin API, image URLs that trickle or answer malformed HTTP, the fake fetching its own
non-loopback address, forged access-log lines and admin-token guessing. Everything runs over loopback
against servers the tests start (the own-address case in a network namespace of its own); nothing waits on
a sleep: trickling hosts are released by events, the token throttle runs on an injected clock.
"""

from __future__ import annotations

import io
import json
import shutil
import socket
import subprocess
import sys
import textwrap
import threading

import httpx
import numpy as np
import pytest
from bfl_helpers import SUBMIT, b64_image, body

from mock_server.core.egress import FETCH_USER_AGENT, FetchPool
from mock_server.frontends.asgi import AccessLog, create_app
from mock_server.frontends.server import LiveServer, ThreadedServer
from mock_server.http.admin import AuthThrottle
from mock_server.mock import BflMock

FROZEN = {"frozen_clock": True, "seed": 1, "progression": "manual"}
KONTEXT = "/v1/flux-kontext-pro"


@pytest.fixture
def live():
    servers = []

    def start(host="127.0.0.1", **settings):
        server = LiveServer(BflMock(**{**FROZEN, **settings}), host=host).start()
        client = httpx.Client(base_url=server.url, headers={"x-key": "k"}, timeout=30, trust_env=False)
        servers.append((server, client))
        return server, client

    yield start
    for server, client in servers:
        client.close()
        server.stop()


def raw(port: int, request: bytes) -> bytes:
    """One request on a fresh connection, exactly as written (absolute-form lines, forged Host headers)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


class ImageHost:
    """A loopback image host the test starts: ``head`` answered at once, then the body a byte per
    ``interval`` seconds (at most ``limit`` bytes) until ``release`` is set. Records how many connections
    were open at once."""

    def __init__(self, head: bytes, *, interval: float = 0.01, limit: int = 1000) -> None:
        self.head, self.interval, self.limit = head, interval, limit
        self.release = threading.Event()
        self.connected = threading.Event()
        self.ended = threading.Event()  # a connection's trickle ran out (not released)
        self.active = self.max_active = self.requests = 0
        self._lock = threading.Lock()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/cat.png"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with self._lock:
            self.active += 1
            self.requests += 1
            self.max_active = max(self.max_active, self.active)
        try:
            data = b""
            while b"\r\n\r\n" not in data and (chunk := conn.recv(4096)):
                data += chunk
            self.connected.set()
            conn.sendall(self.head)
            sent = 0
            while not self.release.wait(self.interval):
                if sent >= self.limit:
                    self.ended.set()
                    break
                conn.sendall(b"x")
                sent += 1
        except OSError:
            pass
        finally:
            with self._lock:
                self.active -= 1
            conn.close()

    def close(self) -> None:
        self.release.set()
        self._sock.close()


@pytest.fixture
def image_host():
    hosts: list[ImageHost] = []

    def make(head: bytes = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n", **kw):
        hosts.append(ImageHost(head, **kw))
        return hosts[-1]

    yield make
    for h in hosts:
        h.close()


def complete(c: httpx.Client, tid: str) -> dict:
    """Finish a task (the admin call waits for its image check) and return its admin summary."""
    r = c.post(f"/_mock/tasks/{tid}/complete")
    assert r.status_code == 200, r.text
    return r.json()


# 2 ------------------------------------------------------------------------------------- DNS rebinding
REBIND = "rebind.attacker.example"


def test_a_foreign_host_cannot_use_the_admin_api_or_the_dashboard(live):
    server, c = live()
    p = server.port
    browser = f"Host: {REBIND}:{p}\r\nOrigin: http://{REBIND}:{p}\r\nSec-Fetch-Site: same-origin\r\n"
    rule = b'{"outcome": {"status": "Error"}}'
    head = f"POST /_mock/rules HTTP/1.1\r\n{browser}Content-Type: application/json\r\nContent-Length: {len(rule)}\r\n"
    add = raw(p, head.encode() + b"Connection: close\r\n\r\n" + rule)
    assert status_of(add) == 421 and b"allowed_hosts" in add
    for path in ("/_mock/requests", "/_mock/ui", "/_mock/ui/app.js", "/_mock"):
        answer = raw(p, f"GET {path} HTTP/1.1\r\n{browser}Connection: close\r\n\r\n".encode())
        assert status_of(answer) == 421, path
    assert c.get("/_mock/rules").json()["rules"] == []  # nothing was added
    assert c.get("/v1/get_result?id=x", headers={"Host": REBIND}).status_code == 404  # the public API is not guarded


def test_an_absolute_form_request_line_names_the_host(live):
    server, c = live(frozen_clock=False)
    p = server.port
    for host_header in (f"{REBIND}:{p}", f"127.0.0.1:{p}"):
        line = f"POST http://{REBIND}:{p}/_mock/clock/freeze HTTP/1.1\r\nHost: {host_header}\r\n"
        answer = raw(p, (line + "Content-Length: 0\r\nConnection: close\r\n\r\n").encode())
        assert status_of(answer) == 421, host_header
    assert c.get("/_mock/clock").json()["frozen"] is False  # it was never frozen
    own = raw(
        p, f"GET http://127.0.0.1:{p}/_mock/rules HTTP/1.1\r\nHost: {REBIND}\r\nConnection: close\r\n\r\n".encode()
    )
    assert status_of(own) == 200  # the request line's own name is the fake's


def test_the_fakes_own_names_and_configured_hosts_are_answered(live):
    _, c = live(allowed_hosts=("bfl-mock.internal", ".team.example"), public_url="http://fake.ci:8787")
    for host in ("127.0.0.1", "localhost", "app.localhost", "[::1]", "bfl-mock.internal", "x.team.example",
                 "team.example", "fake.ci:8787", "BFL-MOCK.INTERNAL."):  # fmt: skip
        assert c.get("/_mock/rules", headers={"Host": host}).status_code == 200, host
    for host in ("team.example.evil", "bfl-mock.internal.evil", "127.0.0.1.nip.io", "0.0.0.0"):
        assert c.get("/_mock/rules", headers={"Host": host}).status_code == 421, host


def test_origin_is_checked_against_the_same_list(live):
    _, c = live(allowed_hosts=("bfl-mock.internal",))
    origin = {"Host": "bfl-mock.internal", "Origin": "http://bfl-mock.internal", "Sec-Fetch-Site": "same-origin"}
    assert c.post("/_mock/clock/advance", json={"seconds": 1}, headers=origin).status_code == 200  # a dashboard
    foreign = {"Host": "localhost", "Origin": f"http://{REBIND}"}
    assert c.get("/_mock/requests", headers=foreign).status_code == 403
    assert c.post("/_mock/reset", headers=foreign).status_code == 403


def test_bound_beyond_loopback_the_connections_own_address_and_star(live):
    _, c = live(host="0.0.0.0")
    assert c.get("/_mock/stats").status_code == 200  # 127.0.0.1: loopback
    assert c.get("/_mock/stats", headers={"Host": REBIND}).status_code == 421
    _, anyname = live(allowed_hosts=("*",))
    assert anyname.get("/_mock/stats", headers={"Host": REBIND}).status_code == 200


def test_with_an_admin_token_any_host_is_answered(live):
    _, c = live(admin_token="s3cret-token")
    auth = {"Authorization": "Bearer s3cret-token", "Host": "bfl-mock.team.example"}
    assert c.get("/_mock/stats", headers=auth).status_code == 200


# 3 ---------------------------------------------------------------------------- trickling image URLs
def test_a_trickling_image_url_ends_at_one_deadline_for_the_whole_fetch(live, image_host):
    host = image_host(limit=400)  # a byte per 10 ms: each read is quick, the whole never ends in time
    server, c = live(webhook_timeout_seconds=0.3)
    tid = c.post(KONTEXT, json={"prompt": "p", "input_image": host.url}).json()["id"]
    task = complete(c, tid)
    assert task["status"] == "Error" and "not complete within 0.3s" in task["image_error"]
    assert not host.ended.is_set() and not server.mock.backend.errors


def test_a_slow_image_url_is_dropped_below_the_minimum_rate(live, image_host):
    host = image_host(limit=400)  # ~100 bytes/s
    _, c = live(webhook_timeout_seconds=30, fetch_min_bytes_per_second=1000)
    tid = c.post(KONTEXT, json={"prompt": "p", "input_image": host.url}).json()["id"]
    task = complete(c, tid)
    assert task["status"] == "Error" and "slower than 1000 bytes/s" in task["image_error"]
    assert not host.ended.is_set()


def test_trickling_fetches_do_not_hold_the_render_threads(live, image_host):
    host = image_host(limit=1000)  # ten seconds of trickle unless released
    _, c = live(render_workers=1, webhook_timeout_seconds=30)
    slow = c.post(KONTEXT, json={"prompt": "p", "input_image": host.url}).json()["id"]
    assert host.connected.wait(10)
    other = c.post(SUBMIT, json=body(), headers={"x-key": "other"}).json()["id"]
    assert complete(c, other)["status"] == "Ready"  # rendered while the fetch still trickles
    assert c.get(f"/v1/get_result?id={other}", headers={"x-key": "other"}).json()["status"] == "Ready"
    assert not host.ended.is_set()
    host.release.set()
    assert complete(c, slow)["status"] == "Error"


def test_fetches_from_one_host_are_capped(live, image_host):
    host = image_host(limit=1000)
    server, c = live(fetch_per_host=1, fetch_workers=4, render_workers=2, fetch_min_bytes_per_second=0)
    ids = [c.post(KONTEXT, json={"prompt": "p", "input_image": host.url + f"?{i}"}).json()["id"] for i in range(3)]
    assert host.connected.wait(10)
    assert server.mock.backend.media.fetches.running(host.url) == 1  # the others wait their turn, holding no thread
    host.release.set()
    assert [complete(c, t)["status"] for t in ids] == ["Error"] * 3
    assert host.max_active == 1 and host.requests == 3 and not host.ended.is_set()


def test_the_fetch_pool_queues_per_host_and_runs_other_hosts():
    pool = FetchPool(workers=2, per_host=1)
    gate = threading.Event()
    try:
        first = pool.submit("http://a.example/1", lambda: gate.wait(10))
        queued = pool.submit("http://a.example:80/2", lambda: "a2")
        other = pool.submit("http://b.example/1", lambda: "b")
        assert other.result(10) == "b" and not queued.done()
        gate.set()
        assert first.result(10) is True and queued.result(10) == "a2"
        assert pool.running("http://a.example/") == 0
    finally:
        gate.set()
        pool.shutdown()


# 10 --------------------------------------------------------------------------- malformed image hosts
MALFORMED = {
    "bad status line": b"HTTP/1.1 OK-ish\r\n\r\n",
    "70 KB header": b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
    "120 headers": b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-H%d: 1\r\n" % i for i in range(120)) + b"\r\n",
    "broken chunking": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "short body": b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n\x89PNG",
}


@pytest.mark.parametrize("answer", list(MALFORMED), ids=list(MALFORMED))
def test_a_malformed_answer_is_an_unusable_image_not_an_internal_error(live, image_host, answer):
    host = image_host(MALFORMED[answer], limit=0)  # the answer, then the connection closes
    server, c = live()
    tid = c.post(KONTEXT, json={"prompt": "p", "input_image": host.url}).json()["id"]
    task = complete(c, tid)
    assert task["status"] == "Error" and "not fetched" in task["image_error"]
    poll = c.get(f"/v1/get_result?id={tid}").json()
    assert poll["details"] == {"error": "Invalid or corrupted image input"}
    assert not server.mock.backend.errors and c.get("/_mock/stats").status_code == 200


# 11 ------------------------------------------------------------------------------ the fake's own addresses
def test_the_admin_api_refuses_the_image_fetchers_user_agent(live):
    _, c = live()
    r = c.get("/_mock/stats", headers={"User-Agent": FETCH_USER_AGENT})
    assert r.status_code == 403 and "bfl-mock itself" in r.json()["detail"]


OWN_ADDRESS_SCRIPT = textwrap.dedent(
    """
    import json, httpx
    from mock_server.frontends.server import LiveServer
    from mock_server.mock import BflMock
    server = LiveServer(BflMock(frozen_clock=True, progression="manual"), host="0.0.0.0").start()
    c = httpx.Client(base_url=server.url, headers={"x-key": "k"}, timeout=30, trust_env=False)
    out = {}
    for name, port in (("own port", server.port), ("other port", 9)):
        url = f"http://10.203.0.2:{port}/_mock/ui/app.js"
        tid = c.post("/v1/flux-kontext-pro", json={"prompt": "p", "input_image": url}).json()["id"]
        out[name] = c.post(f"/_mock/tasks/{tid}/complete").json()["image_error"]
    out["fetched"] = [e["headers"].get("user-agent") for e in c.get("/_mock/requests").json()["requests"]
                      if e["path"].startswith("/_mock/ui")]
    server.stop()
    print(json.dumps(out))
    """
)


def test_bound_to_all_addresses_it_never_fetches_its_own_non_loopback_address():
    """In a network namespace of its own, the host's address 10.203.0.2 is on the loopback device but is not
    a loopback address: the fake bound to 0.0.0.0 must know it as its own."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-n", "true"]).returncode != 0:
        pytest.skip("needs unshare -n (a network namespace)")
    setup = "ip link set lo up && ip addr add 10.203.0.2/32 dev lo"
    cmd = ["unshare", "-n", "sh", "-c", f'{setup} && exec "$0" -c "$1"', sys.executable, OWN_ADDRESS_SCRIPT]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert "bfl-mock itself" in out["own port"], out
    assert "this host's own addresses" in out["other port"], out
    assert out["fetched"] == [], out  # it never called itself


# 13 ----------------------------------------------------------------------------------- access log lines
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_access_log_lines_cannot_be_forged(fmt):
    buf = io.StringIO()
    mock = BflMock(**FROZEN)
    forged = "/v1/get_result%0d%0a127.0.0.1%20%22GET%20/_mock/reset%20HTTP/1.1%22%20200%200%200.1ms%1b[2J%e2%80%a8x"
    with ThreadedServer(create_app(mock, access_log=AccessLog(buf, fmt))) as server:
        answer = raw(server.port, f"GET {forged}?id=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    mock.close()
    assert status_of(answer) == 404
    lines = buf.getvalue().splitlines()
    assert len(lines) == 1, lines
    if fmt == "json":
        entry = json.loads(lines[0])
        assert entry["path"].startswith('/v1/get_result\r\n127.0.0.1 "GET') and "\u2028" in entry["path"]
    else:
        assert lines[0].count('"') == 2 and "\x1b" not in lines[0] and "\u2028" not in lines[0]
        assert "/v1/get_result\\x0d\\x0a127.0.0.1 \\x22GET" in lines[0] and "\\u2028x" in lines[0]


# 14 ------------------------------------------------------------------------------- admin-token guessing
def test_wrong_admin_tokens_are_throttled_per_client(live):
    server, c = live(admin_token="s3cret-token")
    now = [1000.0]
    server.mock.http.admin.throttle.clock = lambda: now[0]
    codes = [c.get("/_mock/stats", headers={"X-Admin-Token": f"guess-{i}"}).status_code for i in range(10)]
    assert codes == [403] * 10
    r = c.get("/_mock/stats", headers={"X-Admin-Token": "guess-10"})
    assert r.status_code == 429 and r.headers["retry-after"] == "1" and "too many wrong" in r.json()["detail"]
    right = {"Authorization": "Bearer s3cret-token"}
    assert c.get("/_mock/stats", headers=right).status_code == 429  # a guesser learns nothing while throttled
    assert c.post("/_mock/ui/login", json={"token": "s3cret-token"}).status_code == 429
    now[0] += 1.0
    assert c.get("/_mock/stats", headers=right).status_code == 200
    assert c.post("/_mock/ui/login", json={"token": "nope"}).status_code == 403  # the one refilled attempt
    assert c.get("/_mock/stats", headers=right).status_code == 429


def test_the_throttle_remembers_a_bounded_number_of_clients():
    now = [0.0]
    t = AuthThrottle(burst=1, per_second=1.0, max_clients=3, clock=lambda: now[0])
    for i in range(100):
        t.failed(f"10.0.0.{i}")
    assert len(t) == 3
    for i in range(5):  # IPv6 clients count per /64
        t.failed(f"2001:db8::{i}")
    assert len(t) == 3
    with pytest.raises(Exception) as refused:
        t.check("2001:db8::ffff")
    assert refused.value.status == 429  # type: ignore[attr-defined]


# NaN / Infinity ------------------------------------------------------------------------------------
@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_in_a_body_are_a_422_where_stock_fastapi_answers_500(live, literal):
    """A deliberate deviation (Fidelity table): FastAPI parses the literals, then cannot render them in its
    own 422 (``allow_nan=False``) and answers 500; the fake answers that 422 with ``input: null``."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from contract_tests.oracle import oracle_app

    _, c = live()
    content = b'{"finetune_id":"a","prompt":"b","control_image":"%s","finetune_strength":%s}' % (
        b64_image(np.zeros((8, 8), "uint8")).encode(),
        literal,
    )
    headers = {"content-type": "application/json", "x-key": "k"}
    r = c.post(SUBMIT, content=content, headers=headers)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "finetune_strength"] and r.json()["detail"][0]["input"] is None
    with TestClient(oracle_app(), raise_server_exceptions=False) as oracle:
        assert oracle.post(SUBMIT, content=content, headers=headers).status_code == 500
