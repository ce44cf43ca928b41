"""The vendored spec of BFL's endpoints added after April 2026 (``schemas/openapi/bfl-2026-12-additions.json``):
reproducible from the evidence, every schema sourced, the FLUX 3 video snapshots as data, in the drift report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from mock_server.core import spec_additions
from mock_server.core.config import Settings
from mock_server.core.endpoints import ENDPOINTS
from mock_server.core.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_the_vendored_file_is_what_the_evidence_builds():
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_spec_2026_12.py"), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_every_schema_names_its_source_and_confidence():
    comps = spec_additions.spec()["components"]["schemas"]
    for name, schema in comps.items():
        assert schema.get("x-source"), name
        if name not in ("ResultResponse",):
            assert schema.get("x-confidence"), name


def test_the_default_snapshot_is_the_newest_high_confidence_one():
    snaps = spec_additions.spec()["x-bfl-mock-snapshots"]
    assert snaps["default"] == "latest" == Settings().flux3_video_snapshot
    assert snaps["snapshots"]["latest"]["confidence"] == "high"
    resolution = spec_additions.load_component("Flux3VideoT2VInputs")["$defs"]["Flux3VideoResolution"]
    assert resolution["enum"] == ["hd", "fhd", "qhd", "uhd"]


def test_snapshots_change_the_enums_and_the_draft_enhance_fields():
    early = spec_additions.load_component("Flux3VideoInputsBody", "2026-08-04")
    assert early["$defs"]["Flux3VideoResolution"]["enum"] == ["hd", "fhd"]
    assert list(early["$defs"]["Flux3VideoDraftEnhanceInputs"]["properties"]) == [
        "mode",
        "draft_cache",
        "safety_tolerance",
    ]
    reseller = spec_additions.load_component("Flux3VideoInputsBody", "reseller")
    assert "9:21" in reseller["$defs"]["Flux3VideoAspectRatio"]["enum"]
    draft = reseller["$defs"]["Flux3VideoDraftEnhanceInputs"]
    assert "draft_task_id" in draft["properties"] and "draft_cache" not in draft["properties"]
    assert draft["required"] == ["mode", "draft_task_id"]


def test_an_unknown_snapshot_is_a_config_error_with_a_hint():
    with pytest.raises(ConfigError, match="did you mean 'latest'"):
        Settings().replace(flux3_video_snapshot="lattest")


def test_the_drift_report_names_every_endpoint_added_since_april():
    from mock_server.contract import drift

    named = {f["field"] for f in drift() if f["schema"] == "(endpoints since 2026-04-23)"}
    assert named == set(spec_additions.added_paths())
    assert {
        "/v1/flux-3-video",
        "/v1/flux-pro",
        "/v1/flux-tools/erase-v1",
        "/v1/flux-2-klein-9b-kv-bf16-finetuned",
    } <= named
    assert len(named) == 17


# ---------------------------------------------------------------------------------------------- the oracle
# The fake's request models (compiled from the vendored file by mock_server.http.validation) against an oracle
# written by hand from the published schemas (contract_tests/oracle_2026_12.py: FastAPI + pydantic v2), on the
# edges of every bound and on generated bodies: same accept/reject decision, same 422 body. Served endpoints
# are asked over HTTP (auth, routing and all); the others through the compiled model and FastAPI's pipeline.
EXAMPLES = int(os.environ.get("BFL_SPEC_2026_12_EXAMPLES", "50"))  # make contract: 1,000 per endpoint
PATHS = sorted(spec_additions.added_paths())


@pytest.fixture(scope="module")
def oracle():
    pytest.importorskip("fastapi")
    from contract_tests.asgi_client import AsgiClient
    from contract_tests.oracle_2026_12 import oracle_app

    client = AsgiClient(oracle_app(), "2026-12")
    yield client
    client.close()


@pytest.fixture(scope="module")
def served():
    from mock_server.frontends.transport import BflTransport
    from mock_server.mock import BflMock

    mock = BflMock(seed=7, progression="manual", frozen_clock=True, active_task_limit=10**6, credits=1e12)
    with httpx.Client(transport=BflTransport(mock), base_url="http://127.0.0.1", headers={"x-key": "k"}) as c:
        yield {ep.path for ep in ENDPOINTS}, c
    mock.close()


def _compiled(path: str) -> Any:
    from mock_server.http.validation import build_model

    if path not in _MODELS:
        _MODELS[path] = build_model(spec_additions.load_component(spec_additions.added_paths()[path]))
    return _MODELS[path]


_MODELS: dict[str, Any] = {}


def _fake(served: Any, path: str, content: bytes) -> tuple[int, Any]:
    from mock_server.core.errors import ValidationFailed
    from mock_server.http import validation as v

    paths, client = served
    if path in paths:
        r = client.post(path, content=content, headers={"content-type": "application/json"})
        return r.status_code, r.json() if r.status_code == 422 else None
    try:
        v.validate_body(_compiled(path), v.parse_body(content, "application/json"))
    except ValidationFailed as e:
        return 422, json.loads(v.dumps({"detail": e.errors}))
    return 200, None


def _agree(oracle: Any, served: Any, path: str, body: Any) -> None:
    content = json.dumps(body).encode()
    b = oracle.post(path, content=content, headers={"content-type": "application/json", "x-key": "k"})
    a_status, a_body = _fake(served, path, content)
    expected = (b.status_code, b.json() if b.status_code == 422 else None)
    if a_status == 429 and b.status_code == 200:
        return
    if a_status != 422 and b.status_code != 422:  # both accepted (a served endpoint may still refuse later)
        return
    if a_status == 422 and b.status_code == 200:  # only a check beyond the schema may refuse what FastAPI takes
        assert a_body == {"detail": _beyond_schema(path, content)}, f"{path} {body!r}"
        return
    assert (a_status, a_body) == expected, f"{path} {body!r}"


def _beyond_schema(path: str, content: bytes) -> list[dict[str, Any]]:
    """The errors of the endpoint's checks beyond the schema (not in the spec, so not in the oracle)."""
    from mock_server.http import validation as v

    endpoint = next(ep for ep in ENDPOINTS if ep.path == path)
    params = v.validate_body(_compiled(path), v.parse_body(content, "application/json")).model_dump()
    return [e for check in endpoint.checks for e in check(params)]


