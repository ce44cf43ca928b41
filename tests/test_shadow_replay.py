"""Recording the shadow's traffic as scrubbed cassettes, replaying it (``serve --replay``), checking the fake
against it offline (``contract --cassettes``), and the ``bfl-mock shadow`` command end to end."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from mock_server.frontends.asgi import create_app
from mock_server.frontends.server import ThreadedServer
from mock_server.mock import BflMock
from mock_server.shadow.cassettes import Recorder
from mock_server.shadow.replay import ReplayApp, Replayer, check_cassettes
from tests.test_shadow_support import Planted, png, run_task, shadow_of

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-live-very-secret"
SIG = re.compile(rb"([?&]sig=)[^&\"]+")


def _session(client: httpx.Client, base: str) -> list[httpx.Response]:
    """What an app does: a text-to-image task, an edit with an input image, a 422, a bad key, a secret."""
    answers = run_task(client, base, "/v1/flux-pro-1.1", {"prompt": "a red cube", "width": 512, "height": 512})
    answers += run_task(client, base, "/v1/flux-kontext-pro", {"prompt": "make it blue", "input_image": png(96, 64)})
    answers.append(client.post("/v1/flux-pro-1.1", json={"prompt": "x", "width": 5}))
    answers.append(client.post("/v1/flux-pro-1.1", json={"prompt": "x"}, headers={"x-key": ""}))
    hook = {"prompt": "with hook", "webhook_url": "https://example.com/hook", "webhook_secret": "whsec-1"}
    answers.append(client.post("/v1/flux-pro-1.1", json=hook))  # the webhook answer (S4): no polling_url
    return answers


def _record(tmp_path: Path, **kw) -> tuple[Path, list[httpx.Response]]:
    directory = tmp_path / "recordings"
    stand_in = BflMock(progression="polls:2", seed=1)
    try:
        recorder = Recorder(directory, origin="https://api.bfl.ai", max_bytes=kw.pop("max_bytes", 1 << 26), **kw)
        with shadow_of(create_app(stand_in), recorder=recorder) as (app, base), httpx.Client(base_url=base) as c:
            c.headers["x-key"] = KEY
            answers = _session(c, base)
            assert app.drain(30)
            assert app.report.as_dict()["divergences"] == []
    finally:
        stand_in.close()
    return directory, answers


def test_recordings_are_scrubbed_go_vcr_cassettes(tmp_path):
    directory, answers = _record(tmp_path)
    files = sorted(directory.glob("*.yaml"))
    assert len(files) == 1
    text = files[0].read_text()
    data = yaml.safe_load(text)
    assert data["version"] == 2 and len(data["interactions"]) == len(answers)
    first = data["interactions"][0]
    assert set(first) >= {"id", "request", "response"}
    assert set(first["request"]) >= {"url", "method", "headers", "body"}
    assert first["request"]["url"] == "https://api.bfl.ai/v1/flux-pro-1.1"
    assert first["request"]["headers"]["X-Key"] == ["REDACTED"]
    assert KEY not in text and "whsec-1" not in text
    assert png(96, 64) not in text and "<scrubbed image: " in text and " 96x64>" in text
    assert "sig=REDACTED" in text and "&sig=" not in text.replace("sig=REDACTED", "")
    media = [i for i in data["interactions"] if i["response"]["body"].startswith("<binary ")]
    assert len(media) == 2 and " format jpeg size 512x512>" in media[0]["response"]["body"]


def test_the_recordings_folder_is_bounded(tmp_path):
    directory, answers = _record(tmp_path, max_bytes=4000)
    written = sum(len(yaml.safe_load(p.read_text())["interactions"]) for p in directory.glob("*.yaml"))
    assert 0 < written < len(answers)
    assert sum(p.stat().st_size for p in directory.iterdir()) < 4000 + 8000  # the last file written, no more


def test_a_replayed_session_gives_the_app_the_same_answers(tmp_path):
    directory, recorded = _record(tmp_path, media=True)
    fallback = BflMock()
    replayer = Replayer(directory)
    try:
        with (
            ThreadedServer(ReplayApp(replayer, create_app(fallback))) as server,
            httpx.Client(base_url=server.url) as c,
        ):
            c.headers["x-key"] = "another-key"  # keys are scrubbed: any key matches
            # the app polls the host it was given; the recorded URLs name the stand-in's origin
            replayed = _session(c, server.url)
            assert [r.status_code for r in replayed] == [r.status_code for r in recorded]
            for a, b in zip(recorded, replayed, strict=True):  # the same bytes, but for the scrubbed signature
                assert SIG.sub(rb"\g<1>REDACTED", a.content) == b.content
            stats = c.get("/_mock/replay").json()
            assert stats["matched"] == len(recorded) and stats["unmatched"] == 0
            assert c.get("/v1/get_result", params={"id": "not-recorded"}).status_code == 404  # the fake answers
            assert c.get("/_mock/replay").json()["unmatched_requests"][0]["path"] == "/v1/get_result"
        refusing = ReplayApp(Replayer(directory), create_app(fallback), unmatched="refuse")
        with ThreadedServer(refusing) as server, httpx.Client(base_url=server.url) as c:
            r = c.post("/v1/flux-dev", json={"prompt": "never recorded"})
            assert r.status_code == 501 and "no recorded answer for POST /v1/flux-dev" in r.json()["detail"]
    finally:
        fallback.close()


def test_contract_over_the_recording_passes_and_fails_naming_the_behaviour_when_edited(tmp_path, capsys):
    from mock_server.cli import main

    directory, _ = _record(tmp_path)
    assert main(["contract", "--cassettes", str(directory)]) == 0
    assert "recorded exchange(s) checked: 0 difference(s)" in capsys.readouterr().out
    mock = BflMock(progression="manual")
    try:
        count, divergences = check_cassettes(directory, mock)
    finally:
        mock.close()
    assert count > 10 and divergences == [], [d.detail for d in divergences]

    path = next(directory.glob("*.yaml"))
    data = yaml.safe_load(path.read_text())
    edited_submit = False
    for item in data["interactions"]:
        body = item["response"]["body"]
        if item["response"]["code"] == 422:
            item["response"]["body"] = body.replace("multiple of 32", "multiple of 16")
        elif item["request"]["method"] == "POST" and '"polling_url"' in body and not edited_submit:
            item["response"]["body"] = body.replace('"polling_url"', '"region":"eu4","polling_url"', 1)
            edited_submit = True
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    mock = BflMock(progression="manual")
    try:
        _, divergences = check_cassettes(directory, mock)
    finally:
        mock.close()
    assert sorted(d.behaviour for d in divergences) == ["submit", "validation"]
    assert main(["contract", "--cassettes", str(directory)]) == 1
    out = capsys.readouterr().out
    assert "DIFFERS  submit [S3, S4]" in out and "DIFFERS  validation [S1, S2]" in out
    assert any("multiple of 16" in d.detail for d in divergences)
    assert any("response key region" in d.detail for d in divergences)


def _cli(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "mock_server", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )


def _url_from_banner(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.match(r"bfl-mock shadow at (http://[^\s:]+:\d+):", line)
    assert m, line + (proc.stderr.read() if proc.stderr else "")
    return m[1]


@pytest.mark.parametrize("fail_on", [True, False])
def test_the_shadow_command_writes_its_reports_on_sigterm(tmp_path, fail_on):
    stand_in = Planted(BflMock(progression="polls:1"))
    with ThreadedServer(stand_in) as upstream:
        args = ["shadow", "--port", "0", "--upstream", upstream.url, "--allow-upstream-host", "loopback"]
        args += ["--report", str(tmp_path / "r.json"), "--report", str(tmp_path / "r.md")]
        args += ["--junitxml", str(tmp_path / "r.xml"), "--record", str(tmp_path / "rec")]
        args += ["--access-log"]  # one line per request, the key never in it
        proc = _cli(*args, *(["--fail-on-divergence"] if fail_on else []))
        try:
            base = _url_from_banner(proc)
            with httpx.Client(base_url=base, headers={"x-key": KEY}) as c:
                assert c.post("/v1/flux-pro-1.1", json={"prompt": "plant-key"}).json()["region"] == "eu4"
                for _ in range(50):  # compared off the app's path: the live report catches up
                    if c.get("/_mock/shadow").json()["summary"]["compared"] == 1:
                        break
                    c.get("/health")
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
        finally:
            proc.kill() if proc.poll() is None else None
    stand_in.mock.close()
    assert proc.returncode == (1 if fail_on else 0), out + err
    report = json.loads((tmp_path / "r.json").read_text())
    assert [d["behaviour"] for d in report["divergences"]] == ["submit"]
    assert "response key region" in (tmp_path / "r.md").read_text()
    assert 'failures="1"' in (tmp_path / "r.xml").read_text()
    assert "1 divergence(s)" in out and KEY not in out + err
    assert '"POST /v1/flux-pro-1.1 HTTP/1.1" 200' in out
    assert list((tmp_path / "rec").glob("*.yaml"))


def test_the_shadow_command_refuses_an_upstream_that_is_not_bfl(capsys):
    from mock_server.cli import main

    assert main(["shadow", "--upstream", "https://api.bfl.ai.example.com", "--port", "0"]) == 2
    assert "is not one of BFL's hosts" in capsys.readouterr().err


def test_replay_and_cassettes_errors_in_words(capsys, tmp_path):
    from mock_server.cli import main

    assert main(["serve", "--replay", str(tmp_path / "missing"), "--port", "0"]) == 2
    assert "--replay" in capsys.readouterr().err
    (tmp_path / "bad.yaml").write_text("just: text\n")
    assert main(["contract", "--cassettes", str(tmp_path)]) == 2
    assert "not a go-vcr cassette" in capsys.readouterr().err


def test_the_fake_agrees_with_a_real_recorded_session_and_names_the_older_snapshots_drift():
    """BFL's real API, recorded by a go-vcr client (fixtures/recordings/): the December 2025 session (submit,
    20 polls with progress, Ready, the download from the Azure host) agrees with the fake; the June 2025
    snapshot predates the cost fields and ``preview``, and is named for it."""
    recordings = ROOT / "fixtures" / "recordings"
    mock = BflMock(progression="manual")
    try:
        count, divergences = check_cassettes(recordings / "2025-12-flux-dev-submit-poll-ready.yaml", mock)
    finally:
        mock.close()
    assert count == 22 and divergences == [], [d.detail for d in divergences]
    mock = BflMock(progression="manual")
    try:
        _, divergences = check_cassettes(recordings / "2025-06-flux-dev-submit-poll-ready.yaml", mock)
    finally:
        mock.close()
    details = {d.behaviour: d.detail for d in divergences}
    assert "response key cost is predicted, not sent by the upstream" in details["submit"]
    assert details["poll"] == "response key preview is predicted, not sent by the upstream"
