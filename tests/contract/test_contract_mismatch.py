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


def test_a_valid_body_over_the_keys_balance_is_not_a_validation_difference():
    """A served fake's kit key has the default credits: a generated body whose price is over them (a 64 x
    148,308,064 output) is a 402 there and a 200 at the oracle. That is S8, not validation, as a 429 from the
    active-task limit is S9; any other 402, or a 402 for a body the oracle refuses, is still a difference."""
    import httpx
    import pytest

    from contract_tests.test_oracle import compare
    from mock_server.contract import Mismatch
    from mock_server.contract.targets import Budget, Target

    def client(status: int, body: dict) -> httpx.Client:
        return httpx.Client(
            transport=httpx.MockTransport(lambda r: httpx.Response(status, json=body)), base_url="http://t"
        )

    oracle = client(200, {"id": "oracle", "polling_url": "oracle"})
    oracle.name = "2026-12"  # type: ignore[attr-defined]
    headers = {"content-type": "application/json", "x-key": "k"}

    def against(status: int, body: dict, oracle_client: httpx.Client = oracle) -> None:
        target = Target("url", "http://t", client(status, body), "kit-key", Budget(None))
        compare(target, oracle_client, b"{}", headers, path="/v1/x")

    against(402, {"detail": "Insufficient credits"})  # S8: no difference
    with pytest.raises(Mismatch):
        against(402, {"detail": "something else"})
    refusing = client(422, {"detail": [{"loc": ["body", "prompt"], "msg": "m", "type": "missing"}]})
    refusing.name = "2026-12"  # type: ignore[attr-defined]
    with pytest.raises(Mismatch):
        against(402, {"detail": "Insufficient credits"}, refusing)
