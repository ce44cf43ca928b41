"""The image is real: BFL's Canny preprocessing, deterministic rendering, delivery (issue 3)."""

from __future__ import annotations

import base64
import hashlib
import io
import zlib
from urllib.parse import urlsplit

import cv2
import httpx
import numpy as np
import pytest
from bfl_helpers import BASE, IMAGES, b64_file, b64_image, body, poll_until_done, submit
from PIL import Image

from mock_server.frontends.transport import BflTransport
from mock_server.mock import BflMock


@pytest.fixture
def c():
    mock = BflMock(frozen_clock=True, seed=3, progression="polls:1")
    with httpx.Client(transport=BflTransport(mock), base_url=BASE, headers={"x-key": "k"}) as client:
        client.mock = mock
        yield client
    mock.close()


def generate(c, **kw) -> tuple[dict, httpx.Response]:
    tid = submit(c, **kw)["id"]
    res = poll_until_done(c, tid)[-1]
    assert res["status"] == "Ready", res
    u = urlsplit(res["result"]["sample"])
    return res, c.get(u.path + "?" + u.query)


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.mark.parametrize(("name", "fmt"), [("astronaut.png", "png"), ("coffee.png", "jpeg"), ("rocket.jpg", "jpeg")])
def test_output_shows_the_canny_edges_of_the_control(c, name, fmt):
    ctrl = Image.open(IMAGES / name).convert("RGB")
    w, h = ctrl.size
    out_size = (w // 16 * 16, h // 16 * 16)
    ref_in = np.asarray(ctrl.resize(out_size, Image.LANCZOS) if out_size != ctrl.size else ctrl)
    expected = cv2.Canny(ref_in, 100, 200) > 0
    _res, dl = generate(
        c, control_image=b64_file(name), canny_low_threshold=100, canny_high_threshold=200, output_format=fmt
    )
    assert dl.status_code == 200
    assert dl.headers["content-type"] == f"image/{fmt}"
    im = Image.open(io.BytesIO(dl.content))
    assert im.format == {"png": "PNG", "jpeg": "JPEG"}[fmt]
    assert im.size == out_size
    luma = np.asarray(im.convert("L"), dtype=np.int16)
    background = cv2.medianBlur(luma.astype(np.uint8), 5).astype(np.int16)  # local ground around a line
    visible = (luma < 110) | (background - luma > 40)
    share = visible[expected].mean()
    assert share >= 0.9, share
    assert visible[~expected].mean() < 0.2  # the rest is ground, not noise


def test_same_seed_same_bytes_other_seed_other_bytes(c):
    ctrl = b64_file("chelsea.png")
    _, a = generate(c, control_image=ctrl, seed=11)
    _, b = generate(c, control_image=ctrl, seed=11)
    _, d = generate(c, control_image=ctrl, seed=12)
    assert a.content == b.content
    assert a.content != d.content


def test_high_thresholds_give_fewer_edges(c):
    ctrl = b64_file("astronaut.png")

    def dark(data):
        return int((np.asarray(Image.open(io.BytesIO(data)).convert("L")) < 110).sum())

    _, lo = generate(c, control_image=ctrl, seed=5, output_format="png")
    _, hi = generate(
        c, control_image=ctrl, seed=5, output_format="png", canny_low_threshold=250, canny_high_threshold=250
    )
    assert dark(hi.content) < dark(lo.content)


def test_null_thresholds_mean_50_200(c):
    ctrl = b64_file("coffee.png")
    _, a = generate(c, control_image=ctrl, seed=1, canny_low_threshold=None, canny_high_threshold=None)
    _, b = generate(c, control_image=ctrl, seed=1, canny_low_threshold=50, canny_high_threshold=200)
    assert a.content == b.content


def test_data_url_prefix_is_accepted(c):
    _, dl = generate(c, control_image="data:image/png;base64," + b64_file("camera.png"))
    assert dl.status_code == 200


def _bomb_png(width: int, height: int) -> str:
    """A tiny PNG header claiming a huge image (decompression bomb)."""
    import struct

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    raw += chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + chunk(b"IEND", b"")
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    "control",
    [
        "not base64 !!!",
        base64.b64encode(b"plain text, not an image").decode(),
        base64.b64encode(b"\x89PNG\r\n\x1a\n truncated").decode(),
        _bomb_png(50_000, 50_000),
        _bomb_png(5000, 4001),  # just over 20 MP
        "",
    ],
)
def test_bad_images_are_accepted_then_error(c, control):
    r = c.post(
        "/v1/flux-pro-1.0-canny-finetuned", json={"finetune_id": "my-finetune", "prompt": "x", "control_image": control}
    )
    assert r.status_code == 200
    res = poll_until_done(c, r.json()["id"])[-1]
    assert (res["status"], res["details"]) == ("Error", {"error": "Invalid or corrupted image input"})


