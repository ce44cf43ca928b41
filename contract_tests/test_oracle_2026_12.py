"""Differential test for BFL's endpoints added after April 2026 (FLUX 3 video, the FLUX tools, klein LoRA,
``flux-pro``): the target and FastAPI with pydantic models written by hand from the published schemas
(``oracle_2026_12.py``) agree on the status and the 422 body of generated bodies: on the edges of every bound,
then ``BFL_CONTRACT_ENDPOINT_EXAMPLES`` random bodies per endpoint. Valid bodies are paid calls on a live
target and are only sent while the budget lasts. Checks beyond the schema (i2v keyframes, the outpainting
canvas) are not in the spec: bodies they refuse are left to their own tests."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings

from mock_server.core.endpoints import ENDPOINTS
from mock_server.core.spec_additions import added_paths, load_component

from .strategies_2026_12 import bodies, boundaries
from .test_oracle import compare

EXAMPLES = int(os.environ.get("BFL_CONTRACT_ENDPOINT_EXAMPLES", "25"))
ADDED = [ep for ep in ENDPOINTS if ep.path in added_paths()]


@pytest.fixture(scope="session")
def oracle_2026_12(request: pytest.FixtureRequest):
    from .conftest import oracle_missing

    oracle_missing(request.config, "2026-12")
    from .asgi_client import AsgiClient
    from .oracle_2026_12 import oracle_app

    client = AsgiClient(oracle_app([ep.path for ep in ADDED]), "2026-12")
    yield client
    client.close()


def _refused_beyond_schema(endpoint, schema, body) -> bool:
    """Whether one of the endpoint's checks beyond the schema refuses ``body`` (when the schema accepts it)."""
    if not endpoint.checks:
        return False
    from pydantic import ValidationError

    from mock_server.http.validation import build_model

    try:
        params = build_model(schema).model_validate(body).model_dump()
    except (ValidationError, TypeError, ValueError):
        return False
    return any(check(dict(params)) for check in endpoint.checks)


def _minimal(schema, tag):
    obj = schema
    if tag is not None:
        defs = schema["$defs"]
        members = [defs[m["$ref"].rsplit("/", 1)[-1]] for m in schema["oneOf"]]
        obj = next(m for m in members if tag in m["properties"]["mode"]["enum"])
    out = {"mode": tag} if tag else {}
    for name in obj.get("required", []):
        if name != "mode":
            kind = obj["properties"][name].get("type")
            out[name] = 2048 if kind == "integer" else "my-finetune" if name == "finetune_id" else "x"
    return out


@pytest.mark.behaviour("S1/S2 the 2026-12 endpoints: 422 bodies equal FastAPI + hand-written models", evidence="high")
@pytest.mark.parametrize("endpoint", ADDED, ids=lambda ep: ep.name)
def test_the_2026_12_endpoints_validate_like_fastapi(target, oracle_2026_12, endpoint):
    schema = load_component(added_paths()[endpoint.path])
    headers = {"content-type": "application/json", "x-key": "k"}
    for tag, field in boundaries(schema):
        body = {**_minimal(schema, tag), **field}
        if not _refused_beyond_schema(endpoint, schema, body):
            compare(target, oracle_2026_12, json.dumps(body).encode(), headers, path=endpoint.path)

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(body=bodies(schema))
    def check(body):
        if isinstance(body.get("finetune_id"), str):  # a real finetune: unknown ids are a separate check (S7)
            body["finetune_id"] = "my-finetune"
        if not _refused_beyond_schema(endpoint, schema, body):
            compare(target, oracle_2026_12, json.dumps(body).encode(), headers, path=endpoint.path)

    try:
        check()
    finally:  # the FLUX 3 tasks it accepted run long: on a served bfl-mock they would hold the active-task limit
        target.release_tasks()
