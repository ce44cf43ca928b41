"""Differential test: the fake and the oracle (FastAPI + hand-written pydantic v2 model) agree on every
body: same status, same 422 body (type, loc, msg, input, ctx, order), same accepted echo."""

from __future__ import annotations

import json
import os

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract_tests.strategies import bodies, raw_payloads
from mock_server.mock import BflMock
from mock_server.transport import BflTransport

pytest.importorskip("fastapi")
EXAMPLES = int(os.environ.get("BFL_CONTRACT_EXAMPLES", "300"))
SUBMIT = "/v1/flux-pro-1.0-canny-finetuned"


@pytest.fixture(scope="module")
def pair():
    from fastapi.testclient import TestClient

    from contract_tests.oracle import oracle_app

    mock = BflMock(
        frozen_clock=True,
        progression="manual",
        active_task_limit=0,
        credits=1e15,
        render_workers=1,
        missing_key_status=401,
    )
    fake = httpx.Client(transport=BflTransport(mock), base_url="http://testserver")
    with TestClient(oracle_app(), raise_server_exceptions=False) as oracle:
        yield fake, oracle
    fake.close()
    mock.close()


def compare(pair, content: bytes, headers: dict[str, str]) -> None:
    fake, oracle = pair
    a = fake.post(SUBMIT, content=content, headers=headers)
    b = oracle.post(SUBMIT, content=content, headers=headers)
    if b.status_code == 500:  # FastAPI crashes echoing undecodable bytes; the fake answers a clean 422
        assert a.status_code == 422 and a.json()["detail"][0]["type"] == "model_attributes_type", a.text
        return
    assert a.status_code == b.status_code, (content[:300], a.text[:500], b.text[:500])
    ja, jb = a.json(), b.json()
    if a.status_code == 200:
        assert set(ja) == set(jb)
        assert ja.get("webhook_url") == jb.get("webhook_url")
    else:
        assert ja == jb, (content[:300],)


@settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(body=bodies())
def test_json_bodies_agree(pair, body):
    compare(pair, json.dumps(body).encode(), {"content-type": "application/json", "x-key": "k"})


@settings(max_examples=max(50, EXAMPLES // 3), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    content=raw_payloads(),
    ctype=st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "text/plain",
            None,
            "application/merged-patch+json",
            "multipart/form-data",
        ]
    ),
    key=st.sampled_from(["k", None]),
)
def test_raw_payloads_agree(pair, content, ctype, key):
    headers = {}
    if ctype:
        headers["content-type"] = ctype
    if key:
        headers["x-key"] = key
    compare(pair, content, headers)
