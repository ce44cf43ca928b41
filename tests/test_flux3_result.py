"""A Ready FLUX 3 result: ``duration`` is the clip's length in seconds (what the clients read), whatever the
task's run time; the fake's own delivery links (a draft's ``draft_cache``) are read without a request."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mock_server.frontends.transport import BflTransport
from mock_server.mock import BflMock


@pytest.fixture
def mock() -> Iterator[BflMock]:
    m = BflMock(seed=5, progression="polls:1", frozen_clock=True)
    yield m
    m.close()


@pytest.fixture
def client(mock: BflMock) -> Iterator[httpx.Client]:
    with httpx.Client(transport=BflTransport(mock), base_url="https://api.bfl.ai", headers={"x-key": "k"}) as c:
        yield c


def _final(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post(path, json=body)
    assert r.status_code == 200, r.text
    for _ in range(5):
        done = client.get(r.json()["polling_url"]).json()
        if done["status"] in ("Ready", "Error"):
            return dict(done)
    raise AssertionError(done)


def _png() -> str:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 36), (200, 10, 10)).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_the_result_duration_is_the_clips_length_not_the_run_time(mock, client):
    done = _final(client, "/v1/flux-3-video", {"mode": "t2v", "prompt": "x", "duration": 7})
    assert done["result"]["duration"] == 7.0
    assert done["result"]["end_time"] - done["result"]["start_time"] == 0  # frozen clock: no run time at all
    timed = {"mode": "i2v", "prompt": "x", "keyframes": [[0, _png()], [8.2, _png()]]}
    assert _final(client, "/v1/flux-3-video", timed)["result"]["duration"] == 9.0  # auto: the last pair, up


def test_an_upscale_or_edit_lasts_as_long_as_its_input(client):
    from mock_server.core import video

    source = base64.b64encode(video.render(video.Clip(160, 90, 3, prompt="source"))).decode()
    up = _final(client, "/v1/flux-tools/video-upscale-v1", {"input_video": source})
    edit = _final(client, "/v1/flux-tools/video-edit-v1", {"video": source, "prompt": "night"})
    assert up["result"]["duration"] == edit["result"]["duration"] == 3.0


def test_an_image_endpoint_keeps_the_run_time(mock, client):
    done = _final(client, "/v1/flux-dev", {"prompt": "x"})
    assert done["result"]["duration"] == done["result"]["end_time"] - done["result"]["start_time"]


def _draft(client: httpx.Client) -> dict[str, Any]:
    done = _final(client, "/v1/flux-3-video", {"mode": "t2v", "prompt": "a fox", "draft": True, "duration": 6})
    assert done["status"] == "Ready" and done["result"]["draft_cache"]
    return done


def _mp4(data: bytes) -> dict[str, Any]:
    import io

    av = pytest.importorskip("av")
    with av.open(io.BytesIO(data)) as src:
        v = src.streams.video[0]
        return {"size": (v.codec_context.width, v.codec_context.height), "seconds": src.duration / 1_000_000}


def test_draft_enhance_reads_the_fakes_own_draft_cache_url_without_a_request(mock, client):
    link = _draft(client)["result"]["draft_cache"]  # never downloaded by the client
    done = _final(client, "/v1/flux-3-video", {"mode": "draft_enhance", "draft_cache": link, "resolution": "hd"})
    assert done["status"] == "Ready", mock.task(done["id"]).image_error
    assert done["result"]["duration"] == 6.0  # the draft's length
    clip = _mp4(client.get(done["result"]["sample"]).content)
    assert clip["size"] == (1280, 720) and clip["seconds"] == 6.0
    assert not [e for e in mock.requests if "draft_cache" in e.path]  # no request to itself


def test_a_clip_url_of_the_fake_is_a_v2v_start_video(mock, client):
    sample = _final(client, "/v1/flux-3-video", {"mode": "t2v", "prompt": "x", "duration": 5})["result"]["sample"]
    done = _final(client, "/v1/flux-3-video", {"mode": "v2v", "prompt": "on", "start_video": sample, "duration": 5})
    assert done["status"] == "Ready", mock.task(done["id"]).image_error


@pytest.mark.parametrize("spoil", ["tamper", "expire", "foreign"])
def test_an_altered_expired_or_foreign_draft_cache_url_ends_error(mock, client, spoil):
    link = _draft(client)["result"]["draft_cache"]
    if spoil == "tamper":
        link = link.replace("sig=", "sig=AAAA")
    elif spoil == "expire":
        mock.clock.advance(mock.settings.delivery_ttl_seconds + 1)
    else:  # not this fake's link: the egress policy refuses loopback, as before
        link = "http://127.0.0.1:9/draft_cache.bin"
    done = _final(client, "/v1/flux-3-video", {"mode": "draft_enhance", "draft_cache": link})
    assert done["status"] == "Error"
    reason = mock.task(done["id"]).image_error or ""
    assert ("expired or altered" in reason) == (spoil != "foreign"), reason


def test_an_april_endpoint_still_does_not_read_the_fakes_own_links(mock, client):
    sample = _final(client, "/v1/flux-dev", {"prompt": "x"})["result"]["sample"]
    done = _final(client, "/v1/flux-kontext-pro", {"prompt": "x", "input_image": sample})
    assert done["status"] == "Error" and "expired or altered" not in (mock.task(done["id"]).image_error or "")
