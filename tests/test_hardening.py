"""Hostile input can't hurt it (issue 11): one regression test per reproduced finding.

Black-box findings are tested over loopback against a live server; memory findings are also measured, with
figures, by ``make attack`` (scripts/attack.py) rather than asserted by timing here.
"""

from __future__ import annotations

import base64
import io
import socket
import threading

import httpx
import numpy as np
import pytest
from bfl_helpers import BASE, SUBMIT, body, poll_until_done, small_control
from PIL import Image

from mock_server.core.clock import DEFAULT_FROZEN_START
from mock_server.core.errors import INVALID_SECRET, AzureError, ErrorLog, InternalError
from mock_server.frontends.server import LiveServer, WebhookReceiver
from mock_server.frontends.transport import BflTransport
from mock_server.http.admin import _loopback
from mock_server.mock import BflMock
from mock_server.webhooks.client import is_loopback
from mock_server.webhooks.notify import USER_AGENT

FROZEN = {"frozen_clock": True, "seed": 1, "progression": "manual"}


def inproc(**settings):
    mock = BflMock(**{**FROZEN, **settings})
    return mock, httpx.Client(transport=BflTransport(mock), base_url=BASE, headers={"x-key": "k"})


@pytest.fixture
def live():
    servers = []

    def start(host="127.0.0.1", **settings):
        server = LiveServer(BflMock(**{**FROZEN, **settings}), host=host).start()
        servers.append(server)
        return server, httpx.Client(base_url=server.url, headers={"x-key": "k"}, timeout=10, trust_env=False)

    yield start
    for s in servers:
        s.stop()


