"""``mock_server.contract.recorder``: what a recording keeps of secrets and images."""

from __future__ import annotations

from mock_server.contract import scrub_json


def test_scrub_json_removes_secrets_and_images():
    out = scrub_json({"control_image": "A" * 100, "webhook_secret": "s", "prompt": "p", "x": [{"x-key": "k"}]})
    assert out["prompt"] == "p" and out["webhook_secret"] == "REDACTED" and out["x"] == [{"x-key": "REDACTED"}]
    assert out["control_image"].startswith("<scrubbed image: 100 chars")
