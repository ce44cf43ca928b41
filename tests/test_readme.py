"""Every code block a user would paste, in README.md and docs/**/*.md, runs as a test, as pasted.

* ``python`` blocks with ``def test_`` run under pytest in an empty folder (the plugin loads from its entry
  point); other ``python`` blocks run as scripts there;
* ``yaml`` blocks are config files the fake must load (``--config``);
* ``sh`` blocks run under ``bash -euo pipefail`` in an empty folder with this environment's ``bfl-mock`` first
  on PATH; a block that does not start a server itself gets ``bfl-mock serve --port 8787`` (where the docs'
  commands point). A block starting with ``make serve`` runs the Makefile's target and checks it answers;
* a block in another language must be preceded by ``<!-- tested by: tests/FILE.py::TEST -->`` (that test must
  exist) or, like any block no test can run here (the real API, installing packages), by
  ``<!-- not run: reason -->``; a ``tested by`` block of a runnable language runs only in the test it names;
* ``text`` blocks are what a command prints (read, never pasted) and are not run.

No fixed port: each ``sh`` block runs in a private network namespace of its own (``unshare -n`` as root,
``unshare -rn`` otherwise), whose loopback only that block uses, so port 8787 is always free there, blocks run
in parallel, and nothing outside (a developer's own ``bfl-mock serve``, another test) can clash with them or be
reached by them. Where namespaces are unavailable, the block's 8787 is replaced by a free port (the text run
then differs from the text pasted in that number only). Identical blocks on several pages run once.
"""

from __future__ import annotations

import ast
import functools
import os
import re
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(
    r"(?:<!-- (?P<kind>not run|tested by): (?P<note>[^>]*?) -->\n)?^```(?P<lang>[\w-]*)\n(?P<code>.*?)^```[ \t]*$",
    re.S | re.M,
)
RUN = {"python", "sh", "yaml"}
BIN = str(Path(sys.executable).parent)
pytest_plugins = ["pytester"]


@dataclass(frozen=True)
class Block:
    page: str
    lang: str
    code: str
    kind: str | None
    note: str | None

    @property
    def runs_here(self) -> bool:
        return self.lang in RUN and self.kind is None  # "tested by" blocks run in the test they name


def read_blocks() -> list[Block]:
    found = []
    for page in PAGES:
        for m in BLOCK.finditer(page.read_text()):
            found.append(Block(str(page.relative_to(ROOT)), m["lang"], m["code"], m["kind"], m["note"]))
    return found


BLOCKS = read_blocks()


def blocks(lang: str) -> list:
    seen: set[str] = set()
    params = []
    for b in BLOCKS:
        if b.lang == lang and b.runs_here and b.code not in seen:
            seen.add(b.code)
            first = b.code.strip().splitlines()[0][:40]
            params.append(pytest.param(b.code, id=f"{b.page}-{first}"))
    return params


def test_every_block_runs_or_says_why():
    for b in BLOCKS:
        where = f"{b.page}: ```{b.lang} {b.code[:60]!r}"
        assert b.lang, f"{where}: a block needs a language"
        if b.lang == "text" and b.kind is None:  # what a command prints: read, never pasted
            continue
        if b.kind == "not run":
            assert len(b.note.strip()) > 5, f"{where}: say why it is not run"
        elif b.kind == "tested by":
            path, sep, name = b.note.strip().partition("::")
            assert sep and (ROOT / path).is_file(), f"{where}: no test file {path}"
            tree = ast.parse((ROOT / path).read_text())
            names = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
            assert name in names and name.startswith("test_"), f"{where}: {path} has no test {name}"
        else:
            assert b.lang in RUN, f"{where}: mark it <!-- tested by: ... --> or <!-- not run: reason -->"


def test_the_readme_opens_with_the_setup_commands_and_has_every_quickstart():
    assert (ROOT / "README.md").read_text().startswith("# bfl-mock\n\n```sh\nmake serve ")
    readme = [b for b in BLOCKS if b.page == "README.md"]
    assert [line.split()[:2] for line in readme[0].code.splitlines()] == [["make", "serve"], ["make", "test"]]
    assert any(b.lang == "sh" and b.runs_here and b.code.startswith("bfl-mock serve") for b in readme)
    assert any(b.lang == "python" and b.runs_here and "def test_" in b.code for b in readme)
    assert any(b.lang == "js" and b.kind == "tested by" for b in readme)


@pytest.mark.parametrize("code", blocks("python"))
def test_python_block(code, pytester):
    tests = len(re.findall(r"^def test_", code, re.M))
    if tests:
        pytester.makepyfile(test_docs_block=code)
        result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
        result.assert_outcomes(passed=tests)
    else:
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=pytester.path, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("code", blocks("yaml"))
def test_yaml_block(code, tmp_path):
    from mock_server.configfile import load_config
    from mock_server.mock import BflMock

    path = tmp_path / "bfl-mock.yaml"
    path.write_text(code)
    settings, extra = load_config(path)
    mock = BflMock(**settings)
    try:
        mock.configure(extra)
        assert yaml.safe_load(code) and (settings or extra)
        if "rules" in extra:
            assert len(mock.rules.list()) == len(extra["rules"])
    finally:
        mock.close()


@functools.cache
def netns() -> tuple[str, ...] | None:
    """The command prefix that gives a process its own network namespace, or None where none works."""
    for prefix in (("unshare", "-n"), ("unshare", "-rn")):
        try:
            done = subprocess.run([*prefix, "ip", "link", "set", "lo", "up"], capture_output=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return prefix
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


WAIT = "until curl -sf localhost:8787/health >/dev/null; do kill -0 $! || exit 1; sleep 0.1; done\n"


def _script(code: str, log: Path) -> str:
    """The block as pasted, after what the namespace needs: loopback up, a server if the block has none."""
    head = "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n"  # no server outlives its block
    if netns() is not None:
        head += "ip link set lo up\n"
    if code.startswith("make serve"):  # the Makefile's target, with this environment's venv (never reinstalled)
        prefix = sys.prefix
        return head + (
            f"make -s -C {ROOT} -o {prefix}/.installed VENV={prefix} serve >{log} 2>&1 &\n"
            + WAIT
            + 'curl -s localhost:8787/health | grep -q \'"status":"ok"\'\n'
        )
    if not re.search(r"^bfl-mock serve", code, re.M):
        head += f"bfl-mock serve --port 8787 >{log} 2>&1 &\n" + WAIT
    return head + code


@pytest.mark.parametrize("code", blocks("sh"))
def test_sh_block(code, tmp_path):
    if code.startswith("make serve"):
        assert "make test" in code  # `make test` is what .ci/run runs; here: `make serve` answers
    log = tmp_path / "serve.log"
    script = _script(code, log)
    if netns() is None:
        script = script.replace("8787", str(_free_port()))
    env = {**os.environ, "PATH": BIN + os.pathsep + os.environ["PATH"], "BFL_CONTRACT_EXAMPLES": "10"}
    env |= {"BFL_CONTRACT_ENDPOINT_EXAMPLES": "2", "BFL_CONTRACT_PROPERTY_EXAMPLES": "1"}  # smallest scale
    env.pop("BFL_API_KEY", None)
    command = [*(netns() or ()), "bash", "-euo", "pipefail", "-c", script]
    proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    served = log.read_text()[-2000:] if log.exists() else ""
    assert proc.returncode == 0, (out[-3000:], err[-3000:], served)
    assert "Traceback" not in err and "Traceback" not in served
