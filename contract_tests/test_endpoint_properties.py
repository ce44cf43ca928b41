"""Properties of every generation endpoint, generated from each one's schema (BFL's OpenAPI, or canny's
published page): every bound and type violated -> 422 naming the field; a valid body -> accepted, Pending* then
Ready, the sample downloads, and the image has the size the endpoint's documented rule gives.

The size rules here are written from the evidence (spec, docs, the published Ultra table), not taken from the
fake's code. ``BFL_CONTRACT_PROPERTY_EXAMPLES`` valid bodies per endpoint (default 5; each is a paid call on a
live target, sent only while the budget lasts); ``--bfl-endpoint NAME`` picks endpoints.
"""

from __future__ import annotations

import io
import math
import os

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from PIL import Image

from mock_server.contract import Mismatch, expect
from mock_server.core.endpoints import ENDPOINTS, Endpoint
from mock_server.core.endpoints import family as families
from mock_server.core.schemas import SPEC_PREFIX, load_schema, load_spec_component

from .strategies import valid_bodies, violations
from .test_properties import FINAL, poll_to_final, validate

EXAMPLES = int(os.environ.get("BFL_CONTRACT_PROPERTY_EXAMPLES", "5"))
ULTRA = {  # BFL's published Ultra sizes (one provider's table of BFL's output; dossier A11)
    "21:9": (3136, 1344),
    "16:9": (2752, 1536),
    "4:3": (2368, 1792),
    "3:2": (2496, 1664),
    "1:1": (2048, 2048),
    "2:3": (1664, 2496),
    "3:4": (1792, 2368),
    "9:16": (1536, 2752),
    "9:21": (1344, 3136),
}


def schema_of(endpoint: Endpoint) -> dict:
    if isinstance(endpoint.schema, dict):  # an inline schema (the 2026 additions, bundled from their spec)
        return endpoint.schema
    if endpoint.schema.startswith(SPEC_PREFIX):
        return load_spec_component(endpoint.schema_name)
    return load_schema(endpoint.schema)


def _minimal(endpoint: Endpoint, schema: dict) -> dict:
    from .test_properties import CONTROL

    body: dict = {}
    for name in schema.get("required", []):
        if schema["properties"].get(name, {}).get("type") == "integer":  # outpainting's canvas: holds the input
            body[name] = 2048
            continue
        body[name] = {"finetune_id": "my-finetune", "prompt": "a red cube"}.get(name, CONTROL)
    return body


# image endpoints with an object body; FLUX 3 video (a discriminated union, MP4 results) has its own tests
IMAGE_ENDPOINTS = [
    ep
    for ep in ENDPOINTS
    if "oneOf" not in schema_of(ep) and families.output_media_type(ep.family, "jpeg").startswith("image/")
]
CASES = [
    pytest.param(ep, field, value, id=f"{ep.name}-{field}-{str(value)[:12]}")
    for ep in IMAGE_ENDPOINTS
    for field, value in violations(schema_of(ep))
]


@pytest.mark.behaviour("S2 every endpoint: each constraint violated -> 422 naming that field", evidence="high")
@pytest.mark.parametrize(("endpoint", "field", "value"), CASES)
def test_each_violation_is_a_422_naming_the_field(target, endpoint, field, value):
    schema = schema_of(endpoint)
    body = {**_minimal(endpoint, schema), field: value}
    r = target.client.post(endpoint.path, json=body, headers={"x-key": target.key})
    expect(
        r,
        422,
        source=f"the real API (FastAPI: one 422 item at body.{field})",
        request=("POST", endpoint.path, body),
        field=f"body.{field}",
        check=lambda j: [e.get("loc") for e in j.get("detail", [])] == [["body", field]],
    )
    detail = r.json()
    validate("HTTPValidationError", detail, 422)
    assert [e["loc"] for e in detail["detail"]] == [["body", field]]


def _size(image_b64: str) -> tuple[int, int]:
    import base64

    return Image.open(io.BytesIO(base64.b64decode(image_b64))).size


