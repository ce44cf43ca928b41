"""Tasks that live like the real ones: polling lifecycle on the fake clock (issue 3)."""

from __future__ import annotations

import re

import httpx
import pytest
from bfl_helpers import BASE, SUBMIT, body, poll_until_done, submit

from mock_server.frontends.transport import BflTransport
from mock_server.mock import BflMock

SEQUENCE = re.compile(r"^(Pending,)*(Ready|Error|Request Moderated|Content Moderated)$")
KEYS = ["id", "status", "result", "progress", "details", "preview"]


def make(**settings):
    mock = BflMock(frozen_clock=True, seed=7, **settings)
    return mock, httpx.Client(transport=BflTransport(mock), base_url=BASE, headers={"x-key": "k"})


def statuses(polls):
    return ",".join(p["status"] for p in polls)


def assert_well_formed(polls):
    assert SEQUENCE.match(statuses(polls)), statuses(polls)
    progress = [p["progress"] for p in polls if p["status"] == "Pending"]
    assert progress[:1] == [None] or not progress
    numeric = [p for p in progress[1:]]
    assert all(isinstance(p, float) and 0.1 <= p <= 1.0 for p in numeric)
    assert numeric == sorted(numeric)
    for p in polls:
        assert list(p) == KEYS


@pytest.mark.parametrize("n", [1, 2, 5, 12])
def test_polls_mode_is_ready_on_the_nth_poll(n):
    mock, c = make(progression=f"polls:{n}")
    with mock, c:
        tid = submit(c)["id"]
        polls = poll_until_done(c, tid)
    assert len(polls) == n
    assert_well_formed(polls)
    assert polls[-1]["status"] == "Ready"


def test_time_mode_progresses_with_the_clock_only():
    mock, c = make(progression="time:10")
    with mock, c:
        tid = submit(c)["id"]
        seen = [c.get("/v1/get_result", params={"id": tid}).json()]
        for _ in range(30):  # a tight loop without advancing the clock never finishes
            seen.append(c.get("/v1/get_result", params={"id": tid}).json())
        assert {p["status"] for p in seen} == {"Pending"}
        for _ in range(12):
            mock.clock.advance(1)
            seen.append(c.get("/v1/get_result", params={"id": tid}).json())
    assert_well_formed(seen[: next(i for i, p in enumerate(seen) if p["status"] != "Pending") + 1])
    ready = next(p for p in seen if p["status"] == "Ready")
    res = ready["result"]
    assert list(res) == ["sample", "prompt", "seed", "start_time", "end_time", "duration"]
    assert res["duration"] == pytest.approx(res["end_time"] - res["start_time"]) == 10.0
    assert all(isinstance(res[k], float) for k in ("start_time", "end_time", "duration"))
    assert res["prompt"] == "a red cube"
    pend = [p["progress"] for p in seen if p["status"] == "Pending" and p["progress"] is not None]
    assert pend[-1] == 1.0 and pend[0] == 0.1


def test_manual_mode_waits_to_be_told():
    mock, c = make(progression="manual")
    with mock, c:
        tid = submit(c)["id"]
        mock.clock.advance(3600)
        assert {c.get("/v1/get_result", params={"id": tid}).json()["status"] for _ in range(20)} == {"Pending"}
        mock.fail(tid, "GPU on fire")
        r = c.get("/v1/get_result", params={"id": tid}).json()
    assert (r["status"], r["result"], r["details"]) == ("Error", None, {"error": "GPU on fire"})


@pytest.mark.parametrize(
    ("scenario", "status", "details"),
    [
        ("error", "Error", {"error": "Internal error during generation"}),
        ("request-moderated", "Request Moderated", {"Moderation Reasons": ["Safety Filter"]}),
        ("content-moderated", "Content Moderated", {"Moderation Reasons": ["Content Policy Violation"]}),
    ],
)
def test_final_statuses_have_the_real_shape(client, scenario, status, details):
    r = client.post(SUBMIT, json=body(), headers={"X-Mock-Scenario": scenario})
    polls = poll_until_done(client, r.json()["id"])
    assert_well_formed(polls)
    assert (polls[-1]["status"], polls[-1]["result"], polls[-1]["details"]) == (status, None, details)


def test_unknown_and_missing_ids(client):
    r = client.get("/v1/get_result", params={"id": "nope"})
    assert r.status_code == 404
    assert r.json() == {
        "id": "nope",
        "status": "Task not found",
        "result": None,
        "progress": None,
        "details": None,
        "preview": None,
    }
    r = client.get("/v1/get_result")
    assert r.status_code == 422
    assert r.json() == {"detail": [{"type": "missing", "loc": ["query", "id"], "msg": "Field required", "input": None}]}


