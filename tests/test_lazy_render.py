"""Lazy image work (issue 14): before a task finishes only its input images are fetched and checked (what
decides Ready or Error); the output is rendered on the first download, byte-identical to rendering at once."""

from __future__ import annotations

import base64
import io
import random

import httpx
import pytest
from PIL import Image

from mock_server.frontends.transport import BflTransport
from mock_server.mock import BflMock
from mock_server.testing import control_image


def _b64(im: Image.Image, fmt: str = "PNG") -> str:
    buf = io.BytesIO()
    im.save(buf, fmt)
    return base64.b64encode(buf.getvalue()).decode()


def _photo() -> Image.Image:
    rng = random.Random(3)
    im = Image.new("RGB", (96, 64), (30, 90, 200))
    for _ in range(12):
        x, y = rng.randrange(80), rng.randrange(48)
        im.paste(Image.new("RGB", (16, 16), (rng.randrange(256), 40, 40)), (x, y))
    return im


CASES = [
    ("flux-pro-1.0-canny-finetuned", {"finetune_id": "ft", "prompt": "p", "control_image": control_image(64)}),
    ("flux-pro-1.1", {"prompt": "a lighthouse", "width": 256, "height": 256}),
    ("flux-kontext-pro", {"prompt": "bluer", "input_image": _b64(_photo())}),
    ("flux-2-pro", {"prompt": "two", "input_image": _b64(_photo()), "input_image_2": _b64(_photo(), "JPEG")}),
    ("flux-pro-1.0-fill", {"prompt": "fill", "image": _b64(_photo()), "mask": _b64(Image.new("L", (96, 64), 255))}),
    ("flux-pro-1.0-expand", {"prompt": "more", "image": _b64(_photo()), "top": 16, "left": 32}),
]


def _run(lazy: bool) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    mock = BflMock(frozen_clock=True, progression="polls:1", seed=9, lazy_render=lazy)
    with mock, httpx.Client(transport=BflTransport(mock), base_url="https://api.bfl.ai") as c:
        c.headers["x-key"] = "k"
        for name, body in CASES:
            r = c.post(f"/v1/{name}", json={**body, "seed": 5, "output_format": "png"})
            assert r.status_code == 200, r.text
            res = c.get(r.json()["polling_url"]).json()
            assert res["status"] == "Ready", (name, res)
            task = mock.task(res["id"])
            rendered_before = any(e == "rendered" for _, e in task.events)
            cached_before = mock.backend.media.images.get(task.id) is not None
            assert (rendered_before, cached_before) == (False, not lazy), name
            out[name] = c.get(res["result"]["sample"]).content
            assert any(e == "rendered" for _, e in task.events) == lazy, name
            assert c.get(res["result"]["sample"]).content == out[name]  # served again from the cache
    return out


def test_outputs_render_on_first_download_and_equal_rendering_at_once():
    lazy, eager = _run(True), _run(False)
    assert lazy.keys() == eager.keys() == {name for name, _ in CASES}
    for name in lazy:
        assert lazy[name] == eager[name], name
        assert Image.open(io.BytesIO(lazy[name])).size[0] > 0


def _broken_inputs() -> list[tuple[str, str]]:
    buf = io.BytesIO()
    _photo().resize((640, 480)).save(buf, "JPEG", quality=95)
    jpeg = buf.getvalue()
    buf = io.BytesIO()
    _photo().save(buf, "PNG")
    png = bytearray(buf.getvalue())
    idat = png.index(b"IDAT")
    png[idat + 12] ^= 0xFF  # one byte of the compressed pixels: the chunk's CRC no longer matches
    return [
        ("truncated JPEG", base64.b64encode(jpeg[: len(jpeg) * 2 // 3]).decode()),
        ("PNG with a bad CRC", base64.b64encode(bytes(png)).decode()),
        ("not an image", base64.b64encode(b"GIF89a" + b"\0" * 40).decode()),
    ]


@pytest.mark.parametrize(("what", "image"), _broken_inputs())
def test_inputs_that_cannot_render_still_end_in_error_before_any_download(what, image):
    mock = BflMock(frozen_clock=True, progression="polls:1", seed=9)
    with mock, httpx.Client(transport=BflTransport(mock), base_url="https://api.bfl.ai") as c:
        c.headers["x-key"] = "k"
        for name, field in [("flux-pro-1.0-canny-finetuned", "control_image"), ("flux-kontext-pro", "input_image")]:
            body = {"prompt": "p", field: image, **({"finetune_id": "ft"} if "canny" in name else {})}
            res = c.get(c.post(f"/v1/{name}", json=body).json()["polling_url"]).json()
            assert res["status"] == "Error", (what, name, res)
            assert mock.task(res["id"]).image_error
        assert mock.backend.media.results.stats()["in_memory"] == 0  # nothing kept for tasks nobody downloads


def test_tasks_not_ready_keep_no_checked_inputs():
    mock = BflMock(frozen_clock=True, progression="manual", seed=9)
    with mock, httpx.Client(transport=BflTransport(mock), base_url="https://api.bfl.ai") as c:
        c.headers["x-key"] = "k"
        tid = c.post("/v1/flux-kontext-pro", json={"prompt": "p", "input_image": _b64(_photo())}).json()["id"]
        mock.task(tid).image_job.result(10)
        assert mock.backend.media.results.stats()["in_memory"] == 1  # checked, waiting for the outcome
        mock.fail(tid)
        assert mock.task(tid).status == "Error" and mock.backend.media.results.stats()["in_memory"] == 0


def test_kept_inputs_are_bounded_the_oldest_render_in_the_background():
    from mock_server.core.media import Unrendered

    out = {}
    for budget in (1, 10**9):  # 1 byte: every task's inputs are rendered as soon as the next one is checked
        mock = BflMock(frozen_clock=True, progression="polls:1", seed=9, lazy_render_bytes=budget, render_workers=1)
        with mock, httpx.Client(transport=BflTransport(mock), base_url="https://api.bfl.ai") as c:
            c.headers["x-key"] = "k"
            ids = []
            for i in range(4):
                r = c.post("/v1/flux-kontext-pro", json={"prompt": f"p{i}", "input_image": _b64(_photo()), "seed": i})
                ids.append(c.get(r.json()["polling_url"]).json()["id"])
            mock.backend.media.executor.submit(lambda: None).result(10)  # one worker, in order: all queued jobs done
            kept = [isinstance(mock.backend.media.results.get(t), Unrendered) for t in ids]
            out[budget] = [c.get(c.get(f"/v1/get_result?id={t}").json()["result"]["sample"]).content for t in ids]
        if budget == 1:
            assert not any(kept[:-1]), kept  # rendered in the background, compact
        else:
            assert all(kept), kept
    assert out[1] == out[10**9]  # the same bytes either way