@pytest.mark.parametrize("path", PATHS)
def test_bound_edges_agree_with_the_oracle(oracle, served, path):
    from contract_tests.strategies_2026_12 import boundaries

    schema = spec_additions.load_component(spec_additions.added_paths()[path])
    for tag, field in boundaries(schema):
        _agree(oracle, served, path, {**_minimal(schema, tag), **field})


@pytest.mark.parametrize("path", PATHS)
def test_generated_bodies_agree_with_the_oracle(oracle, served, path):
    from hypothesis import HealthCheck, given, settings

    from contract_tests.strategies_2026_12 import bodies

    schema = spec_additions.load_component(spec_additions.added_paths()[path])

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(body=bodies(schema))
    def check(body):
        _agree(oracle, served, path, body)

    check()


def _minimal(schema: dict[str, Any], tag: str | None) -> dict[str, Any]:
    if tag is None:
        obj = schema
    else:
        defs = schema["$defs"]
        obj = next(
            defs[m["$ref"].rsplit("/", 1)[-1]]
            for m in schema["oneOf"]
            if tag in defs[m["$ref"].rsplit("/", 1)[-1]]["properties"]["mode"]["enum"]
        )
    out: dict[str, Any] = {"mode": tag} if tag else {}
    for name in obj.get("required", []):
        if name == "mode":
            continue
        prop = obj["properties"][name]
        out[name] = 256 if prop.get("type") == "integer" else "my-finetune" if name == "finetune_id" else "x"
    return out


