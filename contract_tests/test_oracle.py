"""Differential test: the target and the oracle (FastAPI + hand-written pydantic v2 model) agree on every
body: same status, same 422 body (type, loc, msg, input, ctx, order), same accepted echo. Valid bodies are
paid calls on a live target: they are only sent while the budget lasts."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mock_server.contract import Mismatch, answer_of

from .strategies import SCHEMA, bodies, boundaries, raw_payloads

pytestmark = pytest.mark.endpoint("flux-pro-1.0-canny-finetuned")

EXAMPLES = int(os.environ.get("BFL_CONTRACT_EXAMPLES", "300"))
SUBMIT = "/v1/flux-pro-1.0-canny-finetuned"


def _shown(content: bytes) -> object:
    try:
        return json.loads(content)
    except ValueError:
        return content[:200].decode("utf-8", "replace")


def compare(target, oracle, content: bytes, headers: dict[str, str], path: str = SUBMIT) -> None:
    b = oracle.post(path, content=content, headers=headers)
    if b.status_code == 200 and not target.can_pay("a valid submit"):
        return  # over budget: valid bodies are not sent to a live target
    a = target.client.post(
        path, content=content, headers={**headers, "x-key": target.key} if "x-key" in headers else headers
    )
    if a.status_code == 429 and b.status_code == 200:
        return  # a valid body met the target's active-task limit (S9, checked on its own): not a validation case
    if a.status_code == 402 and b.status_code == 200 and answer_of(a)[1] == {"detail": "Insufficient credits"}:
        return  # a valid body that costs more than the key's balance (S8: a served fake's default credits, or a
        # live account's): the price of a generated 64 x 148,308,064 output, not a validation case
    label = f"oracle ({oracle.name}: FastAPI + pydantic v2)"
    request = ("POST", path, _shown(content))
    ta, tb = answer_of(a), answer_of(b)
    if b.status_code == 500:  # FastAPI crashes echoing undecodable bytes; the fake answers a clean 422
        ok = a.status_code == 422 and isinstance(ta[1], dict) and ta[1]["detail"][0]["type"] == "model_attributes_type"
        if not ok:
            raise Mismatch(target=ta, expected=(422, "model_attributes_type"), expected_label=label, request=request)
        return
    if a.status_code == 200 and b.status_code == 200:
        same = set(ta[1]) - {"cost", "input_mp", "output_mp"} == set(tb[1])
        if not same or ta[1].get("webhook_url") != tb[1].get("webhook_url"):
            raise Mismatch(target=ta, expected=tb, expected_label=label, request=request)
    elif ta != tb:
        raise Mismatch(target=ta, expected=tb, expected_label=label, request=request)


ACCEPT_REJECT = "S1/S2 accept/reject decision and 422 body equal FastAPI + pydantic v2"


@pytest.mark.behaviour(ACCEPT_REJECT, evidence="high")
@pytest.mark.parametrize(("field", "value"), boundaries(SCHEMA), ids=lambda v: str(v)[:30])
def test_every_bound_edge_agrees(target, oracle, field, value):
    """Every bound's edges, in and out, on every run: random bodies alone reach a given edge only by chance."""
    from .test_properties import valid

    body = json.dumps(valid(**{field: value})).encode()
    compare(target, oracle, body, {"content-type": "application/json", "x-key": "k"})


@pytest.mark.behaviour(ACCEPT_REJECT, evidence="high")
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(body=bodies())
def test_json_bodies_agree(target, oracle, body):
    if isinstance(body.get("finetune_id"), str):  # a real finetune: unknown ids are a separate check (S7)
        body["finetune_id"] = "my-finetune"
    compare(target, oracle, json.dumps(body).encode(), {"content-type": "application/json", "x-key": "k"})


CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "application/merged-patch+json",
    "multipart/form-data",
]


@pytest.mark.behaviour("S2 malformed JSON, non-objects, empty and non-JSON bodies", evidence="high")
@settings(max_examples=max(50, EXAMPLES // 3), deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(content=raw_payloads(), ctype=st.sampled_from(CONTENT_TYPES))
def test_raw_payloads_agree(target, oracle, content, ctype):
    compare(target, oracle, content, {"x-key": "k", "content-type": ctype})


@pytest.mark.behaviour("S2 a body without Content-Type is not read as JSON (FastAPI >= 0.13x)", evidence="high")
@pytest.mark.requires_setting(strict_content_type=True)
@settings(max_examples=max(20, EXAMPLES // 10), deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(content=raw_payloads() | bodies().map(lambda b: json.dumps(b).encode()))
def test_bodies_without_content_type_agree(target, oracle, content):
    compare(target, oracle, content, {"x-key": "k"})
