"""``mock_server.contract.mismatch``: a difference said short, in valid JSON, never cut inside a token."""

from __future__ import annotations

import json


def test_failure_text_is_short_and_never_cut_inside_a_token():
    from mock_server.contract import Mismatch, compact, shorten

    assert shorten("alpha beta gamma delta", 14) == "alpha beta …"
    assert shorten("x" * 50, 10).endswith(" …") or len(shorten("x" * 50, 10)) <= 10
    image = "iVBOR" + "A" * 5000
    shown = compact({"input_image": image, "prompt": "p " * 100, "tags": list(range(20))})
    data = json.loads(shown)  # still JSON
    assert data["input_image"] == "<image: 5005 chars>" and len(shown) < 300
    assert data["tags"][-1] == "… 12 more"
    m = Mismatch(
        target=(422, {"detail": [{"loc": ["body", "steps"], "msg": "too big"}]}),
        expected=(200, {"id": "oracle"}),
        expected_label="oracle (canny: FastAPI + pydantic v2)",
        request=("POST", "/v1/x", {"steps": 45, "control_image": image}),
    )
    assert m.field == "body.steps"
    assert m.summary() == "body.steps: the target answered 422, oracle (canny: FastAPI + pydantic v2) 200"
    assert m.lines() == [
        'request:  POST /v1/x {"steps": 45, "control_image": "<image: 5005 chars>"}',
        "field:    body.steps",
        'target:   422 {"detail": [{"loc": ["body", "steps"], "msg": "too big"}]}',
        'oracle (canny: FastAPI + pydantic v2): 200 {"id": "oracle"}',
    ]