# ---------------------------------------------------------------------------------------------- served: images
def _png(width: int, height: int, colour: tuple[int, int, int] = (200, 40, 40)) -> str:
    import base64
    import io

    from PIL import Image

    im = Image.new("RGB", (width, height), colour)
    im.paste(Image.new("RGB", (width // 4, height // 4), (20, 200, 20)), (width // 8, height // 8))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


@pytest.fixture
def client():
    from mock_server.frontends.transport import BflTransport
    from mock_server.mock import BflMock

    mock = BflMock(seed=11, progression="polls:2", frozen_clock=True)
    with httpx.Client(transport=BflTransport(mock), base_url="https://api.us1.bfl.ai", headers={"x-key": "k"}) as c:
        yield c
    mock.close()


def _cycle(client: httpx.Client, path: str, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    r = client.post(path, json=body)
    assert r.status_code == 200, r.text
    submitted = r.json()
    for _ in range(10):
        done = client.get(submitted["polling_url"]).json()
        if done["status"] != "Pending":
            break
    assert done["status"] == "Ready", done
    image = client.get(done["result"]["sample"])
    assert image.status_code == 200
    return submitted, done, image.content


def _size(data: bytes) -> tuple[int, int]:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return im.size


@pytest.mark.parametrize("model", ["4b", "9b", "9b-kv", "9b-kv-bf16", "base-4b", "base-9b"])
def test_klein_lora_endpoints_take_the_base_body_and_a_finetune(client, model):
    path = f"/v1/flux-2-klein-{model}-finetuned"
    body = {"prompt": "a lighthouse", "finetune_id": "my-lora", "finetune_strength": 0.8, "width": 512, "height": 384}
    submitted, _, data = _cycle(client, path, body)
    assert _size(data) == (512, 384) and submitted["cost"] is not None
    shared = {**body, "finetune_id": "org-1234/house-style"}  # a LoRA shared with the org
    assert client.post(path, json=shared).status_code == 200
    missing = client.post(path, json={"prompt": "x"})
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "finetune_id"]


def test_klein_lora_unknown_finetune_in_strict_mode_is_the_finetune_400():
    from mock_server.frontends.transport import BflTransport
    from mock_server.mock import BflMock

    mock = BflMock(seed=1, strict_finetunes=True, frozen_clock=True)
    try:
        with httpx.Client(transport=BflTransport(mock), base_url="https://api.us1.bfl.ai", headers={"x-key": "k"}) as c:
            r = c.post("/v1/flux-2-klein-4b-finetuned", json={"prompt": "x", "finetune_id": "nope"})
            assert r.status_code == 400 and r.json() == {"detail": "Finetune not found or not ready"}
    finally:
        mock.close()


def test_flux_pro_is_flux1_pro_text_to_image_at_width_by_height(client):
    _, _, data = _cycle(client, "/v1/flux-pro", {"prompt": "a fox", "width": 640, "height": 480})
    assert _size(data) == (640, 480)
    r = client.post("/v1/flux-pro", json={"prompt": "a fox", "steps": 51})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "steps"]


def test_erase_removes_the_masked_area_and_keeps_the_size(client):
    import base64
    import io

    import numpy as np
    from PIL import Image

    image = _png(200, 100)  # red ground, a green square at (25..75, 12..37)
    mask = np.zeros((100, 200, 3), dtype=np.uint8)
    mask[12:37, 25:75] = 255  # white = remove: exactly the green square
    buf = io.BytesIO()
    Image.fromarray(mask).save(buf, "PNG")
    body = {"image": image, "mask": base64.b64encode(buf.getvalue()).decode(), "dilate_pixels": 4}
    submitted, _, data = _cycle(client, "/v1/flux-tools/erase-v1", body)
    assert submitted["cost"] == 3.4  # 3 for the first output MP + 0.4 for the input MP started
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "PNG" and im.size == (200, 100)  # png by default, the input's size
        out = np.asarray(im.convert("RGB")).astype(int)
    hole = out[16:33, 30:70]
    assert hole[:, :, 1].mean() < 120 and hole[:, :, 0].mean() > 120  # the green object is gone, red fills it
    assert (out[80:, 150:] == (200, 40, 40)).all()  # unmasked pixels kept


def test_erase_refuses_a_dilation_out_of_bounds_and_ignores_unknown_fields(client):
    r = client.post("/v1/flux-tools/erase-v1", json={"image": _png(64, 64), "mask": _png(64, 64), "dilate_pixels": 26})
    assert r.status_code == 422 and r.json()["detail"][0]["ctx"] == {"le": 25}
    ok = client.post("/v1/flux-tools/erase-v1", json={"image": _png(64, 64), "mask": _png(64, 64), "extra": 1})
    assert ok.status_code == 200  # no additionalProperties: false on Flux2EraseInputs


@pytest.mark.parametrize(("version", "cap"), [("v1", 1_048_576), ("v2", 4_194_304)])
def test_virtual_try_on_combines_person_and_garment_within_its_cap(client, version, cap):
    import io

    import numpy as np
    from PIL import Image

    person, garment = _png(1600, 1200, (30, 30, 200)), _png(200, 200, (250, 250, 0))
    body = {
        "prompt": "TRY-ON: the person of image 1 wearing the garments of image 2.",
        "person": person,
        "garment": garment,
    }
    _, _, data = _cycle(client, f"/v1/flux-tools/vto-{version}", body)
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "JPEG"  # jpeg by default
        w, h = im.size
        rgb = np.asarray(im.convert("RGB")).astype(int)
    assert w * h <= cap and abs(w / h - 4 / 3) < 0.05
    middle = rgb[h // 3 : h // 3 + h // 2, w // 4 : w // 4 + w // 2]
    assert middle[:, :, 0].mean() > 120 and middle[:, :, 1].mean() > 120  # the yellow garment over the torso
    assert rgb[h - 10 :, :20, 2].mean() > 150  # the person's blue elsewhere


def test_outpainting_places_the_input_on_the_canvas_at_the_offset(client):
    import io

    import numpy as np
    from PIL import Image

    body = {
        "input_image": _png(64, 64),
        "width": 256,
        "height": 128,
        "reference_offset_x": 10,
        "reference_offset_y": 20,
    }
    _, _, data = _cycle(client, "/v1/flux-tools/outpainting-v1", body)
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "PNG" and im.size == (256, 128)
        rgb = np.asarray(im.convert("RGB")).astype(int)
    assert (rgb[20 + 40, 10 + 40] == (200, 40, 40)).all()  # the input's red at its place
    assert (rgb[20 + 10, 10 + 10] == (20, 200, 20)).all()  # and its green square


def test_outpainting_refuses_an_image_outside_the_canvas_unless_auto_crop(client):
    body = {"input_image": _png(64, 64), "width": 128, "height": 128, "reference_offset_x": 100}
    r = client.post("/v1/flux-tools/outpainting-v1", json=body)
    assert r.status_code == 422 and "outside the canvas" in r.json()["detail"][0]["msg"]
    assert client.post("/v1/flux-tools/outpainting-v1", json={**body, "auto_crop": True}).status_code == 200
    big = client.post(
        "/v1/flux-tools/outpainting-v1", json={"input_image": _png(64, 64), "width": 4096, "height": 1025}
    )
    assert big.status_code == 422 and "4 MP" in big.json()["detail"][0]["msg"]
    small = client.post("/v1/flux-tools/outpainting-v1", json={"input_image": "x", "width": 63, "height": 64})
    assert small.status_code == 422 and small.json()["detail"][0]["loc"] == ["body", "width"]


def test_deblur_sharpens_at_the_input_size(client):
    import io

    import numpy as np
    from PIL import Image, ImageFilter

    src = Image.new("RGB", (120, 80), (0, 0, 0))
    src.paste(Image.new("RGB", (60, 80), (255, 255, 255)), (60, 0))
    blurred = src.filter(ImageFilter.GaussianBlur(3))
    buf = io.BytesIO()
    blurred.save(buf, "PNG")
    import base64

    _, _, data = _cycle(client, "/v1/flux-tools/deblur-v1", {"image": base64.b64encode(buf.getvalue()).decode()})
    with Image.open(io.BytesIO(data)) as im:
        assert im.size == (120, 80)
        out = np.asarray(im.convert("L")).astype(int)
    edge_in = np.abs(np.diff(np.asarray(blurred.convert("L")).astype(int), axis=1)).max()
    assert np.abs(np.diff(out, axis=1)).max() > edge_in  # a steeper edge than the blurred input's


# ---------------------------------------------------------------------------------------------- served: video
def _mp4(data: bytes) -> dict[str, Any]:
    import io

    av = pytest.importorskip("av")
    with av.open(io.BytesIO(data)) as src:
        v = src.streams.video[0]
        return {
            "size": (v.codec_context.width, v.codec_context.height),
            "codec": v.codec_context.name,
            "fps": float(v.average_rate),
            "seconds": round(src.duration / 1_000_000, 2),
            "audio": [a.codec_context.name for a in src.streams.audio],
        }


def _video_cycle(
    client: httpx.Client, path: str, body: dict[str, Any], cost: float | None = None
) -> tuple[dict[str, Any], bytes]:
    """A video task's cycle: ``cost`` is the submit's estimate (None: the price depends on the finished video)."""
    submitted, done, data = _cycle(client, path, body)
    assert submitted["cost"] == cost and submitted["input_mp"] is None and submitted["output_mp"] is None
    return done, data


def test_flux_3_t2v_is_an_mp4_of_the_tier_duration_and_audio(client):
    body = {"mode": "t2v", "prompt": "a fox", "duration": 6}
    done, data = _video_cycle(client, "/v1/flux-3-video", body, cost=5)  # hd and a duration: priced at submit
    assert done["result"]["sample"].split("?")[0].endswith(".mp4")
    assert _mp4(data) == {"size": (1280, 720), "codec": "h264", "fps": 24.0, "seconds": 6.0, "audio": ["aac"]}
    head = client.get(done["result"]["sample"], headers={"Range": "bytes=0-99"})
    assert head.status_code == 206 and len(head.content) == 100 and head.headers["content-type"] == "video/mp4"


def test_flux_3_aliases_aspect_ratio_tier_and_silence(client):
    body = {"mode": "text-to-video", "prompt": "tall", "aspect_ratio": "9:16", "resolution": "fhd", "duration": 5}
    _, data = _video_cycle(client, "/v1/flux-3-video", {**body, "generate_audio": False})
    assert _mp4(data)["size"] == (1080, 1920) and _mp4(data)["audio"] == []


def test_flux_3_refuses_webhooks_and_v2v_beyond_15_seconds(client):
    r = client.post("/v1/flux-3-video", json={"mode": "t2v", "prompt": "x", "webhook_url": "https://example.com"})
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "extra_forbidden"
    assert r.json()["detail"][0]["loc"] == ["body", "t2v", "webhook_url"]  # the tag, as pydantic reports it
    v2v = client.post("/v1/flux-3-video", json={"mode": "v2v", "prompt": "x", "start_video": "x", "duration": 16})
    assert v2v.status_code == 422 and v2v.json()["detail"][0]["loc"][:3] == ["body", "v2v", "duration"]
    none = client.post("/v1/flux-3-video", json={"prompt": "x"})
    assert none.status_code == 422 and none.json()["detail"][0]["type"] == "union_tag_not_found"


def test_flux_3_i2v_keyframe_limits_beyond_the_schema(client):
    three = client.post("/v1/flux-3-video", json={"mode": "i2v", "prompt": "x", "keyframes": ["a", "b", "c"]})
    assert three.status_code == 422 and "explicit duration" in three.json()["detail"][0]["msg"]
    order = client.post("/v1/flux-3-video", json={"mode": "i2v", "prompt": "x", "keyframes": [[3, "a"], [1, "b"]]})
    assert order.status_code == 422 and "time order" in order.json()["detail"][0]["msg"]


def test_flux_3_i2v_timed_keyframes_set_the_auto_duration(client):
    body = {"mode": "i2v", "prompt": "x", "keyframes": [[0, _png(64, 36)], [6.5, _png(64, 36, (0, 0, 250))]]}
    _, data = _video_cycle(client, "/v1/flux-3-video", body)
    assert _mp4(data)["seconds"] == 7.0  # the last pair's second rounded up


def test_flux_3_draft_then_enhance_renders_the_same_content_at_full_quality(client):
    import base64

    done, draft = _video_cycle(
        client, "/v1/flux-3-video", {"mode": "t2v", "prompt": "a fox", "draft": True, "duration": 5}, cost=5
    )
    assert _mp4(draft)["size"] == (640, 360)
    bundle = client.get(done["result"]["draft_cache"]).content
    body = {"mode": "draft_enhance", "draft_cache": base64.b64encode(bundle).decode()}
    _, full = _video_cycle(client, "/v1/flux-3-video", body)
    assert _mp4(full)["size"] == (1920, 1080) and _mp4(full)["seconds"] == 5.0  # fhd by default
    tampered = base64.b64encode(bundle.replace(b"a fox", b"a cat")).decode()
    r = client.post("/v1/flux-3-video", json={"mode": "draft-enhance", "draft_cache": tampered})
    for _ in range(10):
        final = client.get(r.json()["polling_url"]).json()
        if final["status"] != "Pending":
            break
    assert final["status"] == "Error"


def test_video_upscale_and_edit_follow_the_input_video(client):
    import base64

    from mock_server.core import video

    source = video.render(video.Clip(320, 180, 3, prompt="source", audio=True))
    b64 = base64.b64encode(source).decode()
    _, up = _video_cycle(client, "/v1/flux-tools/video-upscale-v1", {"input_video": b64, "upscale_factor": 2})
    assert _mp4(up)["size"] == (640, 360) and _mp4(up)["seconds"] == 3.0 and _mp4(up)["audio"] == ["aac"]
    _, edit = _video_cycle(client, "/v1/flux-tools/video-edit-v1", {"video": b64, "prompt": "make it night"})
    assert _mp4(edit)["size"] == (320, 180) and _mp4(edit)["seconds"] == 3.0


def test_the_snapshot_setting_changes_what_flux_3_video_accepts():
    from mock_server.frontends.transport import BflTransport
    from mock_server.mock import BflMock

    body = {"mode": "t2v", "prompt": "x", "resolution": "uhd"}
    for snapshot, status in (("latest", 200), ("2026-08-04", 422)):
        mock = BflMock(seed=1, frozen_clock=True, flux3_video_snapshot=snapshot)
        try:
            with httpx.Client(transport=BflTransport(mock), base_url="https://api.bfl.ai", headers={"x-key": "k"}) as c:
                assert c.post("/v1/flux-3-video", json=body).status_code == status
                early = c.post("/v1/flux-3-video", json={"mode": "draft_enhance", "draft_cache": "x", "user": "u"})
                assert early.status_code == (422 if snapshot == "2026-08-04" else 200)
        finally:
            mock.close()


def test_flux_3_polls_pass_reasoning_and_generating_and_settle_the_cost():
    from mock_server.frontends.transport import BflTransport
    from mock_server.mock import BflMock

    mock = BflMock(seed=1, progression="polls:6", frozen_clock=True)
    try:
        with httpx.Client(transport=BflTransport(mock), base_url="https://api.bfl.ai", headers={"x-key": "k"}) as c:
            r = c.post("/v1/flux-3-video", json={"mode": "t2v", "prompt": "x", "duration": 5}).json()
            seen = [c.get(r["polling_url"]).json() for _ in range(6)]
        statuses = [s["status"] for s in seen]
        assert statuses[0] == "Pending" and statuses[-1] == "Ready"
        assert "Reasoning" in statuses and "Generating" in statuses
        assert statuses.index("Reasoning") < statuses.index("Generating")
        assert seen[-1]["cost"] == mock.settings.cost_per_request and r["cost"] == seen[-1]["cost"]  # hd, 5 s
        assert "cost" not in seen[1]
    finally:
        mock.close()


# ---------------------------------------------------------------------------------------------- behind a setting
def test_flex_outpainting_is_served_only_behind_its_setting(client):
    import io

    from PIL import Image

    from mock_server.frontends.transport import BflTransport
    from mock_server.mock import BflMock

    body = {"input_image": _png(64, 48), "width": 128, "height": 96, "bbox_x1": 10, "bbox_y1": 20}
    assert client.post("/v1/flux-2-flex-outpainting", json=body).status_code == 404  # off by default
    mock = BflMock(seed=4, progression="polls:1", frozen_clock=True, flux2_flex_outpainting=True)
    try:
        with httpx.Client(transport=BflTransport(mock), base_url="https://api.bfl.ai", headers={"x-key": "k"}) as c:
            _, _, data = _cycle(c, "/v1/flux-2-flex-outpainting", body)
            with Image.open(io.BytesIO(data)) as im:
                assert im.size == (128, 96) and im.format == "PNG"
                assert im.convert("RGB").getpixel((10 + 1, 20 + 1)) == (200, 40, 40)  # the input at the bbox
            _, _, padded = _cycle(c, "/v1/flux-2-flex-outpainting", {**body, "pre_padded": True})
            assert _size(padded) == (64, 48)  # already the canvas
            _, _, same = _cycle(c, "/v1/flux-2-flex-outpainting", {"input_image": _png(64, 48), "width": 100})
            assert _size(same) == (100, 48)  # a null side is the input's
            r = c.post("/v1/flux-2-flex-outpainting", json={**body, "unknown": 1, "steps": 101})
            assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "steps"]
        row = next(e for e in mock.endpoints if e.name == "flux-2-flex-outpainting")
        assert "unknown" in row.evidence and "flux2_flex_outpainting" in row.evidence
    finally:
        mock.close()
