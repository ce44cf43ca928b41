"""The contract kit run whole: it catches a wrong server, guards the paid-call budget, scrubs recordings,
selects endpoints and oracles, and leaves a shared fake as found. Live mode runs against a local stand-in,
never the internet."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest
import yaml
from bfl_helpers import ROOT
from contract_helpers import WRONG_SERVER, cli, json_after, run_contract

from mock_server.core.schemas import load_schema, schema_dir
from mock_server.frontends.server import LiveServer
from mock_server.mock import BflMock


@pytest.mark.timeout(400)  # a whole run of the kit, failures shrunk by Hypothesis over HTTP
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
        md, junit = tmp_path / "report.md", tmp_path / "junit.xml"
        result = cli(f"--target={url}", f"--report={md}", f"--junitxml={junit}", cwd=tmp_path)
    finally:
        proc.kill()
        proc.wait()
    assert result.returncode == 1, result.stdout[-3000:]
    text = md.read_text()
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| ") and " | " in line]
    outcome = {r[0].removeprefix("| "): {"outcome": r[2], "detail": r[4]} for r in rows[1:] if len(r) == 5}
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

    # the failure reads in one screen: behaviour, request, field, the target's answer and the oracle's, labelled
    out = result.stdout
    assert "Falsifying example" not in out and "strict_finetunes" not in out and "Traceback" not in out
    section = out[out.index("bfl-mock contract: url") :].splitlines()
    assert len(section) < 60, out
    i = next(n for n, line in enumerate(section) if line.startswith("  DIFFERS  S1/S2 accept/reject"))
    block = section[i + 1 : i + 5]
    assert block[0].strip().startswith("request:  POST /v1/flux-pro-1.0-canny-finetuned {"), block
    assert json.loads(block[0].split("flux-pro-1.0-canny-finetuned ", 1)[1])["steps"] in range(41, 51)
    assert block[1].strip() == "field:    body.steps", block
    assert json_after(block[2], "target:")["detail"][0]["loc"] == ["body", "steps"]
    assert block[3].strip().startswith("oracle (canny: FastAPI + pydantic v2): 200"), block
    json_after(block[3], "oracle (canny: FastAPI + pydantic v2):")
    for line in section:  # every answer shown is whole JSON
        for label in ("target:", "the real API (dossier S5):", "the real API (dossier S10):"):
            if line.strip().startswith(label):
                json_after(line, label)

    # the Markdown report: the table row and the whole difference, nothing cut
    row = next(line for line in text.splitlines() if line.startswith("| S1/S2 accept/reject"))
    assert "| DIFFERS |" in row and row.endswith("oracle (canny: FastAPI + pydantic v2) 200 |"), row
    assert "field:    body.steps" in text and "## Differences" in text

    # JUnit: one testcase per behaviour and endpoint, failures where it differs
    import xml.etree.ElementTree as ET

    suite = ET.parse(junit).getroot().find("testsuite")
    cases = suite.findall("testcase")
    assert int(suite.get("tests")) == len(cases) == len({(c.get("classname"), c.get("name")) for c in cases})
    failed = {(c.get("classname"), c.get("name")) for c in cases if c.find("failure") is not None}
    assert int(suite.get("failures")) == len(failed) and int(suite.get("errors")) == 0
    assert (
        "bfl-mock.contract.flux-pro-1.0-canny-finetuned",
        "S1/S2 accept/reject decision and 422 body equal FastAPI + pydantic v2",
    ) in failed
    every = (
        "S3/P1/D1 every endpoint: a valid body -> accepted, Pending* Ready, the sample downloads at the documented size"
    )
    from mock_server.core.endpoints import ENDPOINTS
    from mock_server.core.endpoints import family as families

    images = [  # the endpoints with object bodies and image results (FLUX 3 video has its own tests)
        ep
        for ep in ENDPOINTS
        if not (isinstance(ep.schema, dict) and "oneOf" in ep.schema)
        and families.output_media_type(ep.family, "jpeg").startswith("image/")
    ]
    assert sum(1 for c, n in failed if n == every) == len(images)  # each endpoint its own testcase


@pytest.mark.timeout(300)  # a whole run of the kit
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


def test_recordings_written_by_the_kit_replay_against_the_fake(tmp_path):
    """`--bfl-record` output is a go-vcr cassette the offline replay understands."""
    result = run_contract("--bfl-record", "-k", "lifecycle", env={"BFL_RECORD_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stdout[-2000:]
    from test_recordings import replay

    path = next(tmp_path.glob("*.yaml"))
    codes = [i["response"]["code"] for i in yaml.safe_load(path.read_text())["interactions"]]
    assert 200 in codes and len(codes) >= 6
    replay(path)  # same statuses, body keys and types, header names as recorded


def test_report_paths_that_cannot_be_written_are_refused_before_any_request(tmp_path):
    (tmp_path / "folder.md").mkdir()
    (tmp_path / "file").write_text("")
    with LiveServer(BflMock(frozen_clock=True)) as server:
        cases = {
            "/proc/x.md": "cannot be written",
            str(tmp_path / "folder.md"): "is a folder",
            str(tmp_path / "file" / "r.md"): "its folder cannot be created",  # under a file
            "/proc/missing/r.md": "its folder cannot be created",
        }
        for path, why in cases.items():
            r = cli("--target", server.url, "--report", path, cwd=tmp_path)
            assert r.returncode == 2, (path, r.stdout, r.stderr)
            assert len(r.stderr.strip().splitlines()) == 1 and why in r.stderr, r.stderr
            assert r.stderr.startswith(f"bfl-mock contract: --report {path}:"), r.stderr
        r = cli("--target", server.url, "--junitxml", "/proc/x.xml", cwd=tmp_path)
        assert r.returncode == 2 and r.stderr.startswith("bfl-mock contract: --junitxml /proc/x.xml:"), r.stderr
        assert len(server.mock.requests) == 0  # nothing was sent
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "folder.md"]  # nothing written either


@pytest.mark.timeout(300)  # four runs of the kit's command
def test_a_missing_oracle_fails_the_run_unless_the_user_opts_out(tmp_path):
    selection = ("-k", "every_spec_endpoint and flux-dev")
    missing = {"datamodel_code_generator": "ImportError"}
    r = cli(*selection, shim=missing, cwd=tmp_path)
    assert r.returncode == 1, r.stdout[-2000:]
    assert "FAILED   S1/S2 every endpoint of the spec" in r.stdout
    assert "could not import 'datamodel_code_generator'" in r.stdout and "--skip-oracle openapi" in r.stdout
    for opt_out in (["--skip-oracle", "openapi"], ["--allow-skip"]):
        r = cli(*selection, *opt_out, shim=missing, cwd=tmp_path)
        assert r.returncode == 0, r.stdout[-2000:]
        assert "not run  S1/S2 every endpoint of the spec" in r.stdout
    r = cli("--skip-oracle", "pydantic", cwd=tmp_path)
    assert r.returncode == 2 and "not an oracle (known: canny, openapi)" in r.stderr


@pytest.mark.timeout(300)
def test_a_shared_served_fake_is_left_as_found_and_settings_deviate_not_differ(tmp_path):
    """Against a served bfl-mock (port 0): its own key, the clock moved back, that key reset; a deliberate
    setting is `deviates by setting`, exit 0; and no deprecation warning even with only httpx installed."""
    mock = BflMock(frozen_clock=True, progression="polls:2", strict_content_type=False, active_task_limit=0)
    with LiveServer(mock) as server, httpx.Client(base_url=server.url) as c:
        mine = c.post("/v1/flux-dev", json={"prompt": "theirs"}, headers={"x-key": "someone-else"}).json()["id"]
        c.put("/_mock/credits/someone-else", json={"credits": 123})
        before = c.get("/_mock/clock").json()
        r = cli(
            "--target",
            server.url,
            "-k",
            "lifecycle or webhook_arrives or without_content_type or unknown_finetune or raw_payloads",
            shim={"httpx2": "ModuleNotFoundError"},
            cwd=tmp_path,
        )
        after = c.get("/_mock/clock").json()
        tasks = c.get("/_mock/tasks", params={"brief": "1"}).json()["tasks"]
        credits = c.get("/_mock/credits/someone-else").json()
    assert r.returncode == 0, r.stdout[-3000:]
    assert "deviates S2 a body without Content-Type" in r.stdout
    assert "deviates by setting `strict_content_type=false`" in r.stdout
    assert "deviates by setting `strict_finetunes=false`" in r.stdout
    assert after == before  # the clock, frozen, is back where it was
    assert [t["id"] for t in tasks] == [mine]  # only the other user's task is left
    assert credits["credits"] == 123
    assert "clock: moved back by" in r.stdout and "removed the kit's own key bfl-mock-contract-" in r.stdout
    assert "Warning" not in r.stdout + r.stderr, r.stdout + r.stderr
    assert not (tmp_path / ".hypothesis").exists()


def test_the_contract_extra_holds_what_every_oracle_needs():
    """`pip install bfl-mock[contract]` runs every oracle: each module an oracle imports comes with the extra."""
    import re

    import tomllib

    from contract_tests.conftest import ORACLES

    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["contract"]
    shipped = {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower().replace("-", "_") for r in extra}
    needed = {m for _, modules in ORACLES.values() for m in modules} | {"hypothesis", "pytest"}
    assert needed <= shipped, needed - shipped
