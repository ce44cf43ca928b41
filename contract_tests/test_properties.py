"""Properties of the real API that any target must show (strategies derived from schemas/)."""

from __future__ import annotations

import base64
import io
import re
import time

import jsonschema
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from mock_server.contract import Mismatch, expect
from mock_server.core.schemas import load_schema

from .strategies import violations

SUBMIT = "/v1/flux-pro-1.0-canny-finetuned"
pytestmark = pytest.mark.endpoint("flux-pro-1.0-canny-finetuned")  # every submit here is canny's (--bfl-endpoint)
SCHEMA = load_schema("FinetuneCannyInputs")
FINAL = re.compile(r"^(Pending,)*(Ready|Error|Request Moderated|Content Moderated)$")


def control_image() -> str:
    arr = np.full((256, 256, 3), 235, np.uint8)
    arr[64:192, 64:192] = 25
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


CONTROL = control_image()


def valid(**kw):
    return {"finetune_id": "my-finetune", "prompt": "a red cube", "control_image": CONTROL, **kw}


def validate(name, instance, status=None):
    """``instance`` (an answer of the target) against the published schema ``name``: a Mismatch naming the field."""
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(load_schema(name)).iter_errors(instance))
    if error is not None:
        raise Mismatch(
            target=(status, instance),
            expected=(status, {error.validator: error.validator_value}),
            expected_label=f"the published schema {name}",
            field=".".join(str(p) for p in error.absolute_path) or "(the whole answer)",
        )


@pytest.mark.behaviour("S2 each constraint violated -> 422 naming that field", evidence="high")
@pytest.mark.parametrize(("field", "value"), violations(SCHEMA), ids=lambda v: str(v)[:30])
def test_each_violation_is_a_422_naming_the_field(target, field, value):
    body = valid(**{field: value})
    r = target.client.post(SUBMIT, json=body, headers={"x-key": target.key})
    expect(
        r,
        422,
        source=f"the real API (FastAPI: one 422 item at body.{field})",
        request=("POST", SUBMIT, body),
        field=f"body.{field}",
        check=lambda j: [e.get("loc") for e in j.get("detail", [])] == [["body", field]],
    )
    detail = r.json()
    validate("HTTPValidationError", detail, 422)
    assert [e["loc"] for e in detail["detail"]] == [["body", field]]


@pytest.mark.behaviour("S5 invalid key -> 403 Not authenticated - Invalid Authentication", evidence="high")
def test_invalid_key(target):
    if target.name != "live" and target.mock is None:
        target.client.headers.pop("x-key", None)
    r = target.client.post(SUBMIT, json=valid(), headers={"x-key": "bfl-mock-contract-invalid-key"})
    if target.name == "inprocess":  # any non-empty key is valid by default: restrict for this check
        target.mock.settings.api_keys = (target.key,)
        try:
            r = target.client.post(SUBMIT, json=valid(), headers={"x-key": "bfl-mock-contract-invalid-key"})
        finally:
            target.mock.settings.api_keys = ()
    elif target.name == "url":
        r = target.client.post(SUBMIT, json=valid(), headers={"x-key": ""})
    expect(r, 403, {"detail": "Not authenticated - Invalid Authentication"}, source="the real API (dossier S5)")


@pytest.mark.behaviour("S6 missing key -> 401/403 Not authenticated (status unknown)", evidence="unknown")
def test_missing_key(target):
    r = target.client.post(SUBMIT, json=valid())
    expect(r, {401, 403}, {"detail": "Not authenticated"}, source="the real API (dossier S6)")


@pytest.mark.behaviour("S7 unknown finetune -> 400 Finetune not found or not ready", evidence="high")
@pytest.mark.requires_setting(strict_finetunes=True)
def test_unknown_finetune(target):
    target.paid("a submit with an unknown finetune")
    r = target.client.post(
        SUBMIT, json=valid(finetune_id="bfl-mock-contract-no-such-finetune"), headers={"x-key": target.key}
    )
    expect(r, 400, {"detail": "Finetune not found or not ready"}, source="the real API (dossier S7)")


@pytest.mark.endpoint(None)  # no endpoint: runs whatever --bfl-endpoint picks
@pytest.mark.behaviour("S10 unknown path -> 404 Not Found", evidence="high")
def test_unknown_path(target):
    r = target.client.post("/v1/bad model", json={}, headers={"x-key": target.key})
    expect(r, 404, {"detail": "Not Found"}, source="the real API (dossier S10)", request=("POST", "/v1/bad model", {}))
    assert r.headers["content-type"] == "application/json"


@pytest.mark.endpoint(None)  # no endpoint: runs whatever --bfl-endpoint picks
@pytest.mark.behaviour("P5 unknown task id -> 404 with the full result body", evidence="medium-high")
def test_unknown_task(target):
    r = get(target, "/v1/get_result", params={"id": "00000000-0000-4000-8000-000000000000"})
    expect(r, 404, source="the real API (dossier P5)")
    body = r.json()
    validate("ResultResponse", body, r.status_code)
    assert body["status"] == "Task not found" and body["result"] is None


