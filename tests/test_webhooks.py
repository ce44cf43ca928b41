"""Webhooks against a real receiver on a loopback port (issue 4)."""

from __future__ import annotations

import hashlib
import hmac
import socket
import subprocess
import sys

import httpx
import pytest
from bfl_helpers import BASE, SUBMIT, body, poll_until_done

from mock_server.frontends.server import WebhookReceiver
from mock_server.frontends.transport import BflTransport
from mock_server.mock import BflMock


@pytest.fixture
def receiver():
    with WebhookReceiver() as r:
        yield r


def setup(**settings):
    settings = {
        "frozen_clock": True,
        "seed": 3,
        "progression": "polls:2,after=1",
        "webhook_allow": ("loopback",),
        **settings,
    }
    mock = BflMock(**settings)
    return mock, httpx.Client(transport=BflTransport(mock), base_url=BASE, headers={"x-key": "k"})


def start(client, receiver, path="/hook", headers=None, **kw):
    r = client.post(SUBMIT, json=body(webhook_url=receiver.url + path, **kw), headers=headers or {})
    assert r.status_code == 200, r.text
    return r.json()["id"]


def test_bfl_profile_body_and_raw_secret(receiver):
    mock, c = setup()
    with mock, c:
        tid = start(c, receiver, webhook_secret="s3cret-value")
        mock.clock.advance(1)  # nobody polls: the task finishes on the clock
        d = mock.webhooks.wait_for(tid)
        got = receiver.wait(1)[0]
    assert d.state == "delivered" and [a.status for a in d.attempts] == [200]
    assert got.path == "/hook" and got.headers["content-type"] == "application/json"
    assert got.headers["x-webhook-secret"] == "s3cret-value"
    payload = got.json
    assert list(payload) == ["task_id", "status", "result"]
    assert payload["task_id"] == tid and payload["status"] == "SUCCESS"
    assert set(payload["result"]) == {"sample", "prompt", "seed", "start_time", "end_time", "duration"}
    journal = d.to_dict()
    assert journal["headers"]["X-Webhook-Secret"] == "s3***"  # redacted in the journal
    assert journal["body"] == payload


def test_hmac_profile_verifies_with_the_standard_library(receiver):
    mock, c = setup(webhook_profile="hmac")
    with mock, c:
        tid = start(c, receiver, webhook_secret="k3y", headers={"X-Mock-Scenario": "error"})
        poll_until_done(c, tid)
        mock.webhooks.wait_for(tid)
        got = receiver.wait(1)[0]
    expected = "sha256=" + hmac.new(b"k3y", got.body, hashlib.sha256).hexdigest()
    assert got.headers["x-bfl-signature"] == expected
    payload = got.json
    assert list(payload) == ["id", "status", "result", "details", "timestamp"]
    assert (payload["status"], payload["result"], payload["details"]) == (
        "Error",
        None,
        {"error": "Internal error during generation"},
    )


def test_failed_task_in_bfl_profile(receiver):
    mock, c = setup()
    with mock, c:
        tid = start(c, receiver, headers={"X-Mock-Scenario": "request-moderated"})
        poll_until_done(c, tid)
        mock.webhooks.wait_for(tid)
    payload = receiver.wait(1)[0].json
    assert payload == {"task_id": tid, "status": "FAILED", "result": None, "error": "Safety Filter"}
    assert "x-webhook-secret" not in receiver.received[0].headers


def test_500_then_200_is_retried_on_the_fake_clock():
    with WebhookReceiver(statuses=[500, 503, 200]) as receiver:
        mock, c = setup()
        with mock, c:
            tid = start(c, receiver)
            poll_until_done(c, tid)
            d = mock.webhooks.wait_for(tid, attempts=1)
            assert d.state == "pending" and d.attempts[0].status == 500
            assert len(receiver.received) == 1  # no retry until the clock reaches the backoff
            mock.clock.advance(1)
            mock.webhooks.wait_for(tid, attempts=2)
            mock.clock.advance(2)
            d = mock.webhooks.wait_for(tid)
    assert d.state == "delivered" and [a.status for a in d.attempts] == [500, 503, 200]
    assert [a.at - d.attempts[0].at for a in d.attempts] == [0, 1, 3]


def test_receiver_down_gives_up_after_the_backoff_schedule():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there
    mock, c = setup(webhook_backoff=(1, 2))
    with mock, c:
        r = c.post(SUBMIT, json=body(webhook_url=f"http://127.0.0.1:{port}/hook"))
        tid = r.json()["id"]
        poll_until_done(c, tid)
        for n, wait in ((1, 1), (2, 2)):
            d = mock.webhooks.wait_for(tid, attempts=n)
            mock.clock.advance(wait)
        d = mock.webhooks.wait_for(tid)
    assert d.state == "failed" and len(d.attempts) == 3
    assert all(a.status is None and "ConnectionRefusedError" in a.error for a in d.attempts)


def test_slow_receiver_times_out_and_is_retried():
    with WebhookReceiver(hang=True) as receiver:
        mock, c = setup(webhook_timeout_seconds=0.2, webhook_backoff=(5,))
        with mock, c:
            tid = start(c, receiver)
            poll_until_done(c, tid)
            d = mock.webhooks.wait_for(tid, attempts=1)
            assert d.attempts[0].error.startswith("timeout") and d.state == "pending"
            mock.clock.advance(5)
            d = mock.webhooks.wait_for(tid)
    assert d.state == "failed" and len(d.attempts) == 2


