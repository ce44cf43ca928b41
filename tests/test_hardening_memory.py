"""Hostile input can't pin memory or a decode: one regression test per memory/decode finding of the third
hostile-input review (rejected images, scan bombs, thumbnails, FLUX.2's eight inputs, the result store, fetched
bytes per task, the signed-link cache, JSON bodies, rate-limit namespaces).

Memory is asserted through what the fake accounts for (``stats()``, its stores' byte counts) and through what is
still reachable from the fake, never through RSS or timing; ``make attack`` and ``make soak`` measure the RSS.
"""

from __future__ import annotations

import base64
import gc
import io
import json
import os
import sys
import threading
import types
import weakref
from typing import Any

import httpx
import numpy as np
import pytest
from bfl_helpers import BASE, SUBMIT, body
from PIL import Image

from mock_server.core import endpoints, imaging
from mock_server.core.blobs import Signer
from mock_server.core.errors import BODY_PARSE_ERROR, INVALID_IMAGE, STORE_FULL
from mock_server.core.store import ResultStore
from mock_server.frontends.transport import BflTransport
from mock_server.mock import BflMock

FROZEN = {"frozen_clock": True, "seed": 1}
FLUX2 = "/v1/flux-2-pro"


def inproc(**settings: Any) -> tuple[BflMock, httpx.Client]:
    mock = BflMock(**{**FROZEN, "progression": "polls:1", **settings})
    return mock, httpx.Client(transport=BflTransport(mock), base_url=BASE, headers={"x-key": "k"})


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def png(width: int, height: int, *, noise: bool = False, mode: str = "L") -> bytes:
    if noise:
        channels = 3 if mode == "RGB" else 1
        arr = np.random.default_rng(width * height).integers(0, 255, (height, width, channels), dtype=np.uint8)
        im = Image.fromarray(arr.squeeze(), mode)
    else:
        im = Image.new(mode, (width, height), 90)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def progressive_jpeg(scans: int | None = None) -> bytes:
    """A valid progressive JPEG (libjpeg's default script: 10 scans); with ``scans``, its last scan repeated up
    to that many, as a scan bomb repeats near-empty scans (decoders accept them with a warning)."""
    arr = np.random.default_rng(7).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", progressive=True)
    data = buf.getvalue()
    if scans is None:
        return data
    eoi = len(data) - 2
    last = data[data.rfind(b"\xff\xda") : eoi]
    return data[:eoi] + last * (scans - data.count(b"\xff\xda")) + data[eoi:]  # no EXIF here: each is an SOS


def finish(c: httpx.Client, tid: str) -> dict[str, Any]:
    out = c.get("/v1/get_result", params={"id": tid})
    assert out.status_code == 200, out.text
    return out.json()


def largest_reachable(root: object) -> int:
    """The largest str/bytes reachable from ``root`` (modules, classes and module globals not followed): what
    the fake still holds, whichever structure holds it (a cache, a future's exception, a traceback's frames)."""
    skip = {id(m.__dict__) for m in list(sys.modules.values()) if m is not None}
    seen: set[int] = set()
    stack: list[object] = [root]
    largest = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or id(obj) in skip or isinstance(obj, (types.ModuleType, type)):
            continue
        seen.add(id(obj))
        if isinstance(obj, (str, bytes, bytearray)):
            largest = max(largest, len(obj))
            continue
        stack.extend(gc.get_referents(obj))
    return largest


# 1 -------------------------------------------------------------------------------- rejected input images
def test_a_rejected_input_image_keeps_nothing_of_it_alive_only_its_reason():
    mock, c = inproc(keep_inputs_bytes=0)  # the dashboard's (bounded) copy of inputs off: nothing may hold it
    junk = b64(os.urandom(1_500_000))  # valid base64, not an image: the check rejects it
    with mock, c:
        tid = c.post(SUBMIT, json=body(control_image=junk)).json()["id"]
        final = finish(c, tid)
        assert final["status"] == "Error" and final["details"] == {"error": INVALID_IMAGE}
        assert "undecodable" in mock.task(tid).summary()["image_error"]
        assert largest_reachable(mock) < 100_000  # not the 2 MB text, not the 1.5 MB decoded bytes


