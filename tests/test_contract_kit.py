"""The contract kit itself: it catches a wrong server, guards the paid-call budget, scrubs recordings,
and reports schema drift (issue 7). Live mode runs against a local stand-in, never the internet."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml
from bfl_helpers import ROOT

from mock_server.contract import drift, scrub_json
from mock_server.core.schemas import load_schema, schema_dir
from mock_server.frontends.server import LiveServer
from mock_server.mock import BflMock

WRONG_SERVER = r"""
import sys, time
from mock_server.core import accounts, backend, errors
from mock_server.http import app as http
from mock_server.mock import BflMock
from mock_server.frontends.server import LiveServer

accounts.INVALID_KEY = "Invalid API key"                    # one error message
_dispatch = http.MockHTTP._dispatch
def dispatch(self, req):                                    # one status code
    try:
        return _dispatch(self, req)
    except errors.ApiError as e:
        if e.status == 404 and e.detail == "Not Found":
            raise errors.ApiError(400, "Not Found") from None
        raise
http.MockHTTP._dispatch = dispatch
_view = backend.Task.view
def view(self):                                             # one poll status
    v = _view(self)
    return {**v, "status": "Done"} if v["status"] == "Ready" else v
backend.Task.view = view
server = LiveServer(BflMock(schema_dir=sys.argv[1], progression="polls:2", frozen_clock=True, strict_finetunes=True,
                            active_task_limit=0, webhook_allow=("loopback",))).start()
