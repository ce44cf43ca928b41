"""The endpoint families on their own (``mock_server.core.endpoints``): typed payloads, a render encoded again
byte-identically from what is kept, output sizes, prices, previews, media types and artefacts."""

from __future__ import annotations

import base64
import dataclasses
import io

import httpx
import pytest
from PIL import Image

from mock_server.core.endpoints import (
    CANNY,
    CANNY_FINETUNED,
    ENDPOINTS,
    EXPAND,
    EXTENSIONS,
    FILL,
    FLUX2,
    KONTEXT,
    TEXT_TO_IMAGE,
    ULTRA,
    Artefact,
    Endpoint,
    FamilyBase,
    all_image_fields,
    aspect_ratio_between,
    parse_ratio,
    per_megapixel,
    ultra_size,
)
from mock_server.core.endpoints import family as families
from mock_server.frontends.transport import BflTransport
from mock_server.mock import BflMock

MAX = 4096 * 4096


def png(width: int, height: int, mode: str = "RGB", colour: object = (200, 40, 40)) -> str:
    buf = io.BytesIO()
    Image.new(mode, (width, height), colour).save(buf, "PNG")  # type: ignore[arg-type]
    return base64.b64encode(buf.getvalue()).decode()


PARAMS = {  # a small valid request per family
    "canny": {"control_image": png(64, 48), "canny_low_threshold": 20},
    "text-to-image": {"prompt": "a cat", "width": 96, "height": 64},
    "ultra": {"prompt": "a cat", "aspect_ratio": "1:1"},
    "kontext": {"prompt": "edit", "input_image": png(96, 64), "input_image_2": png(32, 32)},
    "flux2": {"prompt": "edit", "input_image": png(80, 48), "width": 100, "height": 70},
    "fill": {"prompt": "fill", "image": png(40, 30, "RGBA", (10, 20, 30, 0)), "mask": None},
    "expand": {"prompt": "grow", "image": png(40, 30), "top": 8, "left": 4},
}
FAMILIES = {
    "canny": CANNY,
    "text-to-image": TEXT_TO_IMAGE,
    "ultra": ULTRA,
    "kontext": KONTEXT,
    "flux2": FLUX2,
    "fill": FILL,
    "expand": EXPAND,
}


