"""Control every outcome: rules, scenarios, moderation, accounts, finetunes, journal, admin (issue 5)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from bfl_helpers import BASE, SUBMIT, body, poll_until_done

from mock_server.configfile import apply_extra, load_config
from mock_server.frontends.server import LiveServer
from mock_server.frontends.transport import BflTransport
from mock_server.http.types import HttpRequest
from mock_server.mock import BflMock

CONFIGS = Path(__file__).resolve().parent.parent / "fixtures" / "config"


def make(**settings):
    mock = BflMock(**{"frozen_clock": True, "seed": 11, "progression": "polls:2", **settings})
    return mock, httpx.Client(transport=BflTransport(mock), base_url=BASE, headers={"x-key": "k"})


def final(c, **kw):
    r = c.post(SUBMIT, json=body(**kw.pop("json", {})), headers=kw.pop("headers", {}))
    if r.status_code != 200:
        return r.status_code, r.json()
    return 200, poll_until_done(c, r.json()["id"])[-1]


@pytest.mark.parametrize(
    ("match", "hit", "miss"),
    [
        ({"prompt_contains": "Cat"}, {"prompt": "a black cat"}, {"prompt": "a dog"}),
        ({"prompt_regex": r"^a \d+ "}, {"prompt": "a 3 legged stool"}, {"prompt": "three legs"}),
        ({"finetune_id": "brand"}, {"finetune_id": "brand"}, {"finetune_id": "my-finetune"}),
        ({"seed": 42}, {"seed": 42}, {"seed": 43}),
    ],
)
def test_each_matcher(match, hit, miss):
    mock, c = make()
    with mock, c:
        mock.add_rule(match, {"status": "Error", "error": "matched"})
        assert final(c, json=hit)[1]["details"] == {"error": "matched"}
        assert final(c, json=miss)[1]["status"] == "Ready"


def test_api_key_nth_and_times_matchers():
    mock, c = make()
    with mock, c:
        mock.add_rule({"api_key": "other"}, "content-moderated")
        mock.add_rule({"nth": 2}, {"status": "Error", "error": "second"})
        mock.add_rule({"prompt_contains": "once"}, "request-moderated", times=1)
        assert final(c, headers={"x-key": "other"})[1]["status"] == "Content Moderated"
        assert [final(c)[1]["status"] for _ in range(3)] == ["Ready", "Error", "Ready"]
        assert [final(c, json={"prompt": "once"})[1]["status"] for _ in range(2)] == ["Request Moderated", "Ready"]
        listed = {r.name or r.match.to_dict().get("prompt_contains", r.id): r.used for r in mock.rules.list()}
        assert list(listed.values()) == [1, 1, 1]


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        ({"status": "Error", "error": "GPU on fire"}, (200, "Error", {"error": "GPU on fire"})),
        (
            {"status": "Request Moderated", "reasons": ["Derivative Works Filter"]},
            (200, "Request Moderated", {"Moderation Reasons": ["Derivative Works Filter"]}),
        ),
        (
            {"status": "content-moderated"},
            (200, "Content Moderated", {"Moderation Reasons": ["Content Policy Violation"]}),
        ),
        ({"http_status": 402, "detail": "Insufficient credits"}, (402, None, {"detail": "Insufficient credits"})),
        ({"http_status": 503, "detail": "busy", "headers": {"Retry-After": "7"}}, (503, None, {"detail": "busy"})),
    ],
)
def test_each_outcome(outcome, expected):
    mock, c = make()
    with mock, c:
        mock.add_rule({}, outcome)
        code, data = final(c)
    assert code == expected[0]
    if code == 200:
        assert (data["status"], data["details"], data["result"]) == (expected[1], expected[2], None)
    else:
        assert data == expected[2]


def test_task_not_found_outcome_progression_and_transient_404():
    mock, c = make()
    with mock, c:
        mock.add_rule({"prompt_contains": "lost"}, {"status": "Task not found"})
        mock.add_rule({"prompt_contains": "slow"}, {"progression": "polls:5"})
        mock.add_rule({"prompt_contains": "flaky"}, {"not_found_polls": 3})
        tid = c.post(SUBMIT, json=body(prompt="lost")).json()["id"]
        codes = [c.get("/v1/get_result", params={"id": tid}).status_code for _ in range(4)]
        assert codes == [200, 404, 404, 404]
        tid = c.post(SUBMIT, json=body(prompt="slow")).json()["id"]
        assert len(poll_until_done(c, tid)) == 5
        tid = c.post(SUBMIT, json=body(prompt="flaky")).json()["id"]
        codes = [c.get("/v1/get_result", params={"id": tid}).status_code for _ in range(5)]
        assert codes == [404, 404, 404, 200, 200]


def test_latency_is_spent_on_the_clock():
    mock, c = make()
    with mock, c:
        mock.add_rule({}, {"latency": {"submit": 2.5, "poll": [1, 1], "download": 4}})
        t0 = mock.clock.now()
        tid = c.post(SUBMIT, json=body()).json()["id"]
        assert mock.clock.now() - t0 == 2.5
        res = poll_until_done(c, tid)[-1]
        assert mock.clock.now() - t0 == 4.5
        c.get(res["result"]["sample"].split("bfl.ai", 1)[1])
        assert mock.clock.now() - t0 == 8.5


def test_bad_rules_and_unknown_scenario_are_clear_errors():
    mock, c = make()
    with mock, c:
        with pytest.raises(ValueError, match="unknown match key"):
            mock.add_rule({"promt": "x"}, "error")
        with pytest.raises(ValueError, match="status must be one of"):
            mock.add_rule({}, {"status": "Done"})
        r = c.post(SUBMIT, json=body(), headers={"X-Mock-Scenario": "nope"})
        assert r.status_code == 400 and "unknown scenario 'nope'" in r.json()["detail"]
        r = c.post("/_mock/rules", json={"match": {"nth": "x"}, "outcome": "error"})
        assert r.status_code == 400


# ---------------------------------------------------------------- three front ends, one behaviour
SCRIPT = [
    {"prompt": "a cat"},
    {"prompt": "a dog"},
    {"prompt": "a dog"},
    {"prompt": "a dog"},
    {"prompt": "gore everywhere"},
    {"prompt": "x", "finetune_id": "brand-v3"},
    {"prompt": "y", "_key": "low-balance-key"},
    {"prompt": "z", "_key": "low-balance-key"},
    {"prompt": "w", "_key": "low-balance-key"},
    {"prompt": "custom", "_scenario": "gpu-fire"},
]


def run_script(mock):
    out = []
    with httpx.Client(transport=BflTransport(mock), base_url=BASE) as c:
        for step in SCRIPT:
            step = dict(step)
            headers = {"x-key": step.pop("_key", "k")}
            if "_scenario" in step:
                headers["X-Mock-Scenario"] = step.pop("_scenario")
            r = c.post(SUBMIT, json=body(**step), headers=headers)
            out.append((r.status_code, r.json()))
            if r.status_code == 200:
                out.append(poll_until_done(c, r.json()["id"]))
        out.append(c.get("/v1/finetune_details", params={"finetune_id": "brand-v3"}, headers={"x-key": "k"}).json())
        out.append(c.get("/v1/credits", headers={"x-key": "low-balance-key"}).json())
    return out


def from_python():
    mock = BflMock(frozen_clock=True, seed=7, progression="polls:2")
    mock.scenario("gpu-fire", {"status": "Error", "error": "GPU fell over", "progression": "polls:3"})
    mock.add_rule({"prompt_contains": "cat"}, {"status": "Content Moderated", "reasons": ["Sexual Content"]})
    mock.add_rule({"prompt_regex": "(?i)\\bdog\\b", "nth": 3}, {"scenario": "gpu-fire"})
    mock.add_rule({"api_key": "slow-key"}, {"latency": {"submit": 0.5, "poll": [0.1, 0.3]}})
    mock.finetunes.add("brand-v3", trigger_word="BRND", finetune_comment="from the config file")
    mock.set_credits("low-balance-key", 12)
    mock.moderator.set(
        [
            {"reason": "Safety Filter", "threshold": 4, "words": ["gore", "bloodbath"]},
            {"reason": "Derivative Works Filter", "threshold": 3, "words": ["mickey mouse"]},
        ]
    )
    return mock


def from_admin_api():
    mock = BflMock(frozen_clock=True, seed=7, progression="polls:2")
    with httpx.Client(transport=BflTransport(mock), base_url="http://localhost") as a:
        assert (
            a.put(
                "/_mock/scenarios/gpu-fire",
                json={"status": "Error", "error": "GPU fell over", "progression": "polls:3"},
            ).status_code
            == 200
        )
        r = a.post(
            "/_mock/rules",
            json=[
                {
                    "match": {"prompt_contains": "cat"},
                    "outcome": {"status": "Content Moderated", "reasons": ["Sexual Content"]},
                },
                {"match": {"prompt_regex": "(?i)\\bdog\\b", "nth": 3}, "outcome": {"scenario": "gpu-fire"}},
                {"match": {"api_key": "slow-key"}, "outcome": {"latency": {"submit": 0.5, "poll": [0.1, 0.3]}}},
            ],
        )
        assert r.status_code == 201
        assert (
            a.put(
                "/_mock/finetunes/brand-v3", json={"trigger_word": "BRND", "finetune_comment": "from the config file"}
            ).status_code
            == 200
        )
        assert a.put("/_mock/credits/low-balance-key", json={"credits": 12}).status_code == 200
    mock.moderator.set(
        [
            {"reason": "Safety Filter", "threshold": 4, "words": ["gore", "bloodbath"]},
            {"reason": "Derivative Works Filter", "threshold": 3, "words": ["mickey mouse"]},
        ]
    )
    return mock


def from_config(name):
    settings, extra = load_config(CONFIGS / name)
    mock = BflMock(frozen_clock=True, **settings)
    apply_extra(mock, extra)
    return mock


def test_python_admin_api_and_config_files_give_the_same_responses():
    runs = []
    for factory in (
        from_python,
        from_admin_api,
        lambda: from_config("scenarios.yaml"),
        lambda: from_config("scenarios.json"),
    ):
        mock = factory()
        with mock:
            runs.append(run_script(mock))
    assert runs[0] == runs[1] == runs[2] == runs[3]
    flat = json.dumps(runs[0])
    for expected in ("Content Moderated", "GPU fell over", "Safety Filter", "Insufficient credits", "BRND"):
        assert expected in flat
    assert runs[0][-1] == {"credits": 2.0}


def test_bad_config_files_are_rejected(tmp_path):
    from mock_server.core.errors import ConfigError

    bad = tmp_path / "bad.yaml"
    bad.write_text("rulez: []\n")
    with pytest.raises(ConfigError, match="unknown section 'rulez'"):
        load_config(bad)
    bad.write_text("settings: {progression: sometimes}\n")
    with pytest.raises(ConfigError, match="progression must be"):  # settings are checked as the file loads
        load_config(bad)


# ---------------------------------------------------------------- black box, over loopback
@pytest.fixture(scope="module")
def server():
    with LiveServer(BflMock(frozen_clock=True, seed=5, progression="polls:2")) as s:
        yield s


@pytest.mark.parametrize(
    ("scenario", "status", "detail"),
    [
        ("ready", "Ready", None),
        ("error", "Error", {"error": "Internal error during generation"}),
        ("request-moderated", "Request Moderated", {"Moderation Reasons": ["Safety Filter"]}),
        ("content-moderated", "Content Moderated", {"Moderation Reasons": ["Content Policy Violation"]}),
    ],
)
def test_black_box_final_statuses(server, scenario, status, detail):
    with httpx.Client(base_url=server.url, headers={"x-key": "bb", "X-Mock-Scenario": scenario}) as c:
        tid = c.post(SUBMIT, json=body()).json()["id"]
        res = poll_until_done(c, tid)[-1]
    assert (res["status"], res["details"]) == (status, detail)


def test_black_box_task_not_found(server):
    with httpx.Client(base_url=server.url, headers={"x-key": "bb"}) as c:
        tid = c.post(SUBMIT, json=body(), headers={"X-Mock-Scenario": "task-not-found"}).json()["id"]
        assert [c.get("/v1/get_result", params={"id": tid}).status_code for _ in range(3)] == [200, 404, 404]


@pytest.mark.parametrize(
    ("scenario", "code", "detail"),
    [
        ("insufficient-credits", 402, "Insufficient credits"),
        ("unknown-finetune", 400, "Finetune not found or not ready"),
        ("invalid-key", 403, "Not authenticated - Invalid Authentication"),
        ("rate-limited", 429, None),
        ("server-error", 500, "Internal Server Error"),
        ("bad-gateway", 502, "Bad Gateway"),
        ("service-unavailable", 503, "Service Unavailable"),
    ],
)
def test_black_box_submit_errors(server, scenario, code, detail):
    r = httpx.post(server.url + SUBMIT, json=body(), headers={"x-key": "bb", "X-Mock-Scenario": scenario})
    assert r.status_code == code
    assert list(r.json()) == ["detail"] and isinstance(r.json()["detail"], str)
    if detail:
        assert r.json()["detail"] == detail
    if code == 429:
        assert r.headers["retry-after"] == "1"


# ---------------------------------------------------------------- accounts and finetunes
def test_the_25th_active_task_gets_429_until_one_finishes():
    mock, c = make(progression="manual")
    with mock, c:
        ids = [c.post(SUBMIT, json=body()).json()["id"] for _ in range(24)]
        r = c.post(SUBMIT, json=body())
        assert r.status_code == 429 and r.headers["retry-after"] == "1" and "active tasks" in r.json()["detail"]
        assert c.post(SUBMIT, json=body(), headers={"x-key": "another"}).status_code == 200  # per key
        mock.complete(ids[0])
        assert c.post(SUBMIT, json=body()).status_code == 200
        assert c.post(SUBMIT, json=body()).status_code == 429


def test_credits_run_out_at_the_documented_count():
    mock, c = make(progression="manual", active_task_limit=0)
    with mock, c:
        assert c.get("/v1/credits").json() == {"credits": 10000.0}
        codes = [c.post(SUBMIT, json=body(), headers={"X-Mock-Scenario": "error"}).status_code for _ in range(2001)]
        assert codes.count(200) == 2000 and codes[-1] == 402  # 10,000 credits / 5 per request
        assert c.post(SUBMIT, json=body()).json() == {"detail": "Insufficient credits"}
        assert c.get("/v1/credits").json() == {"credits": 0.0}
        assert c.get("/v1/credits", headers={"x-key": "fresh"}).json() == {"credits": 10000.0}


def test_finetunes_strict_lenient_and_utility_endpoints():
    mock, c = make(strict_finetunes=True)
    with mock, c:
        assert c.post(SUBMIT, json=body(finetune_id="nope")).json() == {"detail": "Finetune not found or not ready"}
        assert c.post(SUBMIT, json=body(finetune_id="still-training")).status_code == 400
        assert c.post(SUBMIT, json=body(finetune_id="my-finetune")).status_code == 200
        assert "my-finetune" in c.get("/v1/my_finetunes").json()["finetunes"]
        details = c.get("/v1/finetune_details", params={"finetune_id": "my-finetune"}).json()
        assert details["finetune_details"]["trigger_word"] == "TOK"
        assert c.get("/v1/finetune_details", params={"finetune_id": "nope"}).status_code == 404
        assert c.get("/v1/finetune_details").status_code == 422
        r = c.post("/v1/delete_finetune", json={"finetune_id": "my-finetune"})
        assert r.status_code == 200 and set(r.json()) == {"status", "message", "deleted_finetune_id", "timestamp"}
        assert c.post(SUBMIT, json=body(finetune_id="my-finetune")).status_code == 400
        assert c.post("/v1/delete_finetune", json={}).status_code == 422
        assert c.get("/v1/my_finetunes", headers={"x-key": ""}).status_code == 403
    mock, c = make()
    with mock, c:
        assert c.post(SUBMIT, json=body(finetune_id="brand-new")).status_code == 200
        assert "brand-new" in c.get("/v1/my_finetunes").json()["finetunes"]
        assert mock.finetunes.auto_registered == ["brand-new"]


def test_moderation_without_rules_follows_safety_tolerance():
    mock, c = make()
    with mock, c:
        assert final(c, json={"prompt": "a nude statue", "safety_tolerance": 2})[1]["details"] == {
            "Moderation Reasons": ["Sexual Content"]
        }
        assert final(c, json={"prompt": "a nude statue", "safety_tolerance": 5})[1]["status"] == "Ready"
        assert final(c, json={"prompt": "Pikachu at the beach", "safety_tolerance": 2})[1]["details"] == {
            "Moderation Reasons": ["Derivative Works Filter"]
        }
        assert final(c, json={"prompt": "a nudibranch", "safety_tolerance": 0})[1]["status"] == "Ready"


# ---------------------------------------------------------------- journal, admin, isolation
def test_journal_is_bounded_redacted_and_filterable():
    mock, c = make(journal_size=3)
    with mock, c:
        c.post(
            SUBMIT,
            json=body(webhook_url="http://127.0.0.1:9/", webhook_secret="supersecret"),
            headers={"x-key": "my-long-key"},
        )
        entry = mock.requests.last
        assert entry.headers["x-key"] == "my***" and entry.api_key == "my***"
        assert entry.body["webhook_secret"] == "su***"
        assert set(entry.body["control_image"]) == {"length", "sha256"}
        assert "supersecret" not in json.dumps(entry.to_dict()) and "my-long-key" not in json.dumps(entry.to_dict())
        for _ in range(4):
            c.get("/v1/get_result", params={"id": "x"})
        assert len(mock.requests) == 3
        assert [e.status for e in mock.requests.filter(path="/v1/get_result", status=404)] == [404, 404, 404]
        assert c.get("/_mock/requests", params={"status": "404", "limit": 2}).json()["requests"][0]["status"] == 404


def test_admin_clock_tasks_and_errors():
    mock, c = make(progression="manual")
    with mock, c:
        tid = c.post(SUBMIT, json=body()).json()["id"]
        assert c.post(f"/_mock/tasks/{tid}/moderate", json={"reasons": ["Sexual Content"]}).status_code == 200
        assert c.get("/v1/get_result", params={"id": tid}).json()["details"] == {
            "Moderation Reasons": ["Sexual Content"]
        }
        assert c.post(f"/_mock/tasks/{tid}/complete").status_code == 409
        assert c.get("/_mock/tasks/nope").status_code == 404
        assert c.post("/_mock/clock/set", json={"time": 2e9}).json() == {"now": 2e9, "frozen": True}
        assert c.post("/_mock/clock/advance", json={"seconds": -1}).status_code == 400
        assert c.post("/_mock/rules", content=b"{nope", headers={"content-type": "application/json"}).status_code == 400
        assert c.get("/_mock/whatever").status_code == 404
        assert c.get("/_mock/config").json()["api_keys"] == []
        assert c.get("/_mock/stats").json()["tasks"] == 1


def test_admin_is_loopback_only_without_a_token():
    mock = BflMock(frozen_clock=True)
    with mock:
        remote = HttpRequest("GET", "/_mock/tasks", client="10.1.2.3")
        assert mock.serve(remote).status == 403
        assert mock.serve(HttpRequest("GET", "/_mock/tasks", client="::1")).status == 200


def test_isolate_keys_scopes_results_listings_and_reset():
    mock, c = make(isolate_keys=True)
    with mock, c:
        a = c.post(SUBMIT, json=body(), headers={"x-key": "worker-a"}).json()["id"]
        b = c.post(SUBMIT, json=body(), headers={"x-key": "worker-b"}).json()["id"]
        assert c.get("/v1/get_result", params={"id": a}, headers={"x-key": "worker-b"}).status_code == 404
        assert c.get("/v1/get_result", params={"id": a}, headers={"x-key": "worker-a"}).status_code == 200
        listed = c.get("/_mock/tasks", headers={"X-Mock-Key": "worker-a"}).json()["tasks"]
        assert [t["id"] for t in listed] == [a]
        assert c.post("/_mock/reset", headers={"X-Mock-Key": "worker-a"}).status_code == 200
        assert c.get("/v1/get_result", params={"id": a}, headers={"x-key": "worker-a"}).status_code == 404
        assert c.get("/v1/get_result", params={"id": b}, headers={"x-key": "worker-b"}).status_code == 200
        assert {e.api_key for e in mock.requests} == {"wo***"}
        assert [e.task_id for e in mock.requests.filter(api_key="worker-b")] == [b, a, b]


def test_finetune_details_may_contain_any_key():
    # found by `make fuzz`: a detail named like the method's own parameter used to answer 500
    mock, c = make()
    with mock, c:
        r = c.put("/_mock/finetunes/f", json={"finetune_id": "other", "trigger_word": "X"})
        assert r.status_code == 200 and r.json()["details"]["finetune_id"] == "other"
        details = c.get("/v1/finetune_details", params={"finetune_id": "f"}).json()["finetune_details"]
        assert details["trigger_word"] == "X"