def size_rule_holds(endpoint: Endpoint, body: dict, size: tuple[int, int]) -> bool:
    """The documented size rule for ``endpoint`` (README "Endpoints", each with its evidence)."""
    w, h = size
    first = next((body[f] for f in endpoint.family.image_fields if f in body and f != "image_prompt"), None)
    name = endpoint.name
    if name == "flux-pro-1.0-canny-finetuned":  # the control image's size down to multiples of 16
        cw, ch = _size(body["control_image"])
        return (w, h) == (max(16, cw // 16 * 16), max(16, ch // 16 * 16))
    if name in ("flux-pro-1.1", "flux-dev", "flux-pro"):  # width x height, defaults 1024 x 768 (spec)
        return (w, h) == (body.get("width") or 1024, body.get("height") or 768)
    if "ultra" in name:  # the published ~4 MP sizes; 16:9 by default (spec)
        return (w, h) == ULTRA[body.get("aspect_ratio") or "16:9"]
    if "kontext" in name:  # ~1 MP, multiples of 32, at aspect_ratio or the input's ratio (docs)
        if body.get("aspect_ratio"):
            rw, rh = map(int, body["aspect_ratio"].split(":"))
            ratio = rw / rh
        else:
            iw, ih = _size(first) if first else (1, 1)
            ratio = iw / ih
        return w % 32 == h % 32 == 0 and 0.85e6 < w * h < 1.25e6 and math.isclose(w / h, ratio, rel_tol=0.1)
    if name.startswith("flux-2-"):  # width x height in multiples of 16; else the input's within 4 MP; else 1 MP
        if body.get("width") and body.get("height"):
            return (w, h) == (body["width"] // 16 * 16, body["height"] // 16 * 16)
        if first:
            iw, ih = _size(first)
            return w % 16 == h % 16 == 0 and abs(w - iw) < 16 and abs(h - ih) < 16
        return (w, h) == (1024, 1024)
    if "fill" in name:
        return (w, h) == _size(body["image"])
    if "expand" in name:
        iw, ih = _size(body["image"])
        sides = [body.get(k) or 0 for k in ("top", "bottom", "left", "right")]
        return (w, h) == (iw + sides[2] + sides[3], ih + sides[0] + sides[1])
    if name in ("flux-tools/erase-v1", "flux-tools/deblur-v1"):  # the input's size (assumption)
        return (w, h) == _size(body["image"])
    if name.startswith("flux-tools/vto-"):  # the person's ratio within 1 MP (v1) / 4 MP (v2), multiples of 16
        pw, ph = _size(body["person"])
        return w % 16 == h % 16 == 0 and abs(w - pw) < 16 and abs(h - ph) < 16
    if name == "flux-tools/outpainting-v1":  # the canvas
        return (w, h) == (body["width"], body["height"])
    raise AssertionError(f"no documented size rule for {name}")


@pytest.mark.behaviour(
    "S3/P1/D1 every endpoint: a valid body -> accepted, Pending* Ready, the sample downloads at the documented size",
    evidence="high (lifecycle) / medium (size rules)",
)
@pytest.mark.parametrize("endpoint", IMAGE_ENDPOINTS, ids=lambda ep: ep.name)
def test_valid_bodies_complete_and_download_at_the_documented_size(target, endpoint):
    schema = schema_of(endpoint)

    @settings(  # no shrinking: each example is a full lifecycle (and a paid call on a live target)
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        phases=[Phase.explicit, Phase.generate],
    )
    @given(body=valid_bodies(schema, endpoint.family.image_fields))
    def check(body):
        if not target.can_pay(f"a {endpoint.name} submit"):
            return
        r = target.client.post(endpoint.path, json=body, headers={"x-key": target.key})
        if r.status_code == 429:  # the target's active-task limit (a shared server): limits are checked on their own
            return
        expect(
            r, 200, source="the real API (dossier S3: a valid body is accepted)", request=("POST", endpoint.path, body)
        )
        validate("AsyncResponse", {k: r.json()[k] for k in ("id", "polling_url")})
        seen = poll_to_final(target, r.json()["id"], r.json()["polling_url"])
        assert FINAL.match(",".join(p["status"] for p in seen))
        final = seen[-1]
        if final["status"] != "Ready":
            raise Mismatch(
                target=(200, final),
                expected=(200, {"status": "Ready"}),
                expected_label="the real API (dossier P1)",
                request=("POST", endpoint.path, body),
            )
        dl = target.client.get(final["result"]["sample"])
        expect(
            dl, 200, source="the real API (dossier D1: the sample downloads)", request=("GET", "(the sample URL)", None)
        )
        fmt = body.get("output_format")
        image = Image.open(io.BytesIO(dl.content))
        if fmt:
            assert image.format == {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}[fmt]
        assert size_rule_holds(endpoint, body, image.size), (endpoint.name, body.keys(), image.size)

    check()
