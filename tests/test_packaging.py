"""Packaging, container and release files: what can be checked in seconds (the image build is `make image-check`)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import yaml

import mock_server
from mock_server.core.version import __version__

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _load(path: Path, name: str) -> object:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_version_is_written_in_one_place_and_the_cli_says_it() -> None:
    assert PYPROJECT["project"]["dynamic"] == ["version"] and "version" not in PYPROJECT["project"]
    assert PYPROJECT["tool"]["hatch"]["version"]["path"] == "mock_server/core/version.py"
    assert re.fullmatch(r"\d+\.\d+\.\d+([ab]\d+|rc\d+)?", __version__)
    assert mock_server.__version__ == __version__
    done = subprocess.run(
        [sys.executable, "-m", "mock_server.cli", "--version"], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"bfl-mock {__version__}"


def test_dev_extra_has_the_release_tools() -> None:
    dev = " ".join(PYPROJECT["project"]["optional-dependencies"]["dev"])
    for tool in ("build", "twine", "pipx"):
        assert re.search(rf"\b{tool}\b", dev), tool


def test_constraints_pin_every_dependency_but_not_the_project() -> None:
    lines = [line for line in (ROOT / "constraints.txt").read_text().splitlines() if line and not line.startswith("#")]
    pins = dict(line.split("==", 1) for line in lines)
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name) for name in pins), lines
    assert not {"bfl-mock", "bfl_mock", "pip"} & {name.lower() for name in pins}
    normal = {re.sub(r"[-_.]+", "-", name).lower() for name in pins}
    deps = PYPROJECT["project"]["dependencies"] + PYPROJECT["project"]["optional-dependencies"]["dev"]
    for dep in deps:
        name = re.split(r"[<>=!~\[; ]", dep, maxsplit=1)[0]
        if name != "bfl-mock":
            assert re.sub(r"[-_.]+", "-", name).lower() in normal, f"{name} is not pinned in constraints.txt"
    assert not any(name.lower().startswith("torch") for name in pins), "keep clear of the machine's torch caps"


def test_make_install_uses_the_lock_and_the_lock_beside_the_venv() -> None:
    make = (ROOT / "Makefile").read_text()
    rule = re.search(r"^\$\(STAMP\):(.*)\n\t(.*)$", make, re.M)
    assert rule, "no $(STAMP) rule"
    assert "$(CONSTRAINTS)" in rule[1] and "scripts/venv_setup.py" in rule[2] and "-c $(CONSTRAINTS)" in rule[2]
    for target in ("lock", "test-latest", "dist", "image", "image-check", "fresh-clone-check", "lint-workflows"):
        assert re.search(rf"^{re.escape(target)}:", make, re.M), target
    assert re.search(r"^lint: .*lint-workflows", make, re.M)
    assert re.search(r"^dist:.*\n(\t.*\n)*\t.*twine check --strict dist/\*", make, re.M)
    ci = (ROOT / ".ci/run").read_text()
    for step in ("make test", "make dist", "make fresh-clone-check", "make lint"):
        assert re.search(rf"^{step}\b", ci, re.M), step


def test_venv_setup_runs_once_and_writes_the_stamp_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    setup = _load(ROOT / "scripts/venv_setup.py", "venv_setup")
    calls: list[list[str]] = []

    def fake_run(cmd: list[str], **kw: object) -> None:
        calls.append(cmd)
        if "venv" in cmd:
            (Path(cmd[-1]) / "bin").mkdir(parents=True)
            (Path(cmd[-1]) / "bin/python").write_text("")

    monkeypatch.setattr(setup.subprocess, "run", fake_run)  # type: ignore[attr-defined]
    venv, stamp = tmp_path / "v", tmp_path / "v/.installed"
    assert setup.main([str(venv), str(stamp), ".[dev]", "-c", "constraints.txt", "-e"]) == 0  # type: ignore[attr-defined]
    assert calls[0][1:3] == ["-m", "venv"] and calls[-1][-4:] == ["-c", "constraints.txt", "-e", ".[dev]"]
    assert stamp.read_text().strip() == setup.digest([".[dev]", "-c", "constraints.txt", "-e"])  # type: ignore[attr-defined]
    assert not list(tmp_path.glob("v/.installed.*")), "a temporary stamp was left behind"
    calls.clear()
    assert setup.main([str(venv), str(stamp), ".[dev]", "-c", "constraints.txt", "-e"]) == 0  # type: ignore[attr-defined]
    assert calls == [], "a second run with a matching stamp installed again"
    assert setup.main([str(venv), str(stamp), ".[dev]", "--upgrade", "-e"]) == 0  # type: ignore[attr-defined]
    assert calls and "venv" not in calls[0], "other install options reinstall into the existing venv"


def test_pytest_strict_fails_when_no_test_is_collected(tmp_path: Path) -> None:
    (tmp_path / "test_nothing.py").write_text("x = 1\n")
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts/pytest_strict.py"), "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 1 and "no tests were collected" in done.stderr


def _dockerfile() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    rows = [line.strip().split(None, 1) for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return [(row[0].upper(), row[1] if len(row) > 1 else "") for row in rows]


def test_dockerfile_declares_the_image_interface() -> None:
    rows = _dockerfile()
    first = {k: v for k, v in reversed(rows)}
    assert rows[0] == ("ARG", "BASE=python:3.11-slim"), "the default base is an official slim Python, a build arg"
    froms = [v for k, v in rows if k == "FROM"]
    assert froms == ["${BASE} AS wheels", "${BASE}"], "multi-stage: wheels, then the runtime"
    runtime = rows[[i for i, (k, _) in enumerate(rows) if k == "FROM"][-1] :]
    runtime_text = " ".join(v for _, v in runtime)
    assert not re.search(r"\b(gcc|build-essential|pip wheel|apt-get install)\b", runtime_text), "no compilers at run"
    assert "COPY --from=wheels /opt/bfl-mock /opt/bfl-mock" in " ".join(f"{k} {v}" for k, v in runtime)
    last = {k: v for k, v in runtime}
    assert last["USER"].split(":")[0] not in ("root", "0") and "useradd" in runtime_text
    assert last["EXPOSE"] == "8787"
    assert last["ENTRYPOINT"] == '["bfl-mock"]' and last["CMD"] == '["serve", "--host", "0.0.0.0"]'
    assert "BFL_MOCK_CA_DIR=/var/lib/bfl-mock/ca" in last["ENV"] and "/var/lib/bfl-mock/ca" in last["VOLUME"]
    assert last["HEALTHCHECK"].endswith('CMD ["bfl-mock-healthcheck"]')
    assert first["ARG"] == "BASE=python:3.11-slim"


def test_dockerignore_keeps_the_context_to_what_the_wheel_needs() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert lines[next(i for i, line in enumerate(lines) if not line.startswith("#"))] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    wheel = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]
    needs = {p.split("/")[0] for p in wheel["force-include"]} | set(wheel["packages"])
    assert needs | {"pyproject.toml", "constraints.txt", "README.md", "docker", "build/wheelhouse"} <= allowed


@pytest.fixture
def healthcheck(monkeypatch: pytest.MonkeyPatch) -> object:
    for name in ("BFL_MOCK_PORT", "BFL_MOCK_CONFIG", "BFL_MOCK_TLS"):
        monkeypatch.delenv(name, raising=False)
    return _load(ROOT / "docker/healthcheck.py", "healthcheck")


def test_healthcheck_follows_the_configured_port_and_scheme(
    healthcheck: object, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hc = healthcheck
    seen: list[str] = []

    class Answer:
        status = 200

        def __enter__(self) -> Answer:
            return self

        def __exit__(self, *a: object) -> None:
            pass

        def read(self) -> bytes:
            return b'{"status": "ok", "tasks": 0}'

    def urlopen(url: str, timeout: float, context: object) -> Answer:
        seen.append(url)
        return Answer()

    monkeypatch.setattr(hc.urllib.request, "urlopen", urlopen)  # type: ignore[attr-defined]
    args: list[str] = []
    monkeypatch.setattr(hc, "server_args", lambda: args)
    assert hc.main() == 0 and seen[-1] == "http://127.0.0.1:8787/health"  # type: ignore[attr-defined]
    config = tmp_path / "c.yaml"
    config.write_text("port: 9100\n")
    monkeypatch.setenv("BFL_MOCK_CONFIG", str(config))
    hc.main()  # type: ignore[attr-defined]
    assert seen[-1] == "http://127.0.0.1:9100/health"
    monkeypatch.setenv("BFL_MOCK_PORT", "9200")
    hc.main()  # type: ignore[attr-defined]
    assert seen[-1] == "http://127.0.0.1:9200/health"
    args[:] = ["--host", "0.0.0.0", "--port=9300", "--tls"]
    hc.main()  # type: ignore[attr-defined]
    assert seen[-1] == "https://127.0.0.1:9300/health"
    args[:] = ["--port", "9400"]
    hc.main()  # type: ignore[attr-defined]
    assert seen[-1] == "http://127.0.0.1:9400/health"


def test_healthcheck_fails_when_nothing_answers(healthcheck: object, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # a port that is bound but never listens: connection refused
        port = s.getsockname()[1]
        monkeypatch.setattr(healthcheck, "server_args", lambda: ["--port", str(port)])
        assert healthcheck.main() == 1  # type: ignore[attr-defined]


def test_healthcheck_finds_the_server_in_proc(healthcheck: object, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; print('up', flush=True); sys.stdin.read()",
            "bfl-mock",
            "serve",
            "--port",
            "9555",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout and proc.stdout.readline() == b"up\n"  # exec'd: /proc/PID/cmdline is the child's own
        # this process's argv holds "bfl-mock" and "serve", as the container's pid 1 does
        args = healthcheck.server_args([Path(f"/proc/{proc.pid}")])  # type: ignore[attr-defined]
        assert healthcheck.option(args, "--port") == "9555"  # type: ignore[attr-defined]
    finally:
        proc.communicate(b"")


def _workflow(name: str) -> dict[object, object]:
    data = yaml.safe_load((ROOT / ".github/workflows" / name).read_text())
    assert isinstance(data, dict)
    return data


def test_ci_workflow_runs_ci_run() -> None:
    ci = _workflow("ci.yml")
    on = ci[True]  # YAML 1.1 reads the key `on` as true
    assert "push" in on and "pull_request" in on  # type: ignore[operator]
    steps = [s for job in ci["jobs"].values() for s in job["steps"]]  # type: ignore[attr-defined]
    assert any("bash .ci/run" in s.get("run", "") for s in steps)
    assert any(s.get("uses", "").startswith("actions/checkout@") for s in steps)


def test_release_workflow_builds_checks_publishes_and_pushes_the_image() -> None:
    rel = _workflow("release.yml")
    assert rel[True]["push"]["tags"] == ["v*"]  # type: ignore[index]
    jobs = rel["jobs"]
    text = (ROOT / ".github/workflows/release.yml").read_text()
    assert "python -m build" in text and "twine check --strict dist/*" in text
    publish = jobs["pypi"]  # type: ignore[index]
    assert publish["permissions"]["id-token"] == "write"
    assert any(s.get("uses", "").startswith("pypa/gh-action-pypi-publish@") for s in publish["steps"])
    assert not any("password" in (s.get("with") or {}) for s in publish["steps"]), "trusted publishing: no token"
    image = jobs["image"]  # type: ignore[index]
    assert image["permissions"]["packages"] == "write"
    assert "ghcr.io/" in text and "docker/build-push-action@" in text
    assert "scripts/changelog_excerpt.py" in text and "gh release" in text


def test_changelog_excerpt_takes_the_versions_section(tmp_path: Path) -> None:
    mod = _load(ROOT / "scripts/changelog_excerpt.py", "changelog_excerpt")
    log = tmp_path / "CHANGELOG.md"
    log.write_text("# Changelog\n\n## [Unreleased]\n- soon\n\n## [0.2.0] - 2026-12-01\n- a\n- b\n\n## 0.1.0\n- c\n")
    assert mod.excerpt(log.read_text(), "0.2.0") == "- a\n- b"  # type: ignore[attr-defined]
    assert mod.excerpt(log.read_text(), "v0.1.0") == "- c"  # type: ignore[attr-defined]
    with pytest.raises(SystemExit, match=r"no section for 9\.9\.9"):
        mod.excerpt(log.read_text(), "9.9.9")  # type: ignore[attr-defined]


def test_container_doc_examples_parse_and_use_the_image_interface() -> None:
    text = (ROOT / "docs/container.md").read_text()
    blocks = re.findall(r"<!-- tested by: tests/test_packaging\.py::(\w+) -->\n```yaml\n(.*?)```", text, re.S)
    assert [name for name, _ in blocks] == [sys._getframe().f_code.co_name] * 2
    actions, compose = (yaml.safe_load(code) for _, code in blocks)
    service = actions["jobs"]["test"]["services"]["bfl"]
    assert service["ports"] == ["8787:8787"] and "--health-cmd bfl-mock-healthcheck" in service["options"]
    assert set(service["env"]) <= {"BFL_MOCK_PROGRESSION", "BFL_MOCK_ADMIN_TOKEN", "BFL_MOCK_SEED"}
    bfl = compose["services"]["bfl"]
    assert bfl["command"][0] == "serve" and "--tls" in bfl["command"]
    assert any(v.endswith(":/var/lib/bfl-mock/ca") for v in bfl["volumes"])
    assert "api.bfl.ai" in bfl["networks"]["default"]["aliases"]
    assert compose["services"]["app"]["depends_on"]["bfl"]["condition"] == "service_healthy"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "bfl-mock-healthcheck" in dockerfile and "/var/lib/bfl-mock/ca" in dockerfile
