"""LiteLLM, unmodified, against ``bfl-mock serve --proxy-port 0`` in a subprocess: only HTTPS_PROXY and the CA
bundle change (LiteLLM refuses polling URLs that are not ``https`` on ``bfl.ai``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("litellm")

CLIENT = r"""
import io, sys
import litellm
from PIL import Image

gen = litellm.image_generation(model="black_forest_labs/flux-pro-1.1", prompt="a red cube")
url = gen.data[0].url
assert url.startswith("https://api.bfl.ai/"), url
buf = io.BytesIO()
Image.new("RGB", (64, 64), (200, 30, 30)).save(buf, "PNG")
edit = litellm.image_edit(
    model="black_forest_labs/flux-kontext-pro", image=buf.getvalue(), prompt="make it blue"
)
edit_url = edit.data[0].url
assert edit_url.startswith("https://api.bfl.ai/"), edit_url
print("GEN", url)
print("EDIT", edit_url)
"""


def start_serve(ca_dir: Path, *extra: str) -> tuple[subprocess.Popen[str], int, str]:
    env = {**os.environ, "BFL_MOCK_CA_DIR": str(ca_dir)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_server", "serve", "--port", "0", "--proxy-port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    lines = []
    for _ in range(12):
        line = proc.stdout.readline()
        lines.append(line)
        if "proxy for BFL's hosts at " in line:
            proxy = line.split(" at ", 1)[1].split()[0]
            return proc, int(proxy.rsplit(":", 1)[1]), "".join(lines)
    proc.kill()
    raise AssertionError("no proxy line: " + "".join(lines) + proc.stderr.read() if proc.stderr else "")


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    return err


def test_litellm_generation_and_edit_through_the_proxy(tmp_path: Path) -> None:
    ca_dir = tmp_path / "ca"
    proc, port, _ = start_serve(ca_dir, "--progression", "polls:1")
    try:
        env_out = subprocess.run(
            [sys.executable, "-m", "mock_server", "env", "--proxy-port", str(port)],
            capture_output=True,
            text=True,
            env={**os.environ, "BFL_MOCK_CA_DIR": str(ca_dir)},
            check=True,
        ).stdout
        exports = dict(
            line.removeprefix("export ").split("=", 1) for line in env_out.splitlines() if line.startswith("export ")
        )
        client_env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        client_env.update({k: exports[k].strip("'") for k in ("HTTPS_PROXY", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")})
        client_env["BFL_API_KEY"] = "test-key"  # any key: the fake accepts any non-empty one
        client_env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # no fetch of the price list at import
        r = subprocess.run(
            [sys.executable, "-c", CLIENT], capture_output=True, text=True, env=client_env, timeout=120, cwd=tmp_path
        )
        assert r.returncode == 0, r.stdout + r.stderr
        assert "GEN https://api.bfl.ai/" in r.stdout and "EDIT https://api.bfl.ai/" in r.stdout
    finally:
        err = stop(proc)
    assert "Traceback" not in err