def png(width: int, height: int) -> str:
    buf = io.BytesIO()
    Image.new("L", (width, height), 200).save(buf, "PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode()


# 1 ------------------------------------------------------------------------------------------ SSRF
def test_a_webhook_cannot_reach_the_fakes_own_admin_api(live):
    server, c = live()
    keep = c.post(SUBMIT, json=body()).json()["id"]
    hook = f"http://127.0.0.1:{server.port}/_mock/reset"
    tid = c.post(SUBMIT, json=body(webhook_url=hook)).json()["id"]
    assert c.post(f"/_mock/tasks/{tid}/complete").status_code == 200
    d = server.mock.webhooks.wait_for(tid)
    assert d.state == "blocked" and "bfl-mock itself" in d.attempts[0].error
    assert keep in [t["id"] for t in c.get("/_mock/tasks").json()["tasks"]]  # nothing was reset


def test_the_admin_api_refuses_requests_the_fake_makes_itself(live):
    _, c = live()
    r = c.get("/_mock/stats", headers={"User-Agent": USER_AGENT})
    assert r.status_code == 403 and "bfl-mock itself" in r.json()["detail"]


def test_a_shared_fake_does_not_call_loopback_unless_allowed(live):
    with WebhookReceiver() as receiver:
        server, c = live(host="0.0.0.0")
        tid = c.post(SUBMIT, json=body(webhook_url=receiver.url + "/hook")).json()["id"]
        c.post(f"/_mock/tasks/{tid}/complete")
        d = server.mock.webhooks.wait_for(tid)
        assert d.state == "blocked" and "loopback" in d.attempts[0].error and receiver.received == []
        server2, c2 = live(host="0.0.0.0", webhook_allow=("loopback",))
        tid = c2.post(SUBMIT, json=body(webhook_url=receiver.url + "/hook")).json()["id"]
        c2.post(f"/_mock/tasks/{tid}/complete")
        assert server2.mock.webhooks.wait_for(tid).state == "delivered"


# 2 ------------------------------------------------------------------------------------------ header injection
@pytest.mark.parametrize("secret", ["s3cr3t\r\nX-Injected: yes\r\nTransfer-Encoding: chunked", "s\u20accret", "a\x00b"])
def test_a_secret_that_cannot_be_a_header_is_never_sent(live, secret):
    with WebhookReceiver() as receiver:
        server, c = live()
        r = c.post(SUBMIT, json=body(webhook_url=receiver.url, webhook_secret=secret))
        assert r.status_code == 200  # the spec puts no constraint on webhook_secret: accepted at submit
        tid = r.json()["id"]
        c.post(f"/_mock/tasks/{tid}/complete")
        d = server.mock.webhooks.wait_for(tid)
    assert d.state == "failed" and d.attempts[0].error == INVALID_SECRET
    assert receiver.received == []


def test_a_non_ascii_secret_still_signs_in_the_hmac_profile():
    with WebhookReceiver(secret="s\u20accret", profile="hmac") as receiver:
        mock, c = inproc(webhook_profile="hmac", webhook_allow=("loopback",))
        with mock, c:
            tid = c.post(SUBMIT, json=body(webhook_url=receiver.url, webhook_secret="s\u20accret")).json()["id"]
            mock.complete(tid)
            assert mock.webhooks.wait_for(tid).state == "delivered"
    assert receiver.received[0].status == 200  # the receiver verified the signature


# 3 ------------------------------------------------------------------------------------------ deep nesting, errors
@pytest.mark.parametrize("depth", [600, 5000])
def test_deep_nesting_answers_as_fastapi_does(live, depth):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from contract_tests.oracle import oracle_app

    _, c = live()
    content = '{"finetune_id":"x","prompt":' + "[" * depth + "]" * depth + ',"control_image":"aa"}'
    headers = {"content-type": "application/json", "x-key": "k"}
    got = c.post(SUBMIT, content=content, headers=headers)
    with TestClient(oracle_app(), raise_server_exceptions=False) as oracle:
        want = oracle.post(SUBMIT, content=content, headers=headers)
    assert got.status_code == want.status_code and got.status_code in (400, 422)
    assert got.json() == want.json()


def test_the_error_log_is_bounded_and_keeps_no_frames():
    log = ErrorLog(max_errors=10)
    for i in range(25):
        try:
            big = "x" * 1_000_000  # a request body in the failing frame
            raise ValueError(f"boom {i} {len(big)}")
        except ValueError as e:
            err = log.append(e)
            assert e.__traceback__ is None  # the frame (and `big`) is released
    assert len(log) == 10 and log.total == 25
    assert isinstance(err, InternalError) and "boom 24" in str(err) and "raise ValueError" in err.trace
    first = log.pop_first()
    assert first is not None and "boom 0" in str(first) and not log


# 4 ------------------------------------------------------------------------------------------ 404 exception reuse
def test_a_404_download_raises_a_fresh_exception_each_time():
    mock, c = inproc(progression="polls:1", retention_seconds=10)
    with mock, c:
        tid = c.post(SUBMIT, json=body()).json()["id"]
        sample = poll_until_done(c, tid)[-1]["result"]["sample"]
        mock.clock.advance(11)
        assert c.get(f"/v1/get_result?id={tid}").status_code == 404  # evicted
        path, _, query = sample.split("bfl.ai", 1)[1].partition("?")
        seen = []
        for _ in range(3):
            with pytest.raises(AzureError) as info:
                mock.backend.blob(path, query)
            seen.append(info.value)
        assert len({id(e) for e in seen}) == 3 and all(e.__context__ is None for e in seen)
        assert c.get(sample).status_code == 404


# 5 ------------------------------------------------------------------------------------------ per-client memory
def test_the_journal_is_bounded_by_bytes_and_clips_long_fields():
    mock, c = inproc(journal_bytes=2_000_000)
    with mock, c:
        for _ in range(20):
            c.post(SUBMIT, json={"prompt": "p" * 1_000_000, "control_image": "x"}, headers={"x-key": ""})
        assert mock.journal.nbytes <= 2_000_000 and len(mock.journal) >= 1
        prompt = mock.requests.last.body["prompt"]
        assert len(prompt) < 1100 and prompt.endswith("(1000000 chars)")


def test_huge_headers_get_431_over_the_network(live):
    _server, c = live()
    r = c.get("/v1/get_result?id=x", headers={"x-key": "k" * 2_000_000})
    assert r.status_code == 431 and r.json() == {"detail": "Request Header Fields Too Large"}
    assert c.get("/health").status_code == 200


def test_rate_limit_buckets_and_accounts_are_bounded():
    mock, c = inproc(max_clients=50, max_accounts=20)
    with mock, c:
        for i in range(300):
            c.get("/v1/get_result?id=x", headers={"x-key": f"key-{i}"})
            c.get("/v1/credits", headers={"x-key": f"key-{i}"})
        assert len(mock.backend.buckets) == 50
        assert len(mock.backend.accounts) == 0  # reading a balance creates nothing
        for i in range(60):
            assert c.post(SUBMIT, json=body(), headers={"x-key": f"sub-{i}"}).status_code == 200
        assert len(mock.backend.accounts) <= 20 + 60  # idle ones go first; these all have active tasks
        for t in mock.tasks():
            mock.complete(t.id)
        c.post(SUBMIT, json=body(), headers={"x-key": "one-more"})
        assert len(mock.backend.accounts) <= 20


def test_the_task_store_has_a_byte_budget():
    mock, c = inproc(max_task_bytes=3_000_000, progression="polls:1")
    with mock, c:
        first = c.post(SUBMIT, json=body(prompt="p" * 1_000_000)).json()["id"]
        c.post(SUBMIT, json=body(prompt="p" * 1_000_000))
        poll_until_done(c, first)  # finished: may be evicted for room
        r = c.post(SUBMIT, json=body(prompt="q" * 1_000_000))
        assert r.status_code == 200
        assert c.get(f"/v1/get_result?id={first}").status_code == 404
        r = c.post(SUBMIT, json=body(prompt="q" * 1_000_000))  # only active tasks left: refused, none lost
        assert r.status_code == 429
        assert mock.backend.stats()["task_bytes"] <= 3_000_000


# 6 ------------------------------------------------------------------------------------------ thin images
@pytest.mark.parametrize(("w", "h"), [(1, 5_000_000), (20_000, 16)])
def test_thin_images_end_as_error_tasks_not_internal_errors(w, h):
    mock, c = inproc(progression="polls:1")
    with mock, c:
        tid = c.post(SUBMIT, json=body(control_image=png(w, h))).json()["id"]
        final = poll_until_done(c, tid)[-1]
        assert final["status"] == "Error" and final["details"] == {"error": "Invalid or corrupted image input"}
        assert "output" in mock.task(tid).summary()["image_error"]
        assert not mock.backend.errors


# 7 ------------------------------------------------------------------------------------------ bad outcomes, bad tasks
def test_outcomes_are_validated_when_the_rule_is_added(live):
    _, c = live()
    r = c.post("/_mock/rules", json={"match": {}, "outcome": {"webhook": {"early": "abc"}}})
    assert r.status_code == 400 and "early" in r.json()["detail"]
    r = c.post("/_mock/rules", json={"match": {}, "outcome": {"webhook": {"drop": "yes"}}})
    assert r.status_code == 400 and "drop" in r.json()["detail"]
    r = c.post("/_mock/clock/set", json={"time": 1e12})
    assert r.status_code == 400 and "body.time" in r.json()["detail"]
    assert c.get("/_mock/tasks").status_code == 200


def test_one_failing_task_does_not_stop_the_scheduler(monkeypatch):
    with WebhookReceiver() as receiver:
        mock, c = inproc(progression="time:1", webhook_allow=("loopback",))
        with mock, c:
            bad = c.post(SUBMIT, json=body(webhook_url=receiver.url + "/bad")).json()["id"]
            good = c.post(SUBMIT, json=body(webhook_url=receiver.url + "/good")).json()["id"]
            real_url = mock.backend.signer.url

            def url(origin, path, *a):
                if not getattr(url, "failed", False):  # the first task to finish fails inside the fake
                    url.failed = True  # type: ignore[attr-defined]
                    raise RuntimeError("signer exploded")
                return real_url(origin, path, *a)

            monkeypatch.setattr(mock.backend.signer, "url", url)
            mock.webhooks.ensure_started()
            mock.clock.advance(1)
            delivered = mock.webhooks.wait_for(good).state, mock.webhooks.wait_for(bad).state
            statuses = {tid: c.get(f"/v1/get_result?id={tid}").json()["status"] for tid in (bad, good)}
            errors = len(mock.backend.errors)
            mock.backend.errors.clear()
    assert delivered == ("delivered", "delivered")
    assert sorted(statuses.values()) == ["Error", "Ready"] and errors == 1


# 8 ------------------------------------------------------------------------------------------ admin never blocks
def test_admin_complete_waits_off_the_event_loop(live, monkeypatch):
    server, c = live(inline_check_bytes=0)  # the check on the render pool, slowed down below
    other = c.post(SUBMIT, json=body()).json()["id"]
    release = threading.Event()
    real = server.mock.backend.media._prepare_job

    def slow_render(task, *a):
        release.wait(20)
        return real(task, *a)

    monkeypatch.setattr(server.mock.backend.media, "_prepare_job", slow_render)
    slow = c.post(SUBMIT, json=body()).json()["id"]
    answer: dict = {}
    t = threading.Thread(target=lambda: answer.update(r=c.post(f"/_mock/tasks/{slow}/complete")))
    t.start()
    with httpx.Client(base_url=server.url, timeout=10) as other_client:
        polled = other_client.get(f"/v1/get_result?id={other}")  # answered while complete still waits
    still_waiting = t.is_alive()
    release.set()
    t.join(20)
    assert polled.status_code == 200 and still_waiting
    assert answer["r"].status_code == 200 and answer["r"].json()["status"] == "Ready"


# 9 ------------------------------------------------------------------------------------------ slowloris
def _half_open(port: int, data: bytes = b"GET /v1/get_result?id=x HTTP/1.1\r\nHost: x\r\n") -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(data)
    return s


def _read_all(s: socket.socket) -> bytes:
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    return out


def test_unfinished_headers_time_out_with_408(live):
    server, _ = live(header_timeout_seconds=0.3)
    s = _half_open(server.port)
    answer = _read_all(s)  # the server closes the connection: no sleeping here
    s.close()
    assert answer.startswith(b"HTTP/1.1 408")


def test_an_unfinished_body_times_out_with_408(live):
    server, _ = live(body_timeout_seconds=0.3)
    head = f"POST {SUBMIT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
    s = _half_open(server.port, head.encode())
    answer = _read_all(s)
    s.close()
    assert answer.startswith(b"HTTP/1.1 408")


def test_new_clients_are_served_while_connections_are_held_open(live):
    server, c = live(max_connections=20, header_timeout_seconds=60)
    held = [_half_open(server.port) for _ in range(60)]
    try:
        for _ in range(5):
            assert c.get("/health").status_code == 200
        closed = 0
        for s in held:
            s.settimeout(0.001 if closed >= 40 else 5)
            try:
                if s.recv(1) == b"":
                    closed += 1
            except ConnectionResetError:  # closed before the server read what it sent: a reset, not a FIN
                closed += 1
            except (TimeoutError, OSError):
                pass
        assert closed >= 40  # the oldest half-open connections made room
    finally:
        for s in held:
            s.close()


# 10 ----------------------------------------------------------------------------------------- webhook fairness
def test_a_receiver_that_never_answers_does_not_delay_other_hosts():
    with WebhookReceiver(hang=True) as slow, WebhookReceiver() as fast:
        mock, c = inproc(webhook_allow=("loopback",), webhook_timeout_seconds=8, webhook_per_host=4)
        with mock, c:
            for _ in range(100):  # more than the 64 global slots
                mock.complete(c.post(SUBMIT, json=body(webhook_url=slow.url)).json()["id"])
            slow.wait(4)  # four in flight to the slow host: the rest wait for its slots, not the global ones
            tid = c.post(SUBMIT, json=body(webhook_url=fast.url.replace("127.0.0.1", "localhost"))).json()["id"]
            mock.complete(tid)
            assert mock.webhooks.wait_for(tid, timeout=5, advance=False).state == "delivered"
            assert len(slow.received) == 4


def test_the_delivery_journal_is_bounded():
    with WebhookReceiver() as receiver:
        mock, c = inproc(webhook_allow=("loopback",), webhook_journal_size=5)
        with mock, c:
            ids = [c.post(SUBMIT, json=body(webhook_url=receiver.url)).json()["id"] for _ in range(12)]
            for tid in ids:
                mock.complete(tid)
                mock.webhooks.wait_for(tid)
            assert len(mock.webhooks.deliveries) == 5
            assert [d.task_id for d in mock.webhooks.deliveries] == ids[-5:]


# 11 ----------------------------------------------------------------------------------------- secrets
def test_no_secret_in_the_journal_whatever_its_shape():
    mock, c = inproc()
    with mock, c:
        r = c.post(SUBMIT, json={"prompt": "p", "webhook_secret": "hunter2-secret"})  # 422 echoes the input
        assert r.status_code == 422 and "hunter2-secret" in r.text
        c.post(SUBMIT, json=body(webhook_secret=["hunter2-secret", {"x": "hunter2-secret"}]))
        c.post(SUBMIT, json=body(nested={"webhook_secret": "hunter2-secret"}))
        dumped = httpx.Client(transport=BflTransport(mock), base_url=BASE).get("/_mock/requests").text
        assert len(mock.requests) == 3 and "hunter2" not in dumped


# 12 ----------------------------------------------------------------------------------------- orphan edge maps
def test_renders_finishing_after_a_reset_leave_nothing(monkeypatch):
    mock, c = inproc(inline_check_bytes=0)  # the checks queued on the render pool, finishing after the reset
    with mock, c:
        release = threading.Event()
        real = mock.backend.media._prepare_job
        monkeypatch.setattr(mock.backend.media, "_prepare_job", lambda task, *a: (release.wait(20), real(task, *a))[1])
        futures = [mock.task(c.post(SUBMIT, json=body()).json()["id"]).image_job for _ in range(4)]
        mock.reset()
        release.set()
        for f in futures:
            with pytest.raises(LookupError):
                f.result(20)
        stats = mock.backend.stats()
        assert (stats["results"]["in_memory"], stats["results"]["on_disk"], stats["image_cache_bytes"]) == (0, 0, 0)


# 13 ----------------------------------------------------------------------------------------- admin input
@pytest.mark.parametrize("query", ["limit=abc", "status=%C2%B2", "limit=-1", "status=4e2"])
def test_bad_admin_queries_are_400(live, query):
    _, c = live()
    r = c.get(f"/_mock/requests?{query}")
    assert r.status_code == 400 and "non-negative integer" in r.json()["detail"]


@pytest.mark.parametrize("value", ["\u20ac", "a\r\nX-Evil: 1", "a\x00"])
def test_rule_headers_that_cannot_be_sent_are_400(live, value):
    _, c = live()
    r = c.post("/_mock/rules", json={"match": {}, "outcome": {"http_status": 503, "headers": {"Retry-After": value}}})
    assert r.status_code == 400 and "Retry-After" in r.json()["detail"]


# 14 ----------------------------------------------------------------------------------------- reset is complete
def test_reset_restores_clock_moderation_rule_ids_and_configuration():
    mock = BflMock(frozen_clock=True)
    mock.configure({"finetunes": {"brand-v3": {}}, "credits": {"low": 4}})
    mock.clock.advance(100_000)
    mock.moderator.set([{"reason": "Safety Filter", "threshold": 7, "words": ["cube"]}])
    mock.add_rule({"prompt_contains": "x"}, "error")
    mock.finetunes.delete("brand-v3")
    mock.reset()
    assert mock.clock.now() == DEFAULT_FROZEN_START
    assert mock.moderator.reasons("a red cube", 2) == []
    assert mock.add_rule({}, "error").id == 1
    assert "brand-v3" in mock.finetunes.ids() and mock.credits("low") == 4
    mock.close()


# 15 ----------------------------------------------------------------------------------------- X-Mock-Key scoping
def test_x_mock_key_scopes_the_request_journal_and_webhook_clearing(live):
    with WebhookReceiver() as receiver:
        server, c = live(webhook_allow=("loopback",))
        a = c.post(SUBMIT, json=body(webhook_url=receiver.url), headers={"x-key": "worker-a"}).json()["id"]
        b = c.post(SUBMIT, json=body(webhook_url=receiver.url), headers={"x-key": "worker-b"}).json()["id"]
        for tid in (a, b):
            c.post(f"/_mock/tasks/{tid}/complete")
            server.mock.webhooks.wait_for(tid)
        mine = c.get("/_mock/requests", headers={"X-Mock-Key": "worker-a"}).json()["requests"]
        assert len(mine) == 1 and mine[0]["task_id"] == a
        assert c.delete("/_mock/webhooks", headers={"X-Mock-Key": "worker-a"}).status_code == 200
        left = [d["task_id"] for d in c.get("/_mock/webhooks").json()["webhooks"]]
        assert left == [b]


# 16 ----------------------------------------------------------------------------------------- loopback checks
def test_loopback_checks():
    assert _loopback("::ffff:127.0.0.1") and _loopback("127.9.9.9") and _loopback("::1")
    assert not _loopback("::ffff:10.0.0.1") and not _loopback("10.0.0.1")
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("[::1]")
    assert not is_loopback("127.attacker.example") and not is_loopback("localhost.attacker.example")


def test_admin_from_ipv4_on_a_dual_stack_server(live):
    try:
        server, _ = live(host="::")
    except (OSError, RuntimeError) as e:
        pytest.skip(f"no IPv6 here: {e}")
    r = httpx.get(f"http://127.0.0.1:{server.port}/_mock/stats", trust_env=False)
    assert r.status_code == 200


def test_webhook_allow_loopback_refuses_lookalike_names():
    mock, c = inproc(webhook_allow=("loopback",))
    with mock, c:
        tid = c.post(SUBMIT, json=body(webhook_url="http://127.attacker.example/hook")).json()["id"]
        mock.complete(tid)
        assert mock.webhooks.wait_for(tid).state == "blocked"


# 17 ----------------------------------------------------------------------------------------- finetunes per account
def test_finetunes_are_scoped_to_the_account(live):
    _, c = live()
    r = c.post("/v1/delete_finetune", json={"finetune_id": "my-finetune"}, headers={"x-key": "mallory"})
    assert r.status_code == 200
    assert "my-finetune" not in c.get("/v1/my_finetunes", headers={"x-key": "mallory"}).json()["finetunes"]
    assert "my-finetune" in c.get("/v1/my_finetunes", headers={"x-key": "alice"}).json()["finetunes"]
    assert c.post(SUBMIT, json=body(), headers={"x-key": "alice"}).status_code == 200


def test_control_image_helper_is_real():
    assert base64.b64decode(small_control())[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.asarray(Image.open(io.BytesIO(base64.b64decode(png(3, 2))))).shape == (2, 3)
