"""A user's first hour works (issue 12): every item the newcomer hit has a test here. The installed-wheel
path (a venv outside the repo, the README run from an empty folder) is `.ci/run`'s wheel job
(scripts/wheel_check.sh); the README's own blocks run in tests/test_readme.py."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from bfl_helpers import ROOT, SUBMIT, body

from mock_server.frontends.server import LiveServer
from mock_server.frontends.transport import BflTransport
from mock_server.mock import BflMock

BIN = Path(sys.executable).parent
CLI = [sys.executable, "-m", "mock_server"]
ENV = {**os.environ, "BFL_CONTRACT_EXAMPLES": "15", "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


def cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, env=env or ENV, timeout=300)


def one_line_error(done: subprocess.CompletedProcess, *needles: str) -> None:
    assert done.returncode == 2, (done.stdout[-500:], done.stderr[-500:])
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for n in needles:
        assert n in lines[0], lines[0]


@pytest.fixture
def served():
    server = LiveServer(BflMock(seed=1)).start()
    yield server
    server.stop()


# 1 -------------------------------------------------------------------------------- contract without the extra
def test_contract_without_the_contract_extra_says_what_to_install():
    code = (
        "import sys; sys.modules['hypothesis'] = None; from mock_server.cli import main; sys.exit(main(['contract']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
    assert done.returncode == 2 and "pip install 'bfl-mock[contract]'" in done.stderr and "Traceback" not in done.stderr


# 4, 8 ---------------------------------------------------------------------------- contract pre-flight
@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["--target", "nonsense"], {}, "--target must be inprocess, live or an http(s):// URL"),
        (["--target", "live"], {"BFL_API_KEY": ""}, "needs your API key in BFL_API_KEY"),
        (["--target", "http://127.0.0.1:9"], {}, "cannot reach http://127.0.0.1:9"),
        (["--report", "/proc/no/such/report.md"], {}, "cannot be created"),
        (["--report", "report.txt"], {}, "FILE.md or FILE.json"),
    ],
)
def test_contract_preflight_is_one_line_before_any_request(tmp_path, args, env, needle):
    one_line_error(cli("contract", *args, cwd=tmp_path, env={**ENV, **env}), needle)


def test_contract_report_and_recording_go_under_the_current_directory(tmp_path):
    done = cli("contract", "--report", "reports/new/inproc.md", "--record", "-k", "unknown_path", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:]
    assert (tmp_path / "reports" / "new" / "inproc.md").read_text().startswith("# bfl-mock contract report")
    assert list((tmp_path / "fixtures" / "recordings").glob("*-contract-inprocess.yaml"))


# 7 -------------------------------------------------------------------------------- configured deviations
def test_a_default_served_fake_deviates_by_setting_not_by_drift(served, tmp_path):
    done = cli("contract", "--target", served.url, "-k", "finetune or unknown_path", "--report", "r.json", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:]
    assert "deviates by setting `strict_finetunes=false`" in done.stdout
    rows = {r["behaviour"][:2]: r for r in json.loads((tmp_path / "r.json").read_text())["results"]}
    assert rows["S7"]["outcome"] == "deviates" and rows["S1"]["outcome"] == "agrees"
    strict = cli("contract", "--target", served.url, "-k", "finetune", "--strict-settings", cwd=tmp_path)
    assert strict.returncode == 1 and "DIFFERS  S7" in strict.stdout


# 3 -------------------------------------------------------------------------------- wait_for on a frozen clock
def test_wait_for_says_at_once_what_to_do_when_nothing_can_finish_the_task():
    mock = BflMock(frozen_clock=True, progression="manual")
    with mock, httpx.Client(transport=BflTransport(mock)) as c:
        tid = c.post(
            "https://api.us1.bfl.ai" + SUBMIT, json=body(webhook_url="http://127.0.0.1:9/x"), headers={"x-key": "k"}
        ).json()["id"]
        with pytest.raises(LookupError, match=r"manual.*Complete it \(bfl_mock.complete\(task_id\)\)"):
            mock.webhooks.wait_for(tid, timeout=60)


# 5, 9 ---------------------------------------------------------------------------- CLI errors in one line
@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["serve", "--port", "99999"], "port (0 = any free port) must be 0-65535"),
        (["serve", "--log-level", "loud"], "unknown choice 'loud'"),
        (["serve", "--public-url", "not-a-url"], "expected an origin"),
        (["serve", "--config", "nowhere.yaml"], "nowhere.yaml"),
        (["canny", "IMG", "-o", "/nonexistent/dir/x.png"], "folder /nonexistent/dir does not exist"),
        (["canny", "IMG", "-o", "out.txt"], "PNG or JPEG"),
        (["canny", "IMG", "--low", "900"], "must be 0-500, not 900"),
        (["canny", "missing.png"], "missing.png"),
        (["send-webhook", "http://127.0.0.1:9/", "--secret", "a\nb"], "not a valid HTTP header value"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, args, needle):
    args = [str(ROOT / "fixtures" / "images" / "camera.png") if a == "IMG" else a for a in args]
    one_line_error(cli(*args, cwd=tmp_path), needle)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_port_in_use_names_the_port_and_port_0(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        one_line_error(cli("serve", "--port", str(port), cwd=tmp_path), f"port {port}", "--port 0")


def test_canny_writes_what_it_says(tmp_path):
    done = cli("canny", str(ROOT / "fixtures" / "images" / "camera.png"), "-o", "edges.jpg", cwd=tmp_path)
    assert done.returncode == 0 and "-> edges.jpg" in done.stdout
    assert (tmp_path / "edges.jpg").read_bytes()[:2] == b"\xff\xd8"
    helptext = cli("canny", "--help").stdout + cli("send-webhook", "--help").stdout
    assert "default 50" in helptext and "0-500" in helptext and "default Ready" in helptext


# 6, 10, 15 ------------------------------------------------------------------------ banner link, health, access log
def test_serve_banner_links_answer_and_the_access_log_has_no_secrets(tmp_path):
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", "0", "--access-log", "json", "--progression", "polls:1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=ENV,
        cwd=tmp_path,
    )
    try:
        banner = proc.stdout.readline() + proc.stdout.readline()  # type: ignore[union-attr]
        base = re.search(r"at (http://127\.0\.0\.1:\d+)", banner).group(1)  # type: ignore[union-attr]
        links = re.findall(r"(http://127\.0\.0\.1:\d+/\S+?)[,\s]", banner)
        assert {link[len(base) :] for link in links} == {"/_mock/ui", "/_mock/", "/health", "/openapi.json"}
        with httpx.Client(trust_env=False, timeout=10) as c:
            assert all(c.get(link).status_code == 200 for link in links)  # every link the banner prints answers
            assert c.get(base + "/_mock/").json()["endpoints"]
            assert c.get(base + "/health").json()["status"] == "ok"
            r = c.post(base + SUBMIT, json=body(), headers={"x-key": "very-secret-key"})
            sample = c.get(r.json()["polling_url"]).json()["result"]["sample"]
            dl = c.get(sample)
            assert dl.status_code == 200
            assert dl.headers.get_list("server") == ["Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0"]
            assert "server" not in r.headers  # the real API sends none
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert {(entry["method"], entry["status"]) for entry in lines} >= {("POST", 200), ("GET", 200)}
    assert "very-secret-key" not in out and "sig=***" in out
    assert all({"time", "client", "method", "path", "status", "ms"} <= set(entry) for entry in lines)


# 11 -------------------------------------------------------------------------------- admin bodies have schemas
def test_admin_bodies_are_validated_against_published_schemas(served):
    c = httpx.Client(base_url=served.url, trust_env=False)
    r = c.post("/_mock/rules", json={"match": {"nth": 0}, "outcome": {"webhook": {"early": "soon"}}})
    assert (r.status_code == 400 and "body.outcome.webhook.early" in r.json()["detail"]) or "body.match.nth" in r.text
    r = c.put("/_mock/credits/k", json={"credits": "lots"})
    assert r.status_code == 400 and "body.credits" in r.json()["detail"]
    spec = c.get("/openapi.json").json()
    rule = spec["paths"]["/_mock/rules"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert rule == {"$ref": "#/components/schemas/MockRules"}
    assert "webhook" in spec["components"]["schemas"]["MockOutcome"]["properties"]
    assert spec["components"]["securitySchemes"]["AdminBearer"]["scheme"] == "bearer"


def test_the_admin_token_403_says_how_to_send_it():
    server = LiveServer(BflMock(admin_token="t0ken")).start()
    try:
        c = httpx.Client(base_url=server.url, trust_env=False)
        r = c.get("/_mock/stats")
        assert r.status_code == 403 and "Authorization: Bearer <token>" in r.json()["detail"]
        assert c.get("/_mock/stats", headers={"Authorization": "Bearer t0ken"}).status_code == 200
    finally:
        server.stop()


# 12 -------------------------------------------------------------------------------- why an image failed
def test_the_admin_task_view_says_why_the_image_failed(served):
    c = httpx.Client(base_url=served.url, trust_env=False, headers={"x-key": "k"})
    tid = c.post(SUBMIT, json=body(control_image="bm90IGFuIGltYWdl")).json()["id"]  # "not an image"
    c.post(f"/_mock/tasks/{tid}/complete")
    public = c.get(f"/v1/get_result?id={tid}").json()
    task = c.get(f"/_mock/tasks/{tid}").json()
    assert public["details"] == {"error": "Invalid or corrupted image input"} and "image_error" not in public
    assert task["status"] == "Error" and task["image_error"] == "not a PNG, JPEG or WebP image"


# 13 -------------------------------------------------------------------------------- README reference is current
def test_the_readme_control_api_reference_is_generated_and_current():
    done = subprocess.run([sys.executable, "scripts/api_reference.py"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
    docs = "".join(p.read_text() for p in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
    assert "`mock.webhooks.wait_for(" in docs and "`--log-level {" in docs
    for path in re.findall(r"`((?:fixtures|schemas|scripts|tests)/[\w./-]+)`", docs):
        assert (ROOT / path).exists(), path