print("wrong server at", server.url, flush=True)
time.sleep(600)
"""


def run_contract(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(ROOT / "contract_tests"),
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",
            "-q",
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "BFL_CONTRACT_EXAMPLES": "60", "BFL_CONTRACT_PROPERTY_EXAMPLES": "2", **(env or {})},
    )


def test_a_wrong_server_fails_and_the_report_names_each_difference(tmp_path):
    for f in schema_dir().glob("*.json"):
        (tmp_path / f.name).write_text(f.read_text())
    schema = load_schema("FinetuneCannyInputs")
    schema["properties"]["steps"]["maximum"] = 40  # one bound
    (tmp_path / "FinetuneCannyInputs.json").write_text(json.dumps(schema))
    proc = subprocess.Popen(
        [sys.executable, "-c", WRONG_SERVER, str(tmp_path)], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        url = proc.stdout.readline().split(" at ")[1].strip()
        report = tmp_path / "report.json"
        result = run_contract(f"--bfl-target={url}", f"--bfl-report={report}")
    finally:
        proc.kill()
        proc.wait()
    assert result.returncode == 1, result.stdout[-3000:]
    data = json.loads(report.read_text())
    outcome = {r["behaviour"]: r for r in data["results"]}
    differs = {b for b, r in outcome.items() if r["outcome"] == "DIFFERS"}
    assert differs == {
        "S1/S2 accept/reject decision and 422 body equal FastAPI + pydantic v2",  # the bound
        "S5 invalid key -> 403 Not authenticated - Invalid Authentication",  # the message
        "S10 unknown path -> 404 Not Found",  # the status code
        "S3/P1/P2/D1-D3 submit -> Pending* Ready, progress never decreases, sample downloads",  # the poll status
        "S3/P1/D1 every endpoint: a valid body -> accepted, Pending* Ready, the sample downloads at the documented "
        "size",  # the poll status, on every endpoint
    }, result.stdout[-3000:]
    assert "Invalid API key" in outcome["S5 invalid key -> 403 Not authenticated - Invalid Authentication"]["detail"]
    assert "DIFFERS" in result.stdout and "S10 unknown path" in result.stdout


def test_live_mode_against_a_local_stand_in_keeps_the_budget_and_scrubs(tmp_path):
    stand_in = LiveServer(
        BflMock(progression="polls:2", frozen_clock=True, strict_finetunes=True, api_keys=("live-secret-key-123",))
    )
    with stand_in:
        result = run_contract(
            "--bfl-target=live",
            "--bfl-budget=1",
            "--bfl-record",
            env={
                "BFL_API_KEY": "live-secret-key-123",
                "BFL_LIVE_BASE_URL": stand_in.url,
                "BFL_RECORD_DIR": str(tmp_path),
            },
        )
        submits = [
            e
            for e in stand_in.mock.requests.filter(method="POST", path="/v1/flux-pro-1.0-canny-finetuned")
            if e.status == 200
        ]
    assert result.returncode == 0, result.stdout[-3000:]
    assert "paid calls: 1 paid submit(s) of a budget of 1" in result.stdout
    assert "not run" in result.stdout and "budget exhausted" in result.stdout
    assert len(submits) == 1  # exactly one call that the real API would have charged for
    files = list(tmp_path.glob("*-contract-live.yaml"))
    assert len(files) == 1
    text = files[0].read_text()
    assert "live-secret-key-123" not in text
    cassette = yaml.safe_load(text)
    bodies = [i["request"]["body"] for i in cassette["interactions"] if i["request"]["body"]]
    assert bodies and not any("iVBOR" in b for b in bodies)  # no PNG payload survives
    assert any("<scrubbed image:" in b for b in bodies)
    assert all(i["request"]["headers"].get("X-Key", ["REDACTED"]) == ["REDACTED"] for i in cassette["interactions"])


def test_endpoint_selection_runs_that_endpoints_tests_and_refuses_unknown_names():
    result = run_contract("--bfl-endpoint=flux-2-pro,flux-kontext-max", "-rA")
    assert result.returncode == 0, result.stdout[-3000:]
    ran = {line.split("::")[1] for line in result.stdout.splitlines() if line.startswith("PASSED ")}
    assert any("[flux-2-pro" in t for t in ran) and any("[flux-kontext-max" in t for t in ran)
    assert not any("canny" in t or "flux-dev" in t or "test_lifecycle_and_download" in t for t in ran)
    assert "test_unknown_path" in ran  # checks of no endpoint still run
    cli = subprocess.run(
        [sys.executable, "-m", "mock_server.cli", "contract", "--endpoint", "flux-3-turbo"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert cli.returncode == 2 and "--endpoint flux-3-turbo: not an endpoint" in cli.stderr


def test_live_mode_without_a_key_is_skipped_not_failed():
    result = run_contract("--bfl-target=live", "-k", "unknown_path", env={"BFL_API_KEY": ""})
    assert result.returncode == 0 and "skipped" in result.stdout


def test_scrub_json_removes_secrets_and_images():
    out = scrub_json({"control_image": "A" * 100, "webhook_secret": "s", "prompt": "p", "x": [{"x-key": "k"}]})
    assert out["prompt"] == "p" and out["webhook_secret"] == "REDACTED" and out["x"] == [{"x-key": "REDACTED"}]
    assert out["control_image"].startswith("<scrubbed image: 100 chars")


def test_drift_reports_known_differences_and_catches_a_changed_bound(tmp_path):
    findings = drift()
    key = {(f["schema"], f["field"], f["kind"]) for f in findings}
    # known and documented: the 2026 OpenAPI adds cost fields and webp; our ResultResponse requires all keys
    assert ("AsyncResponse", "cost", "added upstream") in key
    assert ("ResultResponse", "(required)", "changed") in key
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

    vendored = json.loads((reference_dir() / "bfl-openapi-2026-04-23.json").read_text())
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


def test_recordings_written_by_the_kit_replay_against_the_fake(tmp_path):
    """`--bfl-record` output is a go-vcr cassette the offline replay understands."""
    result = run_contract("--bfl-record", "-k", "lifecycle", env={"BFL_RECORD_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stdout[-2000:]
    from test_recordings import replay

    path = next(tmp_path.glob("*.yaml"))
    codes = [i["response"]["code"] for i in yaml.safe_load(path.read_text())["interactions"]]
    assert 200 in codes and len(codes) >= 6
    replay(path)  # same statuses, body keys and types, header names as recorded