def test_input_images_count_in_the_task_budget_while_the_task_holds_them():
    image = b64(os.urandom(1_200_000))  # 1.6 MB as sent
    mock, c = inproc(progression="manual", max_task_bytes=4_000_000, render_workers=1)
    with mock, c:
        gate = threading.Event()
        mock.backend.media.executor.submit(gate.wait)  # the one render thread is busy: the checks stay queued
        first, second = (c.post(SUBMIT, json=body(control_image=image)).json()["id"] for _ in range(2))
        assert mock.backend.stats()["task_bytes"] > 2 * len(image)
        third = c.post(SUBMIT, json=body(control_image=image))
        assert third.status_code == 429 and third.json()["detail"] == STORE_FULL
        checked = threading.Semaphore(0)
        for tid in (first, second):  # runs after the fake's own done-callback (callbacks run in order)
            mock.task(tid).image_job.add_done_callback(lambda _f: checked.release())
        gate.set()
        assert checked.acquire(timeout=30) and checked.acquire(timeout=30)
        assert mock.backend.stats()["task_bytes"] < 10_000  # checked (and rejected): the images are gone
        assert c.post(SUBMIT, json=body(control_image=image)).status_code == 200
        assert {first, second} <= {t.id for t in mock.tasks(status="Pending")}


# 4 -------------------------------------------------------------------------------- progressive-JPEG scan bombs
def test_jpeg_scans_are_counted_from_the_markers():
    normal = progressive_jpeg()
    assert imaging.jpeg_scans(normal, 1000) == 10
    assert imaging.jpeg_scans(progressive_jpeg(300), 1000) == 300
    assert imaging.jpeg_scans(progressive_jpeg(300), 50) == 51  # stops counting past the limit
    buf = io.BytesIO()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(buf, "JPEG")
    assert imaging.jpeg_scans(buf.getvalue(), 1000) == 1  # baseline


def test_a_progressive_jpeg_scan_bomb_ends_as_an_unusable_image_and_gets_no_thumbnail():
    mock, c = inproc()
    with mock, c:
        ok = c.post(SUBMIT, json=body(control_image=b64(progressive_jpeg()))).json()["id"]
        assert finish(c, ok)["status"] == "Ready"
        tid = c.post(SUBMIT, json=body(control_image=b64(progressive_jpeg(300)))).json()["id"]
        final = finish(c, tid)
        assert final["status"] == "Error" and final["details"] == {"error": INVALID_IMAGE}
        assert "more than 100 scans" in mock.task(tid).summary()["image_error"]
        thumb = c.get(f"/_mock/tasks/{tid}/images/control_image")
        assert thumb.status_code == 404 and "scans" in thumb.json()["detail"]
        assert not mock.backend.errors
    mock, c = inproc(max_jpeg_scans=1000)  # the limit is a setting
    with mock, c:
        tid = c.post(SUBMIT, json=body(control_image=b64(progressive_jpeg(300)))).json()["id"]
        assert finish(c, tid)["status"] == "Ready"


# 5 -------------------------------------------------------------------------------- thumbnails
def test_thumbnails_apply_the_pixel_cap_before_decoding_rejected_inputs_included():
    mock, c = inproc(max_image_pixels=10_000)
    with mock, c:
        tid = c.post(SUBMIT, json=body(control_image=b64(png(200, 200)))).json()["id"]  # 40,000 px: over the cap
        assert finish(c, tid)["status"] == "Error"
        thumb = c.get(f"/_mock/tasks/{tid}/images/control_image")
        assert thumb.status_code == 404 and "exceeds 10000 pixels" in thumb.json()["detail"]
        small = c.post(SUBMIT, json=body(control_image=b64(png(64, 64)))).json()["id"]
        assert finish(c, small)["status"] == "Ready"
        assert c.get(f"/_mock/tasks/{small}/images/control_image").status_code == 200
        assert not mock.backend.errors