def test_download_headers_range_and_etag(c):
    res, dl = generate(
        c, control_image=b64_image(np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1))[..., None].repeat(3, axis=2))
    )
    u = urlsplit(res["result"]["sample"])
    assert re.fullmatch(r"/results/[0-9a-f]{2}/[0-9a-f]{14}/[0-9a-f]{32}/sample\.jpeg", u.path)
    assert u.path.split("/")[3][6:] == u.path.split("/")[4][:8]
    q = u.query
    assert re.fullmatch(r"se=\d{4}-\d\d-\d\dT\d\d%3A\d\d%3A\d\dZ&sp=r&sv=2024-11-04&sr=b&rsct=image/jpeg&sig=\S+", q)
    h = dl.headers
    for name in (
        "content-type",
        "content-length",
        "cache-control",
        "etag",
        "last-modified",
        "content-md5",
        "accept-ranges",
    ):
        assert name in h, name
    assert h["cache-control"] == "max-age=1200" and h["accept-ranges"] == "bytes"
    assert h["content-md5"] == base64.b64encode(hashlib.md5(dl.content).digest()).decode()
    assert int(h["content-length"]) == len(dl.content)
    part = c.get(u.path + "?" + q, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == dl.content[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(dl.content)}"
    tail = c.get(u.path + "?" + q, headers={"Range": "bytes=-5"})
    assert tail.content == dl.content[-5:]
    assert c.get(u.path + "?" + q, headers={"Range": f"bytes={len(dl.content)}-"}).status_code == 416
    assert c.get(u.path + "?" + q, headers={"If-None-Match": h["etag"]}).status_code == 304
    head = c.head(u.path + "?" + q)
    assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == h["content-length"]


def test_tampered_and_expired_links(c):
    res, _dl = generate(c, control_image=b64_file("camera.png"))
    u = urlsplit(res["result"]["sample"])
    bad = c.get(u.path + "?" + u.query.replace("sp=r", "sp=rw"))
    assert bad.status_code == 403 and b"<Code>AuthenticationFailed</Code>" in bad.content
    other = c.get(u.path.replace("sample.jpeg", "sample.png") + "?" + u.query)
    assert other.status_code == 403
    end = res["result"]["end_time"]
    c.mock.clock.set(end + 599)
    assert c.get(u.path + "?" + u.query).status_code == 200
    c.mock.clock.set(end + 600)
    exp = c.get(u.path + "?" + u.query)
    assert exp.status_code == 403
    assert exp.headers["content-type"] == "application/xml"
    assert b"<Code>AuthenticationFailed</Code>" in exp.content and b"Signed expiry time" in exp.content


def test_results_survive_cache_and_memory_pressure():
    mock = BflMock(frozen_clock=True, seed=1, progression="polls:1", image_cache_bytes=1, result_memory_bytes=1)
    with mock, httpx.Client(transport=BflTransport(mock), base_url=BASE, headers={"x-key": "k"}) as c:
        outs = [generate(c, control_image=b64_file(n), seed=1) for n in ("camera.png", "chelsea.png")]
        assert mock.backend.media.results.stats()["on_disk"] >= 1
        for res, first in outs:
            u = urlsplit(res["result"]["sample"])
            again = c.get(u.path + "?" + u.query)
            assert again.content == first.content
            assert again.headers["content-md5"] == first.headers["content-md5"]


import re  # noqa: E402


def test_render_backlog_applies_backpressure_not_refusal(monkeypatch):
    import threading

    from mock_server.core import imaging

    gate = threading.Event()
    real = imaging.validate

    def slow(*args, **kwargs):
        gate.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(imaging, "validate", slow)
    # the render pool's backpressure: every check goes there (none on the request's thread)
    mock = BflMock(
        frozen_clock=True, progression="polls:1", render_workers=1, render_backlog_bytes=1, inline_check_bytes=0
    )
    with mock, httpx.Client(transport=BflTransport(mock), base_url=BASE, headers={"x-key": "k"}) as c:
        first = c.post("/v1/flux-pro-1.0-canny-finetuned", json=body())
        assert first.status_code == 200
        result = {}
        t = threading.Thread(target=lambda: result.update(r=c.post("/v1/flux-pro-1.0-canny-finetuned", json=body())))
        t.start()
        t.join(0.3)
        assert t.is_alive() and len(mock.tasks()) == 1  # waiting for the queued render, not refused
        gate.set()
        t.join(10)
        assert result["r"].status_code == 200 and len(mock.tasks()) == 2


def test_an_unreadable_image_is_described_in_words_not_a_python_repr():
    from mock_server.core import imaging

    with pytest.raises(imaging.InvalidImage) as e:
        imaging.validate(b"not an image at all", 10**6)
    assert e.value.reason == "undecodable: not a PNG, JPEG or WebP image"
