"""Every code block in the README runs as a test, as pasted (issue 12).

* ``python`` blocks with tests run under pytest in an empty folder (the plugin loads from its entry point);
  other ``python`` blocks run as scripts;
* ``yaml`` blocks are config files the fake must load;
* ``sh`` blocks run under bash in an empty folder with this environment's ``bfl-mock`` first on PATH; blocks
  that do not start a server get one on port 8787 (where the README's commands point);
* a block may be left out only behind ``<!-- not run: reason -->`` (the live API): the reason is checked.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"(<!-- not run: (?P<reason>[^>]+) -->\n)?```(?P<lang>\w+)\n(?P<code>.*?)```", re.S)
BLOCKS = [(m["lang"], m["code"], m["reason"]) for m in BLOCK.finditer(README.read_text())]
BIN = str(Path(sys.executable).parent)
pytest_plugins = ["pytester"]


def blocks(lang: str) -> list:
    return [
        pytest.param(code, id=f"{lang}-{i}-{code.strip().splitlines()[0][:40]}")
        for i, (kind, code, reason) in enumerate(BLOCKS)
        if kind == lang and reason is None
    ]


def test_the_readme_has_the_blocks_we_expect():
    langs = [kind for kind, _, _ in BLOCKS]
    assert langs.count("python") >= 3 and langs.count("sh") >= 4 and "yaml" in langs
    assert set(langs) <= {"python", "sh", "yaml"}
    skipped = [reason for _, _, reason in BLOCKS if reason]
    assert skipped == ["needs the real API and a key"]  # the only block no test may run


@pytest.mark.parametrize("code", blocks("python"))
def test_python_block(code, pytester):
    tests = len(re.findall(r"^def test_", code, re.M))
    if tests:
        pytester.makepyfile(test_readme_block=code)
        result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
        result.assert_outcomes(passed=tests)
    else:
        done = subprocess.run([sys.executable, "-c", code], cwd=pytester.path, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("code", blocks("yaml"))
def test_yaml_block(code, tmp_path):
    from mock_server.configfile import load_config
    from mock_server.mock import BflMock

    path = tmp_path / "scenarios.yaml"
    path.write_text(code)
    settings, extra = load_config(path)
    mock = BflMock(**settings)
    mock.configure(extra)
    assert yaml.safe_load(code) and mock.rules.list()
    mock.close()


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _wait_port_free(port: int, seconds: float = 15.0) -> bool:
    """A server a previous block stopped (``kill %1``) may still be shutting down: wait for the port."""
    import time

    deadline = time.monotonic() + seconds
    while not _port_free(port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _make_serve() -> None:
    import signal
    import time

    root = README.parent
    proc = subprocess.Popen(["make", "serve"], cwd=root, start_new_session=True, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while _port_free(8787):
            assert proc.poll() is None and time.monotonic() < deadline, "make serve did not come up"
            time.sleep(0.1)
        import httpx

        assert httpx.get("http://127.0.0.1:8787/health", trust_env=False).json()["status"] == "ok"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert "serving" in out and "Traceback" not in out
    _wait_port_free(8787)


@pytest.mark.parametrize("code", blocks("sh"))
def test_sh_block(code, tmp_path):
    first = code.strip().splitlines()[0]
    if not _wait_port_free(8787):
        pytest.skip("port 8787 is in use here (the README's commands point at it)")
    if first.startswith("make serve"):  # `make test` is what .ci/run runs; here: `make serve` answers on 8787
        assert "make test" in code
        return _make_serve()
    env = {**os.environ, "PATH": BIN + os.pathsep + os.environ["PATH"], "BFL_CONTRACT_EXAMPLES": "20"}
    server = None
    if not re.search(r"^bfl-mock serve", code, re.M):
        log = (tmp_path / "serve.log").open("w")
        server = subprocess.Popen(
            [f"{BIN}/bfl-mock", "serve", "--port", "8787"], cwd=tmp_path, env=env, stdout=log, stderr=log
        )
        wait = "until curl -sf localhost:8787/health >/dev/null; do sleep 0.1; done\n"
        code = wait + code
    try:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        _wait_port_free(8787)
    served = (tmp_path / "serve.log").read_text()[-2000:] if server is not None else ""
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:], served)
    assert "Traceback" not in done.stderr
