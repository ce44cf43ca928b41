"""The pytest plugin, tested with pytester (respx's and pytest-httpserver's pattern)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

CONTROL = """
import base64, io
import numpy as np
from PIL import Image
arr = np.full((64, 64, 3), 235, np.uint8); arr[16:48, 16:48] = 25
buf = io.BytesIO(); Image.fromarray(arr).save(buf, "PNG")
CONTROL_B64 = base64.b64encode(buf.getvalue()).decode()
BODY = {"finetune_id": "my-finetune", "prompt": "a red cube", "control_image": CONTROL_B64}
URL = "https://api.us1.bfl.ai/v1/flux-pro-1.0-canny-finetuned"
"""


def run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_user=CONTROL + source)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error", *args)


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_fixtures_marker_and_isolation(pytester, xdist):
    result = run(
        pytester,
        """
import httpx, pytest, requests

def test_sync_cycle(bfl_mock):
    with httpx.Client() as c:
        r = c.post(URL, json=BODY, headers={"x-key": "k"})
        assert r.status_code == 200
        polls = [c.get(r.json()["polling_url"]).json() for _ in range(2)]
        assert [p["status"] for p in polls] == ["Pending", "Ready"]
        img = c.get(polls[-1]["result"]["sample"])
        assert img.status_code == 200 and img.content[:2] == b"\\xff\\xd8"
    assert len(bfl_mock.requests) == 4

def test_isolated_from_previous_test(bfl_mock):
    assert len(bfl_mock.requests) == 0 and bfl_mock.tasks() == []

@pytest.mark.bfl_mock(progression="polls:4", strict_finetunes=True)
def test_marker_settings(bfl_mock):
    with httpx.Client() as c:
        assert c.post(URL, json={**BODY, "finetune_id": "nope"}, headers={"x-key": "k"}).json() == \\
            {"detail": "Finetune not found or not ready"}
        tid = c.post(URL, json=BODY, headers={"x-key": "k"}).json()["id"]
        poll = "https://api.us1.bfl.ai/v1/get_result"
        statuses = [c.get(poll, params={"id": tid}).json()["status"] for _ in range(4)]
        assert statuses == ["Pending"] * 3 + ["Ready"]

@pytest.fixture
def anyio_backend():
    return "asyncio"

@pytest.mark.anyio
async def test_async_client(bfl_mock):
    async with httpx.AsyncClient() as c:
        r = await c.post(URL, json=BODY, headers={"x-key": "k", "X-Mock-Scenario": "content-moderated"})
        for _ in range(2):
            res = (await c.get(r.json()["polling_url"])).json()
        assert res["status"] == "Content Moderated"

def test_requests_against_live_server(bfl_server):
    r = requests.post(bfl_server.url + "/v1/flux-pro-1.0-canny-finetuned", json=BODY, headers={"x-key": "k"})
    assert r.status_code == 200
    assert r.json()["polling_url"].startswith(bfl_server.url)
    bfl_server.add_rule({}, "error")
    r = requests.post(bfl_server.url + "/v1/flux-pro-1.0-canny-finetuned", json=BODY, headers={"x-key": "k"})
    tid = r.json()["id"]
    for _ in range(2):
        res = requests.get(bfl_server.url + "/v1/get_result", params={"id": tid}).json()
    assert res["status"] == "Error"

def test_live_server_was_reset(bfl_server):
    assert bfl_server.rules.list() == [] and bfl_server.tasks() == []

def test_other_hosts_pass_through(bfl_mock, bfl_server):
    # a loopback server is not a BFL host: bfl_mock lets the request through to the real socket
    r = httpx.get(bfl_server.url + "/v1/get_result", params={"id": "nope"})
    assert r.status_code == 404 and len(bfl_server.requests) == 1 and len(bfl_mock.requests) == 0
""",
        *xdist,
    )
    result.assert_outcomes(passed=7)


def test_command_line_and_ini_options(pytester):
    pytester.makeini("[pytest]\nbfl_mock_progression = polls:3\n")
    result = run(
        pytester,
        """
import httpx
def test_progression_from_ini_and_seed_from_cli(bfl_mock):
    with httpx.Client() as c:
        tid = c.post(URL, json={**BODY, "seed": None}, headers={"x-key": "k"}).json()["id"]
        s = [c.get("https://api.us1.bfl.ai/v1/get_result", params={"id": tid}).json() for _ in range(3)]
    assert [x["status"] for x in s] == ["Pending", "Pending", "Ready"]
    assert str(bfl_mock.settings.progression) == "polls:3,after=1"
    assert bfl_mock.settings.seed == 99