# 6 -------------------------------------------------------------------------------- FLUX.2's eight inputs
def test_flux2_renders_its_eight_inputs_one_decoded_image_at_a_time(monkeypatch):
    decoded: list[weakref.ref[Any]] = []  # PIL images are unhashable: weak references, counted while alive
    most = [0]
    real = endpoints.painted.open_image

    def alive() -> int:
        return sum(1 for ref in decoded if ref() is not None)

    def tracked(*args: Any, **kw: Any) -> Any:
        most[0] = max(most[0], alive())  # decoded inputs still alive when the next one is decoded
        im = real(*args, **kw)
        decoded.append(weakref.ref(im))
        return im

    monkeypatch.setattr(endpoints.painted, "open_image", tracked)
    inputs = {("input_image" if i == 1 else f"input_image_{i}"): b64(png(96, 64, mode="RGB")) for i in range(1, 9)}
    mock, c = inproc()
    with mock, c:
        tid = c.post(FLUX2, json={"prompt": "eight", **inputs}).json()["id"]
        final = finish(c, tid)
        assert final["status"] == "Ready"
        assert c.get(final["result"]["sample"]).status_code == 200  # the first download renders
    assert len(decoded) == 8 and alive() == 0 and most[0] <= 1  # was 7 full RGBA inputs alive while the 8th was decoded


# 7 -------------------------------------------------------------------------------- result store, fetched bytes
def test_the_result_store_keeps_its_budget_for_the_newest_entry_too():
    store = ResultStore(1_000)
    try:
        store.put("big", b"x" * 5_000, 5_000)
        assert store.stats() == {"in_memory": 0, "memory_bytes": 0, "on_disk": 1}
        assert store.get("big") == b"x" * 5_000
        store.put("small", b"y", 10)
        assert store.stats()["memory_bytes"] == 10
    finally:
        store.clear()


def test_spilled_entries_share_segment_files_and_dead_ones_are_reclaimed():
    store = ResultStore(0, segment_bytes=4_000)  # everything spills
    try:
        values = {f"t{i}": os.urandom(500 + i) for i in range(40)}
        for key, value in values.items():
            store.put(key, value, len(value))
        files = os.listdir(store._dir)
        assert store.stats()["on_disk"] == 40 and 4 <= len(files) <= 8  # a file per segment, not per entry
        assert all(store.get(key) == value for key, value in values.items())
        for key in list(values)[:30]:  # the oldest die (retention): their segments go, the rest move
            store.delete(key)
            del values[key]
        assert all(store.get(key) == value for key, value in values.items())
        live = sum(len(v) for v in values.values())
        assert store.disk_bytes() <= 4 * live + 4_000 + 1_000  # about four times what is live, plus a segment
        assert len(os.listdir(store._dir)) <= 3
        store.put("t39", b"again", 5)  # replaced: the spilled copy is dead
        assert store.get("t39") == b"again"
    finally:
        store.clear()
    assert store._dir is None and store.get("t35") is None


def test_a_flux2_tasks_checked_inputs_stay_within_result_memory_bytes():
    inputs = {
        ("input_image" if i == 1 else f"input_image_{i}"): b64(png(160, 160, noise=True, mode="RGB"))
        for i in range(1, 9)
    }
    mock, c = inproc(result_memory_bytes=100_000)  # 8 x 77 KB of checked inputs, kept until the first download
    with mock, c:
        tid = c.post(FLUX2, json={"prompt": "eight", **inputs}).json()["id"]
        final = finish(c, tid)
        assert final["status"] == "Ready"
        assert mock.backend.media.results.stats()["memory_bytes"] <= 100_000
        assert c.get(final["result"]["sample"]).status_code == 200  # rendered from what was spilled


@pytest.fixture(scope="module")
def image_host():
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    from mock_server.testing import ThreadedServer

    data = png(600, 600, noise=True, mode="RGB")  # ~1.08 MB

    async def serve(request: Any) -> Response:
        return Response(data, media_type="image/png")

    with ThreadedServer(Starlette(routes=[Route("/big.png", serve)])) as server:
        server.size = len(data)  # type: ignore[attr-defined]
        yield server


