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
