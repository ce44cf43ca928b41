"""Helpers of the contract kit's tests: the kit run as pytest and as ``bfl-mock contract``, and a server that
answers wrongly in known ways."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from bfl_helpers import ROOT

WRONG_SERVER = r"""
import sys, time
from mock_server.core import backend, errors
from mock_server.http import app as http
from mock_server.mock import BflMock
from mock_server.frontends.server import LiveServer

errors.INVALID_KEY = "Invalid API key"                      # one error message
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
        env={
            **os.environ,
            "BFL_CONTRACT_EXAMPLES": "60",
            "BFL_CONTRACT_PROPERTY_EXAMPLES": "2",
            "BFL_CONTRACT_ENDPOINT_EXAMPLES": "5",
            **(env or {}),
        },
    )


def cli(*args: str, env: dict[str, str] | None = None, cwd=ROOT, shim: dict[str, str] | None = None):
    """``bfl-mock contract ...`` as a user runs it; ``shim``: modules made unimportable (name -> error)."""
    extra = dict(env or {})
    if shim:
        import tempfile

        folder = tempfile.mkdtemp(prefix="bfl-shim-")
        for name, error in shim.items():
            os.makedirs(os.path.join(folder, name))
            with open(os.path.join(folder, name, "__init__.py"), "w") as f:
                f.write(f"raise {error}({name!r})\n")
        extra["PYTHONPATH"] = os.pathsep.join([folder, os.environ.get("PYTHONPATH", str(ROOT))])
    return subprocess.run(
        [sys.executable, "-m", "mock_server", "contract", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={
            **os.environ,
            "BFL_CONTRACT_EXAMPLES": "60",
            "BFL_CONTRACT_PROPERTY_EXAMPLES": "2",
            "BFL_CONTRACT_ENDPOINT_EXAMPLES": "2",
            **extra,
        },
    )


def json_after(line: str, label: str) -> object:
    """The JSON of a failure line ``label STATUS JSON``: it must parse (nothing cut inside a token)."""
    rest = line.split(label, 1)[1].strip()
    status, _, body = rest.partition(" ")
    assert status.isdigit(), line
    return json.loads(body) if body else None