def test_image_bytes_fetched_by_url_are_capped_per_task_not_per_url(image_host):
    url = image_host.url + "/big.png"
    mock, c = inproc(webhook_allow=("loopback",), max_body_bytes=int(image_host.size * 2.5))
    with mock, c:
        # distinct URLs (one URL named twice is fetched once), each under the per-URL cap
        two = c.post(FLUX2, json={"prompt": "p", "input_image": url + "?1", "input_image_2": url + "?2"}).json()["id"]
        assert finish(c, two)["status"] == "Ready"
        three = {"prompt": "p", "input_image": url + "?1", "input_image_2": url + "?2", "input_image_3": url + "?3"}
        tid = c.post(FLUX2, json=three).json()["id"]
        final = finish(c, tid)
        assert final["status"] == "Error" and final["details"] == {"error": INVALID_IMAGE}
        assert "bytes in all" in mock.task(tid).summary()["image_error"]


# 8 -------------------------------------------------------------------------------- signed-link cache
def test_the_signed_link_cache_ignores_extra_parameters():
    mock, c = inproc()
    with mock, c:
        sample = finish(c, c.post(SUBMIT, json=body()).json()["id"])["result"]["sample"]
        for i in range(5):
            r = c.head(f"{sample}&junk{i}={'j' * 60_000}")
            assert r.status_code == 200  # still verifies: unknown parameters are ignored
        assert len(mock.backend.signer._verified) == 1  # one link, one entry (was one per junk variant)
        assert c.get(sample.replace("sig=", "sig=A")).status_code == 403


def test_the_signed_link_cache_is_bounded_by_bytes():
    signer = Signer(b"s" * 32, cache_bytes=2_000)
    for i in range(100):
        url = signer.url("https://d", f"/results/aa/{i:014x}/{i:032x}/sample.jpeg", 2e9, "image/jpeg")
        path, _, query = url.removeprefix("https://d").partition("?")
        signer.verify(path, query, 1e9)
    stats = signer.cache_stats()
    assert 0 < stats["bytes"] <= 2_000 and stats["entries"] < 100


# 9 -------------------------------------------------------------------------------- JSON bodies
def test_a_body_of_very_many_json_values_is_refused_before_it_is_parsed():
    mock, c = inproc()
    with mock, c:
        many = json.dumps(body(junk=[{"a": 1}] * 20_000))  # 20,000 tiny objects in an ignored field
        r = c.post(SUBMIT, content=many, headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json() == {"detail": BODY_PARSE_ERROR}
        assert mock.requests.last.body == {"raw_length": len(many), "json": False}  # not parsed for the journal
        some = json.dumps(body(junk=[{"a": 1}] * 2_000))  # well within the bound: answered as FastAPI would
        assert c.post(SUBMIT, content=some, headers={"content-type": "application/json"}).status_code == 200
        bad = '{"prompt": "p",'  # validation answers are unchanged: FastAPI's json_invalid
        r = c.post(SUBMIT, content=bad, headers={"content-type": "application/json"})
        assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid"
    mock, c = inproc(max_json_values=0)  # 0 turns the bound off
    with mock, c:
        assert c.post(SUBMIT, content=many, headers={"content-type": "application/json"}).status_code == 200


# 12 ------------------------------------------------------------------------------- rate-limit namespaces
def test_a_key_named_like_an_address_does_not_drain_that_addresses_bucket():
    mock, c = inproc(ratelimit_limit=2, ratelimit_refill_per_second=0.001)
    with mock, c:
        spoof = {"x-key": "127.0.0.1"}  # the in-process client's address
        assert [c.get("/v1/get_result?id=x", headers=spoof).status_code for _ in range(3)] == [404, 404, 429]
        keyless = httpx.Client(transport=BflTransport(mock), base_url=BASE)
        assert keyless.get("/v1/get_result?id=x").status_code == 404  # its own bucket, still full
        assert mock.backend.stats()["ratelimit_buckets"] == 2
        mock.reset("127.0.0.1")  # forgetting a key forgets its bucket, not the address's
        assert c.get("/v1/get_result?id=x", headers=spoof).status_code == 404
