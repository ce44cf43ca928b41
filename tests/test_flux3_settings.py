"""FLUX 3 video's unpublished choices as settings: the tiers' pixels and the ``auto`` length."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest

from mock_server.core.errors import ConfigError
from mock_server.frontends.transport import BflTransport
from mock_server.mock import BflMock


def _clip(mock: BflMock, body: dict[str, Any]) -> tuple[dict[str, Any], tuple[int, int], float]:
    av = pytest.importorskip("av")
    with httpx.Client(transport=BflTransport(mock), base_url="https://api.bfl.ai", headers={"x-key": "k"}) as c:
        r = c.post("/v1/flux-3-video", json=body)
        assert r.status_code == 200, r.text
        done = [c.get(r.json()["polling_url"]).json() for _ in range(3)][-1]
        assert done["status"] == "Ready", done
        data = c.get(done["result"]["sample"]).content
    with av.open(io.BytesIO(data)) as src:
        v = src.streams.video[0]
        return done, (v.codec_context.width, v.codec_context.height), src.duration / 1_000_000


def test_the_tier_pixels_and_the_auto_length_are_settings():
    mock = BflMock(
        seed=2, progression="polls:1", frozen_clock=True, flux3_video_tiers="hd=480,fhd=900", flux3_video_auto_seconds=6
    )
    try:
        done, size, seconds = _clip(mock, {"mode": "t2v", "prompt": "x", "aspect_ratio": "1:1"})
        assert size == (480, 480) and seconds == 6.0 and done["result"]["duration"] == 6.0
        _, tall, _ = _clip(mock, {"mode": "t2v", "prompt": "x", "resolution": "fhd", "aspect_ratio": "9:16"})
        assert tall == (900, 1600)
        fhd = next(e for e in mock.endpoints if e.name == "flux-3-video").family
        assert "900 fhd" in fhd.size_rule and "1440 qhd" in fhd.size_rule  # unset tiers keep their default
    finally:
        mock.close()


def test_the_defaults_are_the_clients_mapping_and_five_seconds():
    mock = BflMock(seed=2, progression="polls:1", frozen_clock=True)
    try:
        _, size, seconds = _clip(mock, {"mode": "t2v", "prompt": "x"})
        assert size == (1280, 720) and seconds == 5.0
    finally:
        mock.close()


@pytest.mark.parametrize(
    ("setting", "value", "words"),
    [
        ("flux3_video_tiers", "hd=721", "even number"),
        ("flux3_video_tiers", "8k=4320", "expected TIER=PIXELS"),
        ("flux3_video_tiers", "hd", "expected TIER=PIXELS"),
        ("flux3_video_auto_seconds", 21, "must be 5-20"),
    ],
)
def test_unusable_values_are_refused_by_name(setting, value, words):
    with pytest.raises(ConfigError, match=words):
        BflMock(**{setting: value})
