"""``make fresh-clone-check`` (run by .ci/run): what a new user does first, on a fresh clone of HEAD.

1. ``make serve`` and ``make test`` started at the same moment in a clone with no ``.venv``: both must work
   (one creates the venv under a lock, the other waits for it); the served fake answers ``/health`` and the
   test run passes. ``make test`` runs one small test file here (``PYTEST_ARGS``), the point is the set-up.
2. ``pip install .`` into a throw-away venv outside the repository, and ``pipx install .`` with its own
   PIPX_HOME: both give a working ``bfl-mock --version`` and ``bfl-mock serve``.

Only the standard library (any python3). Ports are free ones (port 0 / a probe), never fixed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VERSION = re.search(r'__version__ = "([^"]+)"', (ROOT / "mock_server/core/version.py").read_text())[1]  # type: ignore[index]


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    print("+", " ".join(cmd), flush=True)
    done = subprocess.run(cmd, text=True, capture_output=True, **kw)  # type: ignore[call-overload]
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-4000:], sep="\n")
        raise SystemExit(f"fresh-clone-check: {' '.join(cmd[:4])} ... exited {done.returncode}")
    return done  # type: ignore[no-any-return]


def wait_banner(proc: subprocess.Popen[str], log: Path, timeout: float) -> str:
    """The base URL from the serve banner (``serving ... at http://127.0.0.1:PORT``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(r"at (http://127\.0\.0\.1:\d+)", log.read_text(errors="replace"))
        if m:
            return m[1]
        if proc.poll() is not None:
            raise SystemExit(f"fresh-clone-check: serve exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)  # polling a log file for a banner, not waiting for state in a test
    raise SystemExit(f"fresh-clone-check: no serve banner after {timeout:.0f}s:\n{log.read_text()[-3000:]}")


def health(base: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{base}/health", timeout=10) as r:
        return json.loads(r.read())  # type: ignore[no-any-return]


def serve_and_stop(cmd: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=out, text=True, start_new_session=True)
    try:
        base = wait_banner(proc, log, 60)
        assert health(base).get("status") == "ok"
        print(f"  {' '.join(cmd[-4:])}: healthy at {base}", flush=True)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="bfl-mock-clone-"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "MAKEFLAGS", "MAKELEVEL")}
    try:
        clone = work / "clone"
        run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(clone)])
        if (clone / ".venv").exists():
            raise SystemExit("fresh-clone-check: the clone has a .venv")

        # 1. make serve & make test, together
        started = time.monotonic()
        serve_log = work / "serve.log"
        with serve_log.open("w") as out:
            serve = subprocess.Popen(
                ["make", "serve", "ARGS=--port 0"],
                cwd=clone, env=env, stdout=out, stderr=subprocess.STDOUT, text=True, start_new_session=True,
            )  # fmt: skip
        try:
            test = subprocess.run(
                ["make", "test", "PYTEST_ARGS=tests/test_packaging.py"],
                cwd=clone, env=env, capture_output=True, text=True, timeout=1200,
            )  # fmt: skip
            if test.returncode != 0:
                print(test.stdout[-4000:], test.stderr[-4000:], serve_log.read_text()[-2000:], sep="\n")
                raise SystemExit(f"fresh-clone-check: make test exited {test.returncode} beside make serve")
            base = wait_banner(serve, serve_log, 600)
            assert health(base).get("status") == "ok"
            if "No such file" in serve_log.read_text() + test.stderr:
                raise SystemExit("fresh-clone-check: a make run saw a half-made venv")
            passed = re.findall(r"\d+ passed", test.stdout)
            print(f"  make serve & make test together: served at {base}, tests {passed[-1:]} "
                  f"({time.monotonic() - started:.0f}s including the venv)", flush=True)  # fmt: skip
        finally:
            os.killpg(serve.pid, signal.SIGTERM)
            serve.wait(30)

        # 2. pip install . and pipx install ., outside the repository
        venv = work / "pip-venv"
        run([sys.executable, "-m", "venv", str(venv)])
        run([str(venv / "bin/pip"), "install", "-q", "."], cwd=clone, env=env, timeout=900)
        out = run([str(venv / "bin/bfl-mock"), "--version"], cwd=work, env=env).stdout
        assert out.strip() == f"bfl-mock {VERSION}", out
        serve_and_stop([str(venv / "bin/bfl-mock"), "serve", "--port", "0"], work, env, work / "pip-serve.log")

        pipx_env = {**env, "PIPX_HOME": str(work / "pipx"), "PIPX_BIN_DIR": str(work / "pipx-bin")}
        pipx = [str(venv / "bin/python"), "-m", "pipx"]
        run([str(venv / "bin/pip"), "install", "-q", "pipx"], env=env, timeout=600)
        run([*pipx, "install", str(clone)], cwd=work, env=pipx_env, timeout=900)
        out = run([str(work / "pipx-bin/bfl-mock"), "--version"], cwd=work, env=pipx_env).stdout
        assert out.strip() == f"bfl-mock {VERSION}", out
        serve_and_stop([str(work / "pipx-bin/bfl-mock"), "serve", "--port", "0"], work, pipx_env, work / "pipx.log")
        print("fresh-clone-check: 3 passed, 0 failed")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
