"""The vendored spec of BFL's endpoints added after April 2026 (``schemas/openapi/bfl-2026-12-additions.json``):
reproducible from the evidence, every schema sourced, the FLUX 3 video snapshots as data, in the drift report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mock_server.core import spec_additions
from mock_server.core.config import Settings
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