@pytest.mark.parametrize(("statuses", "attempts"), [([408, 200], 2), ([429, 200], 2), ([400], 1), ([302], 1)])
def test_which_statuses_are_retried(statuses, attempts):
    with WebhookReceiver(statuses=statuses) as receiver:
        mock, c = setup(webhook_backoff=(1,))
        with mock, c:
            tid = start(c, receiver)
            poll_until_done(c, tid)
            mock.webhooks.wait_for(tid, attempts=1)
            mock.clock.advance(1)
            d = mock.webhooks.wait_for(tid)
    assert len(d.attempts) == attempts
    assert d.state == ("delivered" if statuses[-1] == 200 else "failed")


def test_faults_drop_duplicate_delay_bad_secret(receiver):
    mock, c = setup()
    with mock, c:
        dropped = start(c, receiver, headers={"X-Mock-Webhook-Fault": "drop"})
        dup = start(c, receiver, "/dup", headers={"X-Mock-Webhook-Fault": "duplicate"})
        forged = start(c, receiver, "/forged", webhook_secret="real", headers={"X-Mock-Webhook-Fault": "bad-secret"})
        delayed = start(c, receiver, "/delayed", headers={"X-Mock-Webhook-Fault": "delay=5"})
        mock.clock.advance(1)
        assert mock.webhooks.wait_for(dropped).state == "dropped"
        assert mock.webhooks.wait_for(dup).state == "delivered"
        assert mock.webhooks.wait_for(forged).state == "delivered"
        assert mock.webhooks.for_task(delayed)[0].attempts == []
        mock.clock.advance(5)
        assert mock.webhooks.wait_for(delayed).state == "delivered"
        got = receiver.wait(4)
    paths = sorted(r.path for r in got)
    assert paths == ["/delayed", "/dup", "/dup", "/forged"]
    forged_req = next(r for r in got if r.path == "/forged")
    assert forged_req.headers["x-webhook-secret"] != "real"


def test_early_fault_notifies_before_get_result_shows_ready(receiver):
    mock, c = setup(progression="polls:1")
    with mock, c:
        tid = start(c, receiver, headers={"X-Mock-Webhook-Fault": "early=3"})
        first = c.get("/v1/get_result", params={"id": tid}).json()
        assert mock.webhooks.wait_for(tid).state == "delivered"
        assert receiver.wait(1)[0].json["status"] == "SUCCESS"
        assert first["status"] == "Pending"
        assert c.get("/v1/get_result", params={"id": tid}).json()["status"] == "Pending"
        mock.clock.advance(3)
        assert c.get("/v1/get_result", params={"id": tid}).json()["status"] == "Ready"


def test_fault_rule_and_bad_fault_header(receiver):
    mock, c = setup()
    with mock, c:
        mock.add_rule({"prompt_contains": "drop me"}, {"webhook": {"drop": True}})
        tid = start(c, receiver, prompt="please drop me")
        mock.clock.advance(1)
        assert mock.webhooks.wait_for(tid).state == "dropped"
        r = c.post(SUBMIT, json=body(webhook_url=receiver.url), headers={"X-Mock-Webhook-Fault": "explode"})
        assert r.status_code == 400 and "unknown webhook fault" in r.json()["detail"]


def test_allow_list_blocks_other_hosts(receiver):
    mock, c = setup(webhook_allow=("hooks.example.test",))
    with mock, c:
        tid = start(c, receiver)
        mock.clock.advance(1)
        assert mock.webhooks.wait_for(tid).state == "blocked"
    assert receiver.received == []


def test_burst_of_500_webhooks_no_loss_no_duplicates(receiver):
    mock, c = setup(active_task_limit=0)
    with mock, c:
        ids = [start(c, receiver, f"/t/{i}") for i in range(500)]
        mock.clock.advance(1)
        for tid in ids:
            d = mock.webhooks.wait_for(tid, timeout=30)
            assert d.state == "delivered", d.to_dict()["attempts"]
        got = receiver.wait(500, timeout=30)
    assert len(got) == 500
    assert sorted(r.json["task_id"] for r in got) == sorted(ids)


def test_webhook_journal_over_admin_api(receiver):
    mock, c = setup()
    with mock, c:
        tid = start(c, receiver, webhook_secret="abcdef")
        assert c.post("/_mock/clock/advance", json={"seconds": 1}).status_code == 200
        waited = c.get("/_mock/webhooks/wait", params={"task_id": tid, "timeout": 5}).json()
        listed = c.get("/_mock/webhooks", params={"task_id": tid}).json()["webhooks"]
        assert c.get("/_mock/webhooks/wait", params={"task_id": "nope", "timeout": 0.1}).status_code == 408
    assert waited["state"] == "delivered" and listed == [waited]
    assert waited["headers"]["X-Webhook-Secret"] == "ab***"


def _send(*args):
    return subprocess.run(
        [sys.executable, "-m", "mock_server", "send-webhook", *args], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("profile", ["bfl", "hmac"])
def test_send_webhook_genuine_and_forged(profile):
    with WebhookReceiver(secret="topsecret", profile=profile) as receiver:
        ok = _send(receiver.url + "/in", "--secret", "topsecret", "--profile", profile)
        forged = _send(receiver.url + "/in", "--secret", "topsecret", "--profile", profile, "--forge")
        got = receiver.wait(2)
    assert ok.returncode == 0 and "-> 200" in ok.stdout, ok.stdout + ok.stderr
    assert forged.returncode == 1 and "-> 401" in forged.stdout and "FORGED" in forged.stdout
    assert [r.status for r in got] == [200, 401]
    assert got[0].json["status"] == ("SUCCESS" if profile == "bfl" else "Ready")


def test_send_webhook_to_nothing_fails_cleanly():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    r = _send(f"http://127.0.0.1:{port}/", "--status", "Error")
    assert r.returncode == 1 and "failed: ConnectError" in r.stdout and "Traceback" not in r.stderr