""",
        "--bfl-mock-seed",
        "99",
    )
    result.assert_outcomes(passed=1)


def test_failure_inside_the_fake_fails_the_test(pytester):
    result = run(
        pytester,
        """
import httpx
def test_breaks_the_fake(bfl_mock):
    def boom(task):
        raise RuntimeError("listener exploded")
    bfl_mock.backend.on_finished.append(boom)
    with httpx.Client() as c:
        tid = c.post(URL, json=BODY, headers={"x-key": "k"}).json()["id"]
        bfl_mock.fail(tid, "x")
""",
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*RuntimeError: listener exploded*"])


def test_bfl_server_gives_every_test_a_fresh_fake(pytester):
    """issue 11, finding 14: the session server's reset restores the clock, moderation and rule numbering."""
    result = run(
        pytester,
        """
from mock_server.core.clock import DEFAULT_FROZEN_START

def test_a_changes_everything(bfl_server):
    bfl_server.clock.advance(100_000)
    bfl_server.moderator.set([{"reason": "Safety Filter", "threshold": 7, "words": ["cube"]}])
    assert bfl_server.add_rule({}, "error").id == 1
    assert bfl_server.add_rule({}, "error").id == 2

def test_b_sees_none_of_it(bfl_server):
    assert bfl_server.clock.now() == DEFAULT_FROZEN_START
    assert bfl_server.moderator.reasons("a red cube", 2) == []
    assert bfl_server.add_rule({}, "error").id == 1
""",
    )
    result.assert_outcomes(passed=2)


def test_async_client_waits_off_the_event_loop(pytester):
    """An ``AsyncClient`` call through ``bfl_mock`` awaits a render or a webhook wait (respx's async side
    effect): another coroutine runs meanwhile. Each wait here ends only when that other coroutine has run,
    so a blocked loop would fail the test (after the 20 s bound) instead of passing it."""
    result = run(
        pytester,
        """
import asyncio, threading
import httpx, pytest

@pytest.fixture
def anyio_backend():
    return "asyncio"

def gate(obj, name, entered, release):
    real = getattr(obj, name)
    def gated(*a, **kw):  # on the fake's worker thread: the request now waits for this
        entered.set()
        if not release.wait(20):
            raise RuntimeError("nothing ran while the fake waited")  # a 500, never an answer the test expects
        return real(*a, **kw)
    return gated

async def meanwhile(entered, release, ran):
    await asyncio.to_thread(entered.wait, 20)  # resumes only if the event loop is free
    ran.append("other coroutine")
    release.set()

@pytest.mark.anyio
@pytest.mark.bfl_mock(inline_check_bytes=0)  # the check on the render pool (gated below), not the request's thread
async def test_render(bfl_mock, monkeypatch):
    backend = bfl_mock.backend
    owner = next(o for o in (getattr(backend, "media", None), backend) if hasattr(o, "_prepare_job"))
    entered, release, ran = threading.Event(), threading.Event(), []
    monkeypatch.setattr(owner, "_prepare_job", gate(owner, "_prepare_job", entered, release))
    async with httpx.AsyncClient() as c:
        tid = (await c.post(URL, json=BODY, headers={"x-key": "k"})).json()["id"]
        complete = c.post(f"https://api.bfl.ai/_mock/tasks/{tid}/complete")
        done, _ = await asyncio.gather(complete, meanwhile(entered, release, ran))
    assert done.status_code == 200 and done.json()["status"] == "Ready" and ran == ["other coroutine"]

@pytest.mark.anyio
async def test_webhook_wait(bfl_mock, monkeypatch):
    entered, release, ran = threading.Event(), threading.Event(), []
    monkeypatch.setattr(bfl_mock.webhooks, "wait_for", gate(bfl_mock.webhooks, "wait_for", entered, release))
    async with httpx.AsyncClient() as c:
        waited, _ = await asyncio.gather(
            c.get("https://api.bfl.ai/_mock/webhooks/wait", params={"task_id": "nope", "timeout": 0}),
            meanwhile(entered, release, ran),
        )
    assert waited.status_code == 408 and ran == ["other coroutine"]  # no such task: settled never
""",
    )
    result.assert_outcomes(passed=2)
