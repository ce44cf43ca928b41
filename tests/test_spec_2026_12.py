"""The vendored spec of BFL's endpoints added after April 2026 (``schemas/openapi/bfl-2026-12-additions.json``):
reproducible from the evidence, every schema sourced, the FLUX 3 video snapshots as data, in the drift report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from mock_server.core import spec_additions
from mock_server.core.config import Settings
from mock_server.core.endpoints import ENDPOINTS
from mock_server.core.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_the_vendored_file_is_what_the_evidence_builds():
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_spec_2026_12.py"), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_every_schema_names_its_source_and_confidence():
    comps = spec_additions.spec()["components"]["schemas"]
    for name, schema in comps.items():
        assert schema.get("x-source"), name
        if name not in ("ResultResponse",):
            assert schema.get("x-confidence"), name


def test_the_default_snapshot_is_the_newest_high_confidence_one():
    snaps = spec_additions.spec()["x-bfl-mock-snapshots"]
    assert snaps["default"] == "latest" == Settings().flux3_video_snapshot
    assert snaps["snapshots"]["latest"]["confidence"] == "high"
    resolution = spec_additions.load_component("Flux3VideoT2VInputs")["$defs"]["Flux3VideoResolution"]
    assert resolution["enum"] == ["hd", "fhd", "qhd", "uhd"]


def test_snapshots_change_the_enums_and_the_draft_enhance_fields():
    early = spec_additions.load_component("Flux3VideoInputsBody", "2026-08-04")
    assert early["$defs"]["Flux3VideoResolution"]["enum"] == ["hd", "fhd"]
    assert list(early["$defs"]["Flux3VideoDraftEnhanceInputs"]["properties"]) == [
        "mode",
        "draft_cache",
        "safety_tolerance",
    ]
    reseller = spec_additions.load_component("Flux3VideoInputsBody", "reseller")
    assert "9:21" in reseller["$defs"]["Flux3VideoAspectRatio"]["enum"]
    draft = reseller["$defs"]["Flux3VideoDraftEnhanceInputs"]
    assert "draft_task_id" in draft["properties"] and "draft_cache" not in draft["properties"]
    assert draft["required"] == ["mode", "draft_task_id"]


def test_an_unknown_snapshot_is_a_config_error_with_a_hint():
    with pytest.raises(ConfigError, match="did you mean 'latest'"):
        Settings().replace(flux3_video_snapshot="lattest")


def test_the_drift_report_names_every_endpoint_added_since_april():
    from mock_server.contract import drift

    named = {f["field"] for f in drift() if f["schema"] == "(endpoints since 2026-04-23)"}
    assert named == set(spec_additions.added_paths())
    assert {
        "/v1/flux-3-video",
        "/v1/flux-pro",
        "/v1/flux-tools/erase-v1",
        "/v1/flux-2-klein-9b-kv-bf16-finetuned",
    } <= named
    assert len(named) == 17


# ---------------------------------------------------------------------------------------------- the oracle
# The fake's request models (compiled from the vendored file by mock_server.http.validation) against an oracle
# written by hand from the published schemas (contract_tests/oracle_2026_12.py: FastAPI + pydantic v2), on the
# edges of every bound and on generated bodies: same accept/reject decision, same 422 body. Served endpoints
# are asked over HTTP (auth, routing and all); the others through the compiled model and FastAPI's pipeline.
EXAMPLES = int(os.environ.get("BFL_SPEC_2026_12_EXAMPLES", "50"))  # make contract: 1,000 per endpoint
PATHS = sorted(spec_additions.added_paths())


@pytest.fixture(scope="module")
def oracle():
    pytest.importorskip("fastapi")
    from contract_tests.asgi_client import AsgiClient
    from contract_tests.oracle_2026_12 import oracle_app

    client = AsgiClient(oracle_app(), "2026-12")
    yield client
    client.close()


@pytest.fixture(scope="module")
def served():
    from mock_server.frontends.transport import BflTransport
    from mock_server.mock import BflMock

    mock = BflMock(seed=7, progression="manual", frozen_clock=True, active_task_limit=10**6, credits=1e12)
    with httpx.Client(transport=BflTransport(mock), base_url="http://127.0.0.1", headers={"x-key": "k"}) as c:
        yield {ep.path for ep in ENDPOINTS}, c
    mock.close()


def _compiled(path: str) -> Any:
    from mock_server.http.validation import build_model

    if path not in _MODELS:
        _MODELS[path] = build_model(spec_additions.load_component(spec_additions.added_paths()[path]))
    return _MODELS[path]


_MODELS: dict[str, Any] = {}


def _fake(served: Any, path: str, content: bytes) -> tuple[int, Any]:
    from mock_server.core.errors import ValidationFailed
    from mock_server.http import validation as v

    paths, client = served
    if path in paths:
        r = client.post(path, content=content, headers={"content-type": "application/json"})
        return r.status_code, r.json() if r.status_code == 422 else None
    try:
        v.validate_body(_compiled(path), v.parse_body(content, "application/json"))
    except ValidationFailed as e:
        return 422, json.loads(v.dumps({"detail": e.errors}))
    return 200, None


def _agree(oracle: Any, served: Any, path: str, body: Any) -> None:
    content = json.dumps(body).encode()
    b = oracle.post(path, content=content, headers={"content-type": "application/json", "x-key": "k"})
    a_status, a_body = _fake(served, path, content)
    expected = (b.status_code, b.json() if b.status_code == 422 else None)
    if a_status == 429 and b.status_code == 200:
        return
    if a_status != 422 and b.status_code != 422:  # both accepted (a served endpoint may still refuse later)
        return
    assert (a_status, a_body) == expected, f"{path} {body!r}"


@pytest.mark.parametrize("path", PATHS)
def test_bound_edges_agree_with_the_oracle(oracle, served, path):
    from contract_tests.strategies_2026_12 import boundaries

    schema = spec_additions.load_component(spec_additions.added_paths()[path])
    for tag, field in boundaries(schema):
        _agree(oracle, served, path, {**_minimal(schema, tag), **field})


@pytest.mark.parametrize("path", PATHS)
def test_generated_bodies_agree_with_the_oracle(oracle, served, path):
    from hypothesis import HealthCheck, given, settings

    from contract_tests.strategies_2026_12 import bodies

    schema = spec_additions.load_component(spec_additions.added_paths()[path])

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(body=bodies(schema))
    def check(body):
        _agree(oracle, served, path, body)

    check()


def _minimal(schema: dict[str, Any], tag: str | None) -> dict[str, Any]:
    if tag is None:
        obj = schema
    else:
        defs = schema["$defs"]
        obj = next(
            defs[m["$ref"].rsplit("/", 1)[-1]]
            for m in schema["oneOf"]
            if tag in defs[m["$ref"].rsplit("/", 1)[-1]]["properties"]["mode"]["enum"]
        )
    out: dict[str, Any] = {"mode": tag} if tag else {}
    for name in obj.get("required", []):
        if name == "mode":
            continue
        prop = obj["properties"][name]
        out[name] = 256 if prop.get("type") == "integer" else "my-finetune" if name == "finetune_id" else "x"
    return out
