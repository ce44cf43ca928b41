"""``mock_server.contract.drift``: schemas and the fake's answers against the published references."""

from __future__ import annotations

import json
import subprocess
import sys

from bfl_helpers import ROOT
from contract_helpers import cli

from mock_server.contract import drift
from mock_server.core.schemas import SPEC_FILE, load_schema, schema_dir


def test_drift_reports_known_differences_and_catches_a_changed_bound(tmp_path):
    findings = drift()
    key = {(f["schema"], f["field"], f["kind"]) for f in findings}
    # known: our ResultResponse requires all keys. The submit answers are compared as the fake answers them on
    # each endpoint (FLUX.2: cost values, others null, canny absent as on its page): no finding
    assert ("ResultResponse", "(required)", "changed") in key
    assert not any(f["schema"].startswith("Async") for f in findings), findings
    assert not any(f["schema"] == "FinetuneCannyInputs" for f in findings)  # the request matches the page
    endpoints = {(f["field"], f["kind"]) for f in findings if f["schema"] == "(endpoints)"}
    # BFL's current OpenAPI no longer lists canny-finetuned; every endpoint it lists is served
    assert endpoints == {("/v1/flux-pro-1.0-canny-finetuned", "served, not in the spec")}
    for f in schema_dir().glob("*.json"):
        (tmp_path / f.name).write_text(f.read_text())
    schema = load_schema("FinetuneCannyInputs")
    schema["properties"]["guidance"]["maximum"] = 50
    del schema["properties"]["webhook_secret"]
    (tmp_path / "FinetuneCannyInputs.json").write_text(json.dumps(schema))
    changed = {(f["schema"], f["field"], f["kind"]) for f in drift(str(tmp_path))}
    assert ("FinetuneCannyInputs", "guidance", "changed") in changed
    assert ("FinetuneCannyInputs", "webhook_secret", "added upstream") in changed


def test_drift_names_endpoints_added_and_removed_upstream():
    from mock_server.contract import endpoint_drift, reference_dir

    vendored = json.loads((reference_dir() / SPEC_FILE).read_text())
    live = json.loads(json.dumps(vendored))
    del live["paths"]["/v1/flux-dev"]
    live["paths"]["/v1/flux-3-pro"] = {"post": {"requestBody": {}}}
    kinds = {(f["field"], f["kind"]) for f in endpoint_drift(vendored, live) if f["source"] == "BFL OpenAPI (live)"}
    assert kinds == {
        ("/v1/flux-3-pro", "added upstream since the vendored spec"),
        ("/v1/flux-dev", "removed upstream since the vendored spec"),
    }


def test_cli_drift_and_report(tmp_path):
    report = tmp_path / "drift.md"
    r = subprocess.run(
        [sys.executable, "-m", "mock_server", "contract", "--drift", "--report", str(report)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert r.returncode == 0 and "drift finding(s)" in r.stdout
    assert "| source | schema | field |" in report.read_text()


def test_drift_compares_what_the_fake_really_answers_on_each_endpoint():
    from mock_server.contract import _endpoints, answer_drift, reference_dir

    spec = json.loads((reference_dir() / SPEC_FILE).read_text())["components"]["schemas"]
    flux2 = [ep for ep in _endpoints() if ep.name == "flux-2-pro"]
    assert answer_drift("spec", spec, flux2) == []  # it answers cost/input_mp/output_mp values: as upstream
    found = {
        (f["schema"], f["field"], f["kind"]) for f in answer_drift("spec", spec, flux2, submit_cost_fields="absent")
    }
    assert ("AsyncResponse (flux-2-pro)", "cost", "upstream, not in our answer") in found
    assert ("AsyncWebhookResponse (flux-2-pro)", "output_mp", "upstream, not in our answer") in found


def test_fail_on_drift_exits_non_zero_on_a_finding(tmp_path):
    r = cli("--drift", "--fail-on-drift", cwd=tmp_path)
    assert r.returncode == 1 and "drift finding(s)" in r.stdout, r.stdout + r.stderr
