"""FLUX 3 video's cost at submit: a number only when the price cannot depend on the finished video (an
explicit ``duration`` at ``hd``), else null and settled on the poll (AI SDK PR #18439 citing BFL's spec)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mock_server.frontends.transport import BflTransport
from mock_server.mock import BflMock


@pytest.fixture
def mock() -> Iterator[BflMock]:
    m = BflMock(seed=3, progression="polls:1", frozen_clock=True, prices=("flux-3-video=42",))
    yield m
    m.close()


def _submit(mock: BflMock, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    with httpx.Client(transport=BflTransport(mock), base_url="https://api.bfl.ai", headers={"x-key": "k"}) as c:
        r = c.post("/v1/flux-3-video", json=body)
        assert r.status_code == 200, r.text
        polled = [c.get(r.json()["polling_url"]).json() for _ in range(3)]
    return r.json(), polled[-1]


@pytest.mark.parametrize(
    ("body", "estimate"),
    [
        ({"mode": "t2v", "prompt": "x", "duration": 5}, 42),  # hd by default, explicit duration
        ({"mode": "text-to-video", "prompt": "x", "duration": 8, "resolution": "hd"}, 42),
        ({"mode": "t2v", "prompt": "x"}, None),  # duration auto: the model chooses the length
        ({"mode": "t2v", "prompt": "x", "duration": "auto"}, None),
        ({"mode": "t2v", "prompt": "x", "duration": 5, "resolution": "fhd"}, None),  # through the upsampler
        ({"mode": "t2v", "prompt": "x", "duration": 5, "resolution": "uhd"}, None),
        ({"mode": "draft_enhance", "draft_cache": "eA=="}, None),  # the draft's length, fhd by default
    ],
)
def test_the_submit_states_the_price_only_when_the_video_cannot_change_it(mock, body, estimate):
    submitted, _ = _submit(mock, body)
    assert submitted["cost"] == estimate
    assert submitted["input_mp"] is None and submitted["output_mp"] is None  # no megapixel pricing for video


def test_the_poll_settles_the_cost_whatever_the_submit_said(mock):
    _, done = _submit(mock, {"mode": "t2v", "prompt": "x", "resolution": "fhd", "duration": 5})
    assert done["status"] == "Ready" and done["cost"] == 42
    assert mock.backend.accounts.get("k").credits == mock.settings.credits - 42


def test_the_submit_cost_fields_setting_still_nulls_the_estimate():
    m = BflMock(seed=3, frozen_clock=True, submit_cost_fields=("flux-3-video=null",))
    try:
        submitted, _ = _submit(m, {"mode": "t2v", "prompt": "x", "duration": 5})
        assert submitted["cost"] is None
    finally:
        m.close()
