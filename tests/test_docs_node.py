"""The README's Node quickstart (the AI SDK's Black Forest Labs provider), run with node as pasted.

The packages come from ``tests/node/`` (versions pinned in its ``package-lock.json``), installed by
``make node-example`` (CI runs it before ``make test``); tests never reach the npm registry themselves, so
without them this test is skipped and says how to install them. The fake and node run in a private network
namespace of their own (as the README's ``sh`` blocks do, see tests/test_readme.py), so the quickstart's
``127.0.0.1:8787`` is always free; where namespaces are unavailable, a free port replaces 8787.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from test_readme import BLOCKS, _free_port, netns

ROOT = Path(__file__).resolve().parent.parent
MODULES = ROOT / "tests" / "node" / "node_modules"
BIN = str(Path(sys.executable).parent)


def _quickstart() -> str:
    me = "tests/test_docs_node.py::test_the_node_quickstart_runs_against_the_fake"
    found = [b for b in BLOCKS if b.lang == "js" and b.kind == "tested by" and b.note.strip() == me]
    assert found, "README.md has no js block marked as tested by this test"
    return found[0].code


def test_the_node_quickstart_runs_against_the_fake(tmp_path):
    code = _quickstart()
    if shutil.which("node") is None or not (MODULES / "@ai-sdk" / "black-forest-labs").is_dir():
        pytest.skip("needs node and the quickstart's packages: make node-example")
    (tmp_path / "node_modules").symlink_to(MODULES)
    (tmp_path / "generate.mjs").write_text(code)
    # Tasks are Ready on the second poll (the SDK polls every 500 ms; the default 5 s would only slow the test).
    script = (
        "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n"
        + ("ip link set lo up\n" if netns() else "")
        + "bfl-mock serve --port 8787 --progression polls:2 >serve.log 2>&1 &\n"
        + "until curl -sf localhost:8787/health >/dev/null; do kill -0 $! || exit 1; sleep 0.1; done\n"
        + "node generate.mjs\n"
        + "curl -s 'localhost:8787/_mock/tasks'\n"
    )
    if netns() is None:
        port = str(_free_port())
        script = script.replace("8787", port)
        (tmp_path / "generate.mjs").write_text(code.replace("8787", port))
    env = {**os.environ, "PATH": BIN + os.pathsep + os.environ["PATH"]}
    done = subprocess.run(
        [*(netns() or ()), "bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:], (tmp_path / "serve.log").read_text())
    assert re.search(r"saved cube\.jpg \(\d+ bytes\)", done.stdout)
    with Image.open(tmp_path / "cube.jpg") as image:  # the size the quickstart asked for
        assert image.format == "JPEG" and image.size == (1024, 1024)
    assert '"endpoint": "flux-pro-1.1"' in done.stdout or '"flux-pro-1.1"' in done.stdout
