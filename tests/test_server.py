"""The real server path: uvicorn on loopback, streaming body limit, CLI serve/canny, admin API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from bfl_helpers import IMAGES, SUBMIT, body

from mock_server.frontends.server import LiveServer
from mock_server.mock import BflMock


@pytest.fixture
def live():
    with LiveServer(BflMock(frozen_clock=True, progression="polls:2", seed=9, max_body_bytes=200_000)) as server:
        yield server


def test_full_cycle_over_loopback(live):
    with httpx.Client(base_url=live.url, headers={"x-key": "k"}) as c:
        r = c.post(SUBMIT, json=body())
        assert r.status_code == 200
        assert r.json()["polling_url"] == f"{live.url}/v1/get_result?id={r.json()['id']}"
        polls = [c.get(r.json()["polling_url"]).json() for _ in range(2)]
        assert [p["status"] for p in polls] == ["Pending", "Ready"]
        dl = c.get(polls[-1]["result"]["sample"])
        assert dl.status_code == 200 and dl.headers["content-type"] == "image/jpeg" and dl.content[:2] == b"\xff\xd8"


def test_oversized_bodies_get_413_without_being_read_whole(live):
    with httpx.Client(base_url=live.url, headers={"x-key": "k"}) as c:
        r = c.post(SUBMIT, json=body(control_image="A" * 300_000))
        assert r.status_code == 413
        assert "detail" in r.json()

        def chunks():  # no Content-Length: the limit applies while streaming
            for _ in range(50):
                yield b"x" * 10_000

        r = c.post(SUBMIT, content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert c.post(SUBMIT, json=body()).status_code == 200  # the server is fine afterwards


def test_admin_api_from_loopback_and_token(live):
    with httpx.Client(base_url=live.url) as c:
        r = c.post(SUBMIT, json=body(), headers={"x-key": "k"})
        tid = r.json()["id"]
        assert c.get("/_mock/tasks").json()["tasks"][0]["id"] == tid
        assert c.post(f"/_mock/tasks/{tid}/fail", json={"error": "boom"}).status_code == 200
        assert c.get("/v1/get_result", params={"id": tid}).json()["details"] == {"error": "boom"}
        assert c.post("/_mock/clock/advance", json={"seconds": "x"}).status_code == 400
        before = c.get("/_mock/clock").json()["now"]
        assert c.post("/_mock/clock/advance", json={"seconds": 30}).json()["now"] == before + 30
        assert c.get("/_mock/requests", params={"path": SUBMIT}).json()["requests"][0]["body"]["control_image"][
            "sha256"
        ]
        assert c.post("/_mock/reset").status_code == 200
        assert c.get("/_mock/tasks").json()["tasks"] == []
    live.mock.settings.admin_token = "s3cret"
    try:
        with httpx.Client(base_url=live.url) as c:
            assert c.get("/_mock/tasks").status_code == 403
            assert c.get("/_mock/tasks", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    finally:
        live.mock.settings.admin_token = None


def _cli(*args, **kw):
    return subprocess.run(
        [sys.executable, "-m", "mock_server", *args], capture_output=True, text=True, timeout=60, **kw
    )


def test_cli_serve_prints_url_and_stops_cleanly_on_sigterm():
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_server", "serve", "--port", "0", "--progression", "polls:1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "BFL_MOCK_SEED": "5"},
    )
    try:
        first = proc.stdout.readline()
        from mock_server.core.endpoints import ENDPOINTS

        assert f"serving BFL's image API ({len(ENDPOINTS)} endpoints) at http://127.0.0.1:" in first
        url = first.rsplit(" at ", 1)[1].strip()
        lines = [proc.stdout.readline() for _ in range(3)]
        assert f"dashboard: {url}/_mock/ui" in lines[0]
        assert any("curl -s " in line and "control_image" in line for line in lines)
        with httpx.Client(base_url=url, headers={"x-key": "k"}) as c:
            tid = c.post(SUBMIT, json=body()).json()["id"]
            assert c.get("/v1/get_result", params={"id": tid}).json()["status"] == "Ready"
            assert c.get("/_mock/config").json()["seed"] == 5
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_cli_rejects_bad_settings():
    r = _cli("serve", "--progression", "sometimes")
    assert r.returncode == 2 and "progression must be" in r.stderr


def test_cli_canny_preview(tmp_path: Path):
    out = tmp_path / "edges.png"
    r = _cli("canny", str(IMAGES / "chelsea.png"), "--low", "100", "--high", "200", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "451x300 -> edge map 448x288" in r.stdout
    import cv2

    edges = cv2.imread(str(out), cv2.IMREAD_GRAYSCALE)
    assert edges.shape == (288, 448) and 0 < (edges > 0).mean() < 0.5
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    r = _cli("canny", str(bad))
    assert r.returncode == 2 and "Invalid or corrupted image input" in r.stderr


def test_starlette_application_variant_behaves_the_same():
    from mock_server.frontends.asgi import create_starlette_app
    from mock_server.frontends.server import ThreadedServer

    mock = BflMock(frozen_clock=True, progression="polls:1", seed=2)
    server = ThreadedServer(create_starlette_app(mock, close_on_shutdown=False))
    with mock, server, httpx.Client(base_url=server.url, headers={"x-key": "k"}) as c:
        r = c.post(SUBMIT, json=body())
        res = c.get(r.json()["polling_url"]).json()
        assert res["status"] == "Ready"
        assert c.get(res["result"]["sample"]).headers["content-type"] == "image/jpeg"
        bad = c.post(SUBMIT, content=b"{", headers={"content-type": "application/json"})
        assert bad.json()["detail"][0]["type"] == "json_invalid"
        assert c.get("/nope").json() == {"detail": "Not Found"}
