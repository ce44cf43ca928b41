"""``core.redact``: one redaction policy. ``JOURNAL`` (the request journal, the access log) and ``RECORDING``
(the contract kit's cassettes) hide the same things: secret headers, query parameters and body keys, every
endpoint's image fields (from the registry), what a 422 echoes of them; they differ only in how they show it."""

from __future__ import annotations

import io
import json

import httpx
import numpy as np
import pytest
from bfl_helpers import BASE, b64_image

from mock_server.contract import Recorder, scrub_json
from mock_server.core.endpoints import ENDPOINTS, all_image_fields, image_fields
from mock_server.core.redact import (
    JOURNAL,
    MAX_DEPTH,
    MAX_ITEMS,
    MAX_STRING,
    RECORDING,
    REDACTED_HEADERS,
    SECRET_KEYS,
    SECRET_PARAMS,
    Redaction,
    control_summary,
    redact_json,
)
from mock_server.frontends.asgi import AccessLog
from mock_server.frontends.transport import BflTransport
from mock_server.http.journal import redact_response
from mock_server.http.types import HttpResponse
from mock_server.mock import BflMock

POLICIES = [JOURNAL, RECORDING]
IMAGE = b64_image(np.random.default_rng(7).integers(0, 255, (48, 48, 3), dtype=np.uint8))  # ~9 KB of base64
PIECE = IMAGE[1000:1060]  # no 60 characters of it may survive


def _shown(value: object) -> str:
    return json.dumps(value, default=str)


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_every_secret_key_at_any_depth_any_case_any_type_is_hidden(policy: Redaction):
    for key in SECRET_KEYS:
        for variant in (key, key.upper(), key.title()):
            for value in ("sup3rs3cretvalue", 123456789, {"nested": "sup3rs3cretvalue"}, ["sup3rs3cretvalue"]):
                out = _shown(policy.json({"a": [{"b": {variant: value}}]}))
                assert "sup3rs3cret" not in out and "123456789" not in out, (policy.name, variant, value, out)
    assert policy.json({"webhook_secret": None}) == {"webhook_secret": None}  # absent is not a secret


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_every_image_field_of_every_endpoint_is_reduced_to_its_size_and_hash(policy: Redaction):
    fields = all_image_fields()
    assert fields == {f for ep in ENDPOINTS for f in image_fields(ep)} and "control_image" in fields
    for field in fields:
        out = policy.json({"prompt": "a red cube", "deep": [{field: IMAGE}]})
        assert PIECE not in _shown(out) and out["prompt"] == "a red cube", field
        assert out["deep"][0][field] == policy.image(IMAGE)


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_what_a_422_echoes_is_hidden_as_the_request_would_be(policy: Redaction):
    sent_as_text = json.dumps({"prompt": "p", "input_image": IMAGE, "webhook_secret": "sup3rs3cret"})
    answer = {
        "detail": [
            {"type": "string_type", "loc": ["body", "webhook_secret"], "msg": "m", "input": 987654321},
            {"type": "string_type", "loc": ["body", "control_image"], "msg": "m", "input": IMAGE},
            {"type": "dict_type", "loc": ["body"], "msg": "m", "input": sent_as_text},
            {"type": "int_type", "loc": ["body", "seed"], "msg": "m", "input": sent_as_text},  # JSON text
            {"type": "int_type", "loc": ["body", "seed"], "msg": "m", "input": "not a seed"},
            # a strict schema refusing another endpoint's image field echoes it under its own name
            {"type": "extra_forbidden", "loc": ["body", "input_image"], "msg": "m", "input": IMAGE},
        ]
    }
    out = policy.json(answer)
    shown = _shown(out)
    assert PIECE not in shown and "sup3rs3cret" not in shown and "987654321" not in shown
    items = out["detail"]
    assert items[0]["input"] == policy.mask
    assert items[1]["input"] == policy.image(IMAGE)
    assert items[2]["input"]["input_image"] == policy.image(IMAGE) and items[2]["input"]["prompt"] == "p"
    assert items[3]["input"] == items[2]["input"]
    assert items[4]["input"] == "not a seed"  # an echo of nothing secret stays as it was
    assert items[5]["input"] == policy.image(IMAGE)
    assert [i["loc"] for i in items] == [i["loc"] for i in answer["detail"]]


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_secret_headers_in_any_case(policy: Redaction):
    for name in REDACTED_HEADERS:
        for variant in (name, name.upper(), name.title()):
            shown = policy.header(variant, "Bearer sup3rs3cret")
            assert "sup3rs3cret" not in shown, (policy.name, variant)
    assert policy.header("content-type", "application/json") == "application/json"
    assert JOURNAL.header("x-key", "") == "" and RECORDING.header("x-key", "") == "REDACTED"


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_secret_query_parameters(policy: Redaction):
    assert set(SECRET_PARAMS) == {"sig", "key", "token", "secret"}
    query = "id=t1&sig=abc%2Bdef&SE=2026&key=k1&Token=t&secret=s&keyboard=1&flag&sp=r"
    m = policy.mask
    assert policy.query(query) == f"id=t1&sig={m}&SE=2026&key={m}&Token={m}&secret={m}&keyboard=1&flag&sp=r"
    assert policy.query("id=t1") == "id=t1" and policy.query("") == ""


