"""Replay BFL's recorded real exchanges (fixtures/recordings, flux-dev siblings) against the fake:
same status codes, same body keys and value types, same header names."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from bfl_helpers import SUBMIT, body

from mock_server.frontends.transport import BflTransport
from mock_server.mock import BflMock

RECORDINGS = Path(__file__).resolve().parent.parent / "fixtures" / "recordings"
# Edge/CDN or transport headers of one hop, not of the API: not expected from a local fake.
HOP_HEADERS = {"x-azure-ref", "date", "x-ms-request-id"}
# Documented drift between capture dates (README "Fidelity"): `preview` appeared after June 2025.
ALLOWED_EXTRA_KEYS = {"2025-06-flux-dev-submit-poll-ready.yaml": {"preview"}}


def cassettes():
    return sorted(p.name for p in RECORDINGS.glob("*.yaml"))


def load(name):
    return yaml.safe_load((RECORDINGS / name).read_text())["interactions"]


def types(obj):
    if isinstance(obj, dict):
        return {k: types(v) for k, v in obj.items()}
    if isinstance(obj, bool):
        return "bool"
    if isinstance(obj, (int, float)):
        return "number"
    return type(obj).__name__


def compare(name, rec, resp):
    assert resp.status_code == rec["code"], (name, resp.text[:300])
    rec_headers = {k.lower() for k in rec["headers"]} - HOP_HEADERS
    missing = rec_headers - {k.lower() for k in resp.headers}
    assert not missing, (name, missing)
    if rec["headers"].get("Content-Type", [""])[0].startswith("application/json"):
        real, fake = json.loads(rec["body"]), resp.json()
        extra = set(fake) - set(real)
        assert set(real) <= set(fake) and extra <= ALLOWED_EXTRA_KEYS.get(name, set()), (name, real, fake)
        for key in real:
            if real[key] is None or fake[key] is None:
                continue  # null vs value: progress/result change along the run, checked by the lifecycle tests
            assert types(real[key]) == types(fake[key]), (name, key, real[key], fake[key])


FINAL = {"Ready", "Error", "Request Moderated", "Content Moderated"}


def replay(path: Path) -> None:
    """Replay one cassette against a fresh fake; the fake's clock is driven by the recording itself
    (a task finishes exactly when the recorded poll shows its final status)."""
    name = path.name
    interactions = yaml.safe_load(path.read_text())["interactions"]
    mock = BflMock(
        frozen_clock=True,
        progression="manual",
        seed=1,
        api_keys=("good-key",),
        strict_finetunes=True,
        submit_cost_fields="null" if "2025-12-flux-dev" in name else "absent",  # the fields appeared in late 2025
        active_task_limit=0,
    )
    task_id = sample = None
    with mock, httpx.Client(transport=BflTransport(mock), base_url="https://api.bfl.ai") as c:
        for it in interactions:
            req, rec = it["request"], it["response"]
            url = urlsplit(req["url"])
            key = "bad-key" if rec["code"] == 403 else "good-key"
            if req["method"] == "POST" and url.path in ("/v1/flux-dev", SUBMIT):
                sent = json.loads(req["body"])
                if url.path == "/v1/flux-dev":  # a sibling endpoint: same service, our endpoint's body
                    sent = body(prompt=sent["prompt"], seed=42)
                elif str(sent.get("control_image", "")).startswith("<scrubbed image") and rec["code"] == 200:
                    sent["control_image"] = body()["control_image"]  # recordings never keep the image
                resp = c.post(SUBMIT, json=sent, headers={"x-key": key})
                if resp.status_code == 200:
                    task_id = resp.json()["id"]
            elif url.path == "/v1/get_result":
                status = json.loads(rec["body"]).get("status") if rec["body"] else None
                if status in FINAL and mock.task(task_id).status == "Pending":
                    outcome = {"Ready": mock.complete, "Error": mock.fail}.get(status)
                    outcome(task_id) if outcome else mock.moderate(task_id, status)
                resp = c.get("/v1/get_result", params={"id": task_id})
                if resp.json().get("status") == "Ready":
                    sample = resp.json()["result"]["sample"]
            elif url.path.startswith("/results/"):
                u = urlsplit(sample)
                resp = c.get(u.path + "?" + u.query)
            else:
                resp = c.request(req["method"], url.path, content=req.get("body") or b"", headers={"x-key": key})
            compare(name, rec, resp)
    assert "unknown-path" in name or "bad-api-key" in name or task_id is not None


@pytest.mark.parametrize("name", cassettes())
def test_replay(name):
    replay(RECORDINGS / name)


# ---------------------------------------------------------------------------------------------- scrubbing
def _png_b64(seed: int) -> str:
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64 + seed, 48), (seed * 7 % 256, 90, 200)).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _every_image_body(endpoint, *, broken: bool = False) -> dict:
    from mock_server.core.endpoints import image_fields

    body = {"prompt": "a red cube"}
    if "finetune_id" in (endpoint.schema if isinstance(endpoint.schema, dict) else {}) or endpoint.requires_finetune:
        body["finetune_id"] = "my-finetune"
    for i, f in enumerate(image_fields(endpoint)):
        body[f] = _png_b64(i)
    schema = endpoint.schema if isinstance(endpoint.schema, dict) else {}
    if "oneOf" in schema:  # FLUX 3 video: one mode per body (i2v and its keyframe); the others forbid it
        body = {"mode": "i2v", "prompt": body["prompt"], "keyframes": body["keyframes"]}
    for name in schema.get("required", []):  # an inline schema's other required fields (outpainting's canvas)
        if name not in body and schema["properties"][name].get("type") == "integer":
            body[name] = 2048
    if broken:  # a 422 that echoes the body (and so every image) back
        body["prompt"] = 12345
        body["seed"] = "not a seed"
    return body


@pytest.mark.parametrize("broken", [False, True], ids=["accepted", "rejected"])
def test_recordings_and_the_journal_scrub_every_image_field_of_every_endpoint(broken):
    from mock_server.contract import Recorder
    from mock_server.core.endpoints import ENDPOINTS, image_fields

    recorder = Recorder()
    mock = BflMock(frozen_clock=True, active_task_limit=0, credits=1e9)
    sent: list[str] = []
    with (
        mock,
        httpx.Client(
            transport=BflTransport(mock), base_url="https://api.bfl.ai", event_hooks={"response": [recorder.hook]}
        ) as c,
    ):
        for ep in ENDPOINTS:
            body = _every_image_body(ep, broken=broken)
            sent += [body[f] for f in image_fields(ep) if f in body]
            r = c.post(ep.path, json=body, headers={"x-key": "k"})
            assert r.status_code == (422 if broken else 200), (ep.name, r.text[:200])
        journal = json.dumps([e.to_dict() if hasattr(e, "to_dict") else vars(e) for e in mock.requests], default=str)
    cassette = yaml.safe_dump({"interactions": recorder.interactions})
    assert "<scrubbed image:" in cassette
    for image in set(sent):  # not the image, nor any long piece of it
        assert image[100:160] not in cassette
        assert image[100:160] not in journal


def test_recordings_scrub_images_in_a_body_sent_as_text_and_in_the_422_that_echoes_it():
    from mock_server.contract import Recorder

    image = _png_b64(3)
    recorder = Recorder()
    with (
        BflMock(frozen_clock=True) as mock,
        httpx.Client(
            transport=BflTransport(mock), base_url="https://api.bfl.ai", event_hooks={"response": [recorder.hook]}
        ) as c,
    ):
        body = json.dumps({"prompt": "p", "input_image": image, "webhook_secret": "s3cret"})
        r = c.post("/v1/flux-2-pro", content=body, headers={"x-key": "k", "content-type": "text/plain"})
        journal = json.dumps([e.to_dict() for e in mock.requests], default=str)
    assert r.status_code == 422 and image[100:160] in r.text  # the answer echoes the body
    assert image[100:160] not in journal and "s3cret" not in journal  # nor does the journal keep it
    cassette = yaml.safe_dump({"interactions": recorder.interactions})
    assert image[100:160] not in cassette and "s3cret" not in cassette
    assert json.dumps(recorder.interactions).count("<scrubbed image:") == 2  # the request and the echo