@pytest.mark.endpoint(None)  # no endpoint: runs whatever --bfl-endpoint picks
@pytest.mark.behaviour("get_result without id -> 422 at query.id", evidence="high")
def test_missing_id(target):
    r = get(target, "/v1/get_result")
    expect(
        r,
        422,
        source="the real API (FastAPI: 422 at query.id)",
        field="query.id",
        check=lambda j: j["detail"][0]["loc"] == ["query", "id"],
    )


def wait(target, seconds: float) -> None:
    """Let ``seconds`` pass on the target: the fake's clock in-process or on a bfl-mock server, real time on
    the real service."""
    if not target.advance(seconds):
        time.sleep(seconds)


def get(target, url: str, **kw):
    """A GET that honours 429 + Retry-After as a careful client does (P6: get_result is rate limited)."""
    for _ in range(5):
        r = target.client.get(url, **kw)
        if r.status_code != 429 or "retry-after" not in r.headers:
            return r
        wait(target, float(r.headers["retry-after"]))
    return r


def poll_to_final(target, task_id: str, polling_url: str) -> list[dict]:
    seen = []
    deadline = time.time() + 300
    while time.time() < deadline:
        r = get(target, polling_url)
        expect(r, 200, source="the real API (dossier P1: a poll answers 200)", request=("GET", polling_url, None))
        assert r.headers["content-type"] == "application/json"
        body = r.json()
        validate("ResultResponse", body, r.status_code)
        seen.append(body)
        if body["status"] != "Pending":
            return seen
        if target.name == "url" and target.advance(1):
            continue  # a bfl-mock server: move its clock instead of waiting
        if target.name != "inprocess":
            time.sleep(0.5)  # a real service needs real time to progress
    raise AssertionError(f"task {task_id} still Pending after 300 s")


@pytest.mark.behaviour(
    "S3/P1/P2/D1-D3 submit -> Pending* Ready, progress never decreases, sample downloads", evidence="high"
)
@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_lifecycle_and_download(target, fmt):
    target.paid()
    body = valid(output_format=fmt, seed=42)
    r = target.client.post(SUBMIT, json=body, headers={"x-key": target.key})
    expect(r, 200, source="the real API (dossier S3: a valid body is accepted)", request=("POST", SUBMIT, body))
    validate("AsyncResponse", r.json())
    seen = poll_to_final(target, r.json()["id"], r.json()["polling_url"])
    assert FINAL.match(",".join(p["status"] for p in seen))
    progress = [p["progress"] for p in seen if p["status"] == "Pending" and p["progress"] is not None]
    assert progress == sorted(progress)
    final = seen[-1]
    if final["status"] != "Ready":
        raise Mismatch(
            target=(200, final), expected=(200, {"status": "Ready"}), expected_label="the real API (dossier P1)"
        )
    assert {"sample", "prompt", "seed"} <= set(final["result"])
    dl = target.client.get(final["result"]["sample"])
    assert dl.status_code == 200 and dl.headers["content-type"] == f"image/{fmt}"
    assert Image.open(io.BytesIO(dl.content)).format == {"jpeg": "JPEG", "png": "PNG"}[fmt]


@pytest.mark.behaviour("S4 webhook submit -> {id, status, webhook_url}", evidence="high")
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(path=st.from_regex(r"/[a-z]{1,8}", fullmatch=True))
def test_webhook_submit_shape(target, path):
    if not target.can_pay():
        return
    r = target.client.post(SUBMIT, json=valid(webhook_url=f"http://127.0.0.1:9{path}"), headers={"x-key": target.key})
    assert r.status_code == 200
    validate("AsyncWebhookResponse", r.json())
    assert r.json()["webhook_url"] == f"http://127.0.0.1:9{path}"


@pytest.mark.behaviour("W1/W2 webhooks arrive in the selected profile's shape", evidence="medium")
@pytest.mark.local_only
def test_webhook_arrives_in_profile_shape(target):
    if target.name == "live":
        pytest.skip("the real API cannot reach a receiver on this machine")
    from mock_server.frontends.server import WebhookReceiver

    with WebhookReceiver(secret="contract-secret") as receiver:
        r = target.client.post(
            SUBMIT,
            json=valid(webhook_url=receiver.url + "/hook", webhook_secret="contract-secret"),
            headers={"x-key": target.key},
        )
        task_id = r.json()["id"]
        if target.mock is not None:
            target.mock.clock.advance(1)
            target.mock.webhooks.wait_for(task_id)
        else:
            target.advance(1)  # a bfl-mock server with a frozen clock
            w = target.client.get("/_mock/webhooks/wait", params={"task_id": task_id, "timeout": 30})
            if w.status_code == 404:
                pytest.skip("the target has no webhook journal to wait on")
        got = receiver.wait(1, timeout=30)[0]
    assert got.status == 200  # the secret verified
    assert got.json["task_id"] == task_id and got.json["status"] in ("SUCCESS", "FAILED")