def test_rate_limit_headers_as_recorded(fake, client):
    tid = submit(client)["id"]
    r1 = client.get("/v1/get_result", params={"id": tid})
    r2 = client.get("/v1/get_result", params={"id": tid})
    assert r1.headers["x-ratelimit-limit"] == "1200"
    assert int(r2.headers["x-ratelimit-remaining"]) == int(r1.headers["x-ratelimit-remaining"]) - 1
    reset = float(r1.headers["x-ratelimit-reset"])
    assert fake.clock.now() < reset <= fake.clock.now() + 2
    assert r1.headers["retry-after"] in ("0", "1")


def test_rate_limit_exhaustion_gives_429_and_refills():
    mock, c = make(progression="manual", ratelimit_limit=3, ratelimit_refill_per_second=1.0)
    with mock, c:
        codes = [c.get("/v1/get_result", params={"id": "x"}).status_code for _ in range(4)]
        assert codes == [404, 404, 404, 429]
        mock.clock.advance(1)
        assert c.get("/v1/get_result", params={"id": "x"}).status_code == 404


def test_seed_makes_everything_reproducible():
    runs = []
    for _ in range(2):
        mock, c = make(progression="polls:1")
        with mock, c:
            tid = submit(c, seed=None)["id"]
            res = poll_until_done(c, tid)[-1]["result"]
            runs.append((tid, res["seed"], res["sample"]))
    assert runs[0] == runs[1]
    assert isinstance(runs[0][1], int)


def test_null_seed_is_picked_and_reported(client):
    tid = submit(client, seed=None)["id"]
    res = poll_until_done(client, tid)[-1]["result"]
    assert isinstance(res["seed"], int)
    tid = submit(client, seed=42)["id"]
    assert poll_until_done(client, tid)[-1]["result"]["seed"] == 42


def test_unpolled_webhook_tasks_finish_on_the_clock():
    mock, c = make(progression="polls:3,after=2")
    with mock, c:
        tid = submit(c, webhook_url="http://127.0.0.1:9/hook")["id"]
        mock.backend.tick()
        assert mock.task(tid).status == "Pending"
        mock.clock.advance(2)
        mock.task(tid).image_job.result()
        mock.backend.tick()
        assert mock.task(tid).status == "Ready"


def test_finished_tasks_are_evicted_after_retention():
    mock, c = make(progression="polls:1", retention_seconds=60)
    with mock, c:
        tid = submit(c)["id"]
        assert c.get("/v1/get_result", params={"id": tid}).json()["status"] == "Ready"
        mock.clock.advance(59)
        assert c.get("/v1/get_result", params={"id": tid}).status_code == 200
        mock.clock.advance(1)
        assert c.get("/v1/get_result", params={"id": tid}).status_code == 404
        assert mock.backend.stats()["tasks"] == 0


def test_task_cap_evicts_oldest_finished_and_never_active():
    mock, c = make(progression="polls:1", max_tasks=3, active_task_limit=0)
    with mock, c:
        done = submit(c)["id"]
        poll_until_done(c, done)
        active = [submit(c)["id"] for _ in range(2)]
        extra = submit(c)["id"]  # the cap evicts the finished one
        assert c.get("/v1/get_result", params={"id": done}).status_code == 404
        r = c.post(SUBMIT, json=body())  # only active tasks left: refuse, lose nothing
        assert r.status_code == 429
        for tid in [*active, extra]:
            assert c.get("/v1/get_result", params={"id": tid}).status_code == 200


def test_transient_not_found_right_after_submit(client):
    r = client.post(SUBMIT, json=body(), headers={"X-Mock-Scenario": "flaky-poll"})
    tid = r.json()["id"]
    codes = [client.get("/v1/get_result", params={"id": tid}).status_code for _ in range(3)]
    assert codes == [404, 404, 200]


def test_responses_validate_against_the_shipped_schemas(client):
    import jsonschema

    from mock_server.core.schemas import load_schema

    def check(name, instance):
        jsonschema.Draft202012Validator(load_schema(name)).validate(instance)

    check("AsyncResponse", submit(client))
    hook = submit(client, webhook_url="http://127.0.0.1:9/")
    check("AsyncWebhookResponse", hook)
    for p in poll_until_done(client, submit(client)["id"]):
        check("ResultResponse", p)
    check("ResultResponse", client.get("/v1/get_result", params={"id": "missing"}).json())
    check("HTTPValidationError", client.post(SUBMIT, json={}).json())
    check("ErrorDetail", client.get("/nope").json())
    with pytest.raises(jsonschema.ValidationError):  # the check can fail
        check("ResultResponse", {"id": "x", "status": "Done"})