def test_the_instances_differ_only_in_how_they_show_it():
    body = {"x-key": "wo-key-123", "control_image": IMAGE, "prompt": "p" * 5000}
    journal, recording = JOURNAL.json(body), RECORDING.json(body)
    assert journal["x-key"] == "wo***" and recording["x-key"] == "REDACTED"
    assert (
        journal["control_image"]
        == control_summary(IMAGE)
        == {"length": len(IMAGE), "sha256": control_summary(IMAGE)["sha256"]}
    )
    assert recording["control_image"].startswith(f"<scrubbed image: {len(IMAGE)} chars sha256 ")
    assert journal["prompt"] == "p" * MAX_STRING + "... (5000 chars)"  # the journal is bounded
    assert recording["prompt"] == "p" * 5000  # a recording keeps what it may keep whole
    assert JOURNAL.header("x-key", "wo-key-123") == "wo***" and RECORDING.header("x-key", "wo-key-123") == "REDACTED"
    assert RECORDING.json({"control_image": ""}) == {"control_image": ""}


def test_the_journal_is_bounded_in_width_and_depth():
    wide = JOURNAL.json({str(i): i for i in range(MAX_ITEMS + 50)})
    assert len(wide) == MAX_ITEMS + 1 and wide["..."] == "50 more members"
    assert JOURNAL.json(list(range(MAX_ITEMS + 5)))[-1] == "... 5 more items"
    deep: object = "bottom"
    for _ in range(MAX_DEPTH + 5):
        deep = [deep]
    assert "nested deeper than" in _shown(JOURNAL.json(deep))
    assert redact_json({"x-key": "wo-key-123"}) == JOURNAL.json({"x-key": "wo-key-123"})


def test_echoed_text_that_is_not_json():
    long = "x" * 300
    answer = {"detail": [{"loc": ["body"], "input": "short text"}, {"loc": ["body"], "input": long}]}
    journal = JOURNAL.json(answer)["detail"]
    assert journal[0]["input"] == "short text" and journal[1]["input"] == control_summary(long)
    recording = RECORDING.json(answer)["detail"]
    assert recording[1]["input"].startswith("<text 300 chars sha256 ")
    assert JOURNAL.json({"loc": ["body"], "input": "[" * 100000}) is not None  # never a RecursionError


# ---------------------------------------------------------------------------------------------- consumers
def test_the_journal_the_access_log_and_the_recorder_apply_the_one_policy():
    recorder = Recorder()
    with (
        BflMock(frozen_clock=True, active_task_limit=0) as mock,
        httpx.Client(transport=BflTransport(mock), base_url=BASE, event_hooks={"response": [recorder.hook]}) as c,
    ):
        sent = {"prompt": "p", "input_image": IMAGE, "webhook_secret": "sup3rs3cret"}
        ok = c.post("/v1/flux-2-pro", json=sent, headers={"x-key": "wo-key-123", "cookie": "session=abc123"})
        as_text = {"x-key": "wo-key-123", "content-type": "text/plain"}  # a 422 that echoes the whole body
        bad = c.post("/v1/flux-2-pro", content=json.dumps(sent), headers=as_text)
        assert ok.status_code == 200 and bad.status_code == 422 and PIECE in bad.text
        task = ok.json()["id"]
        mock.complete(task)
        sample = c.get("/v1/get_result", params={"id": task}, headers={"x-key": "wo-key-123"}).json()["result"][
            "sample"
        ]
        download = c.get(sample)
        assert download.status_code == 200 and "sig=" in sample
        entries = list(mock.requests)
    # the journal
    first, second = entries[0], entries[1]
    assert first.headers["x-key"] == "wo***" and first.headers["cookie"] == JOURNAL.secret("session=abc123")
    assert first.body["input_image"]["length"] == len(IMAGE) and first.body["webhook_secret"] == "su***"
    assert PIECE not in _shown(second.response) and "sup3rs3cret" not in _shown(second.response)
    assert redact_response(bad.json()) == JOURNAL.json(bad.json())
    # the recorder
    cassette = _shown(recorder.interactions)
    assert PIECE not in cassette and "sup3rs3cret" not in cassette and "wo-key-123" not in cassette
    assert "abc123" not in cassette
    urls = [i["request"]["url"] for i in recorder.interactions]
    signed = next(u for u in urls if "/results/" in u)
    assert "sig=REDACTED" in signed and sample.split("sig=", 1)[1].split("&")[0] not in signed
    assert scrub_json(sent) == RECORDING.json(sent)
    # the access log
    out = io.StringIO()
    path, _, query = sample.partition("?")
    scope = {"type": "http", "method": "GET", "path": httpx.URL(path).path, "query_string": query.encode()}
    AccessLog(out).write(scope, HttpResponse(200, b"img"), 0.0)
    line = out.getvalue()
    assert "sig=***" in line and sample.split("sig=", 1)[1].split("&")[0] not in line


def test_a_list_of_images_is_hidden_item_by_item_journal_recording_and_task_params():
    """FLUX 3's ``keyframes``: a list of images or of ``[seconds, image]`` pairs; every string is an image."""
    from mock_server.core.redact import JOURNAL, RECORDING
    from mock_server.core.tasks import public_params

    image = "iVBORw0KGgo" + "A" * 4000
    body = {"mode": "i2v", "prompt": "p", "keyframes": [[0, image], [2.5, image + "B"]]}
    for shown in (JOURNAL.json(body), RECORDING.json(body), public_params(body, ("keyframes",))):
        text = json.dumps(shown)
        assert "AAAAAAAAAA" not in text, text[:300]
        assert shown["keyframes"][0][0] == 0 and shown["keyframes"][1][0] == 2.5  # the timestamps stay
        assert shown["prompt"] == "p"
    assert JOURNAL.json({"keyframes": [image]})["keyframes"][0]["length"] == len(image)
    echo = {"detail": [{"type": "string_type", "loc": ["body", "i2v", "keyframes", 1], "input": image}]}
    assert "AAAAAAAAAA" not in json.dumps(JOURNAL.json(echo)) + json.dumps(RECORDING.json(echo))