@pytest.mark.parametrize("kind", sorted(FAMILIES))
def test_payloads_are_dataclasses_and_a_render_encodes_again_byte_identically(kind):
    family, params = FAMILIES[kind], PARAMS[kind]
    if kind == "ultra":  # ~4 MP: the size rule, not rendered here
        inputs, _ = family.render_inputs(params)
        assert dataclasses.is_dataclass(inputs) and (inputs.width, inputs.height) == (2048, 2048)
        return
    inputs, queued = family.render_inputs(params)
    assert dataclasses.is_dataclass(inputs) and queued >= 0
    checked, kept_bytes = family.check(inputs, max_pixels=MAX, fetch=None)
    assert dataclasses.is_dataclass(checked) and kept_bytes > 0
    for fmt in ("png", "jpeg", "webp"):
        out = family.render(checked, seed=7, output_format=fmt, max_pixels=MAX, jpeg_quality=90)
        assert family.rerender(out.intermediate, seed=7, output_format=fmt, jpeg_quality=90) == out.data
        assert Image.open(io.BytesIO(out.data)).format == {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[fmt]
    size = Image.open(io.BytesIO(out.data)).size
    main = families.main_input(family)
    first = Image.open(io.BytesIO(base64.b64decode(params[main]))).size if main else None
    assert families.output_size(family, params, first) in (size, None)


def test_output_size_rules():
    assert ultra_size("16:9") == (2752, 1536) and ultra_size("21:9") == (3136, 1344)
    assert families.output_size(KONTEXT, {"aspect_ratio": "3:7"}, None) == (672, 1568)
    assert families.output_size(KONTEXT, {}, (1920, 1080)) == (1376, 768)
    assert families.output_size(FLUX2, {"width": 650, "height": 360}, None) == (640, 352)
    assert families.output_size(FLUX2, {}, (4000, 4000)) == (2048, 2048)  # within 4 MP
    assert families.output_size(FLUX2, {}, None) == (1024, 1024)
    assert families.output_size(EXPAND, {"top": 2, "right": 3}, (10, 10)) == (13, 12)
    assert families.output_size(FILL, {}, (10, 20)) == (10, 20)
    assert families.output_size(CANNY, {}, (70, 50)) == (64, 48)
    for bad in ("16x9", "0:1", "a:b", ""):
        with pytest.raises(ValueError):
            parse_ratio(bad)


def test_prices_and_the_ratio_check():
    pro = per_megapixel(3, 1.5)
    assert pro(0, 1.98) == 4.5 and pro(1.0, 1.0) == 4.5 and str(pro) == "3 + 1.5/MP"
    check = aspect_ratio_between("7:3", "3:7")
    assert check({"aspect_ratio": "1:1"}) == [] and check({}) == []
    (error,) = check({"aspect_ratio": "8:3"})
    assert error["loc"] == ["body", "aspect_ratio"] and error["type"] == "value_error"
    quote = next(e for e in ENDPOINTS if e.name == "flux-2-pro").quote({"width": 1440, "height": 1440}, 5.0)
    assert (quote.cost, quote.input_mp, quote.output_mp) == (4.5, 0.0, 1.98)


def test_the_registry_is_rows_of_families():
    assert (
        ENDPOINTS[0] is CANNY_FINETUNED and len({e.name for e in ENDPOINTS}) == len(ENDPOINTS) == 17 + 15
    )  # April's, then the 2026-12 additions
    for e in ENDPOINTS:
        assert isinstance(e.family, FamilyBase) and families.size_rule(e.family)
    assert {"control_image", "image_prompt", "mask", "input_image_8"} <= all_image_fields()
    assert families.main_input(CANNY) == "control_image" and families.main_input(TEXT_TO_IMAGE) is None
    assert families.main_input(KONTEXT) == "input_image" and families.main_input(FILL) == "image"


def test_a_row_refuses_a_family_without_the_required_members():
    class Half:
        name = "half"
        image_fields: tuple[str, ...] = ()

        def check(self, inputs: object, *, max_pixels: int, fetch: object) -> tuple[object, int]:
            return inputs, 0

    with pytest.raises(TypeError, match="endpoint toy-half: its family lacks render_inputs, render, rerender"):
        Endpoint(name="toy-half", schema={"type": "object"}, family=Half())  # type: ignore[arg-type]


def test_media_types_and_extensions():
    assert EXTENSIONS == {"image/jpeg": "jpeg", "image/png": "png", "image/webp": "webp", "video/mp4": "mp4"}
    assert Artefact.of("sample", "image/jpeg") == Artefact("sample", "image/jpeg", "jpeg")
    assert Artefact.of("sound", "audio/wav").extension == "wav"  # not listed: the subtype
    for fmt, media in (("jpeg", "image/jpeg"), ("png", "image/png"), ("webp", "image/webp")):
        assert families.artefacts(TEXT_TO_IMAGE, fmt) == (Artefact("sample", media, fmt),)
        assert families.output_media_type(CANNY, fmt) == media
    paths = families.blob_paths(TEXT_TO_IMAGE, "png", "results/ab/cd/ef/sample.png")
    assert paths == ((Artefact("sample", "image/png", "png"), "results/ab/cd/ef/sample.png"),)
    assert families.artefact_at(TEXT_TO_IMAGE, "png", "results/ab/cd/ef/other.bin").name == "sample"


def test_canny_owns_its_edge_map_preview():
    assert families.previews(CANNY, {}) == ()
    (edges,) = families.previews(CANNY, {"control_image": {"length": 4}, "canny_low_threshold": None})
    assert edges.name == "edges" and "low=50, high=200" in edges.caption
    assert families.previews(TEXT_TO_IMAGE, {"prompt": "p"}) == ()
    control = base64.b64decode(png(64, 48))
    data, media = families.preview(
        CANNY, "edges", {"canny_high_threshold": 100}, {"control_image": control}.get, max_side=32, max_pixels=MAX
    )
    assert media == "image/png" and Image.open(io.BytesIO(data)).size == (32, 24)
    with pytest.raises(LookupError, match="no longer kept"):
        families.preview(CANNY, "edges", {}, {}.get, max_side=32, max_pixels=MAX)
    with pytest.raises(LookupError):
        families.preview(FILL, "edges", {}, {}.get, max_side=32, max_pixels=MAX)


def test_the_dashboard_listing_comes_from_the_family():
    listed = families.dashboard(CANNY, {"control_image": {"length": 8, "sha256": "x"}}, "webp")
    assert [(p.name, p.media_type) for p in listed] == [
        ("control_image", "image/*"),
        ("edges", "image/png"),
        ("result", "image/webp"),
    ]
    urls = families.dashboard(FILL, {"image": "https://example.test/a.png", "mask": None}, "jpeg")
    assert [p.caption for p in urls] == ["image (a URL: not kept)", "result"]


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp"])
def test_signed_links_keep_the_output_format_as_extension(fmt):
    mock = BflMock(frozen_clock=True, progression="polls:1", seed=4)
    with mock, httpx.Client(transport=BflTransport(mock), base_url="https://api.us1.bfl.ai") as c:
        c.headers["x-key"] = "fam-key"
        tid = c.post("/v1/flux-dev", json={"prompt": "p", "width": 256, "height": 256, "output_format": fmt})
        assert tid.status_code == 200, tid.text
        sample = httpx.URL(c.get(f"/v1/get_result?id={tid.json()['id']}").json()["result"]["sample"])
        assert sample.path.endswith(f"/sample.{fmt}") and sample.params["rsct"] == f"image/{fmt}"
        got = c.get(str(sample))
        assert got.headers["content-type"] == f"image/{fmt}" and got.headers["content-md5"]
