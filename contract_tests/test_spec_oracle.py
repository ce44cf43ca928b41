"""Differential test for every endpoint of BFL's current OpenAPI: the target and FastAPI with models that
datamodel-code-generator made from the same spec agree on the status and the 422 body of generated bodies.
``BFL_CONTRACT_ENDPOINT_EXAMPLES`` per endpoint (``make contract``: 1,000); valid bodies are paid calls on a
live target and are only sent while the budget lasts."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings

from mock_server.core.endpoints import ENDPOINTS
from mock_server.core.schemas import SPEC_PREFIX, load_spec_component

from .strategies import bodies, boundaries
from .test_oracle import compare

EXAMPLES = int(os.environ.get("BFL_CONTRACT_ENDPOINT_EXAMPLES", "25"))
SPEC_ENDPOINTS = [ep for ep in ENDPOINTS if isinstance(ep.schema, str) and ep.schema.startswith(SPEC_PREFIX)]


@pytest.fixture(scope="session")
def spec_oracle(request: pytest.FixtureRequest):
    from .conftest import oracle_missing

    oracle_missing(request.config, "openapi")
    from .asgi_client import AsgiClient
    from .spec_oracle import spec_oracle_app

    client = AsgiClient(spec_oracle_app({ep.path: ep.schema_name for ep in SPEC_ENDPOINTS}), "openapi")
    yield client
    client.close()


@pytest.mark.behaviour("S1/S2 every endpoint of the spec: 422 bodies equal FastAPI + generated models", evidence="high")
@pytest.mark.parametrize("endpoint", SPEC_ENDPOINTS, ids=lambda ep: ep.name)
def test_every_spec_endpoint_validates_like_fastapi(target, spec_oracle, endpoint):
    schema = load_spec_component(endpoint.schema_name)

    from .test_endpoint_properties import _minimal

    headers = {"content-type": "application/json", "x-key": "k"}
    for field, value in boundaries(schema):  # every bound's edges on every run, then random bodies
        body = {**_minimal(endpoint, schema), field: value}
        compare(target, spec_oracle, json.dumps(body).encode(), headers, path=endpoint.path)

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(body=bodies(schema))
    def check(body):
        if isinstance(body.get("finetune_id"), str):  # a real finetune: unknown ids are a separate check (S7)
            body["finetune_id"] = "my-finetune"
        if endpoint.checks:  # checks beyond the schema are not in the spec: tested on their own (test_endpoints)
            body.pop("aspect_ratio", None)
        compare(
            target,
            spec_oracle,
            json.dumps(body).encode(),
            {"content-type": "application/json", "x-key": "k"},
            path=endpoint.path,
        )

    check()
