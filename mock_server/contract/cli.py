"""``bfl-mock contract``: its flags, the pre-flight checks (everything that would fail or waste paid calls,
said in one line before any request), and the pytest run of ``contract_tests/``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from mock_server.contract.drift import _endpoints, drift, fetch_live_openapi
from mock_server.contract.reports import render_report
from mock_server.contract.targets import LIVE_URL


def contract_tests_dir() -> Path:
    here = Path(__file__).resolve().parent.parent  # mock_server/: its own copy (a wheel), else the checkout's
    for c in (here / "contract_tests", here.parent / "contract_tests"):
        if (c / "conftest.py").is_file():
            return c
    raise FileNotFoundError("contract_tests/ not found (install bfl-mock[contract])")


ORACLE_NAMES = ("canny", "openapi")  # contract_tests/conftest.py ORACLES


def add_contract_parser(sub: Any) -> None:
    p = sub.add_parser(
        "contract",
        help="run the contract suite against the fake, a URL, or the real API",
        description=(
            "Check a target (the in-process fake, a served bfl-mock or any server at a URL, or the real API) "
            "against BFL's documented behaviour and two oracles (FastAPI + pydantic models). Exit 0: every "
            "behaviour agrees or deviates by a setting; 1: a difference, or a check that could not run; 2: "
            "bad usage."
        ),
        epilog=(
            "examples:\n"
            "  bfl-mock contract --junitxml reports/contract.xml --report reports/contract.md\n"
            "  bfl-mock contract --target http://127.0.0.1:8787 --endpoint flux-2-pro\n"
            "  bfl-mock contract --drift --fail-on-drift\n"
            "  bfl-mock contract --target live --budget 3   (key from BFL_API_KEY)"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--target", default="inprocess", help="inprocess (default) | URL | live (key from BFL_API_KEY)")
    p.add_argument(
        "--budget", type=int, default=0, help="paid submits allowed against live (default 0: free calls only)"
    )
    p.add_argument("--record", action="store_true", help="store exchanges, scrubbed, in fixtures/recordings/")
    p.add_argument("--report", default=None, metavar="FILE", help="write a report: FILE.md or FILE.json")
    p.add_argument(
        "--junitxml", default=None, metavar="PATH", help="write JUnit XML (one testcase per behaviour and endpoint)"
    )
    p.add_argument("--drift", action="store_true", help="only compare schemas/ with the published references")
    p.add_argument("--drift-live", action="store_true", help="also fetch https://api.bfl.ai/openapi.json")
    p.add_argument("--fail-on-drift", action="store_true", help="with --drift: exit 1 when there is any finding")
    p.add_argument("-k", dest="keyword", default=None, help="pytest -k expression")
    p.add_argument(
        "--endpoint",
        action="append",
        default=[],
        metavar="NAME",
        help="only this endpoint's tests, e.g. flux-2-pro (repeat or comma-separate; endpoint-free checks still run)",
    )
    p.add_argument(
        "--skip-oracle",
        action="append",
        default=[],
        metavar="NAME",
        help=f"do not run this oracle ({', '.join(ORACLE_NAMES)}; repeatable): its checks are reported not run",
    )
    p.add_argument(
        "--allow-skip",
        action="store_true",
        help="an oracle that cannot run (a package missing) is reported not run instead of failing the run",
    )
    p.add_argument(
        "--strict-settings",
        action="store_true",
        help="count a bfl-mock target's configured deviations (e.g. strict_finetunes=false) as DIFFERS (exit 1)",
    )
    p.set_defaults(func=cmd_contract)


class PreflightError(Exception):
    """The run cannot work: said in one line, before any request (and so before any paid call)."""


def _writable(path: Path, what: str) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PreflightError(f"{what} {path} cannot be created: {e.strerror or e}") from None
    if not os.access(path, os.W_OK):
        raise PreflightError(f"{what} {path} is not writable")


def check_output_file(value: str, option: str) -> None:
    """``value`` can be written as a file: not a folder, its folder exists or can be created, and a file can be
    created there (tried, then removed if it was not there before). Raises PreflightError in one line."""
    path = Path(value)
    if path.is_dir():
        raise PreflightError(f"{option} {value}: is a folder, not a file")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():  # missing folders are created, as pytest does for --junitxml
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise PreflightError(f"{option} {value}: its folder cannot be created ({e.strerror or e})") from None
    existed = path.exists()
    try:
        with open(path, "a"):
            pass
    except OSError as e:
        raise PreflightError(f"{option} {value}: cannot be written ({e.strerror or e})") from None
    if not existed:
        path.unlink()


def preflight(args: argparse.Namespace) -> None:
    """Everything that would make the run fail or waste paid calls, checked first."""
    if args.report:
        if not args.report.endswith((".md", ".json")):
            raise PreflightError(f"--report takes FILE.md or FILE.json, not {args.report!r}")
        check_output_file(args.report, "--report")
    if getattr(args, "junitxml", None):
        check_output_file(args.junitxml, "--junitxml")
    unknown_oracles = sorted(set(getattr(args, "skip_oracle", [])) - set(ORACLE_NAMES))
    if unknown_oracles:
        raise PreflightError(
            f"--skip-oracle {', '.join(unknown_oracles)}: not an oracle (known: {', '.join(ORACLE_NAMES)})"
        )
    if args.drift:
        return
    target = args.target
    if target not in ("inprocess", "live"):
        from urllib.parse import urlsplit

        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise PreflightError(f"--target must be inprocess, live or an http(s):// URL, not {target!r}")
    if target == "live" and not os.environ.get("BFL_API_KEY"):
        raise PreflightError("--target live needs your API key in BFL_API_KEY (free calls only unless --budget N)")
    if args.budget < 0:
        raise PreflightError("--budget is a number of paid submits (0 or more)")
    unknown = set(endpoint_selection(args.endpoint)) - {e.name for e in _endpoints()}
    if unknown:
        known = ", ".join(e.name for e in _endpoints())
        raise PreflightError(f"--endpoint {', '.join(sorted(unknown))}: not an endpoint (known: {known})")
    if args.record:
        _writable(Path(os.environ.get("BFL_RECORD_DIR") or Path.cwd() / "fixtures" / "recordings"), "--record folder")
    if target == "inprocess":
        return
    import httpx

    base = os.environ.get("BFL_LIVE_BASE_URL", LIVE_URL) if target == "live" else target
    try:  # a free call: polling an unknown id costs nothing on the real API
        httpx.get(f"{base.rstrip('/')}/v1/get_result", params={"id": "bfl-mock-preflight"}, timeout=10)
    except httpx.HTTPError as e:
        raise PreflightError(f"cannot reach {base}: {type(e).__name__}: {e}") from None


def endpoint_selection(values: list[str] | None) -> list[str]:
    """``--endpoint`` values (repeated and/or comma-separated) as a list of names."""
    return [name.strip() for value in values or [] for name in value.split(",") if name.strip()]


def cmd_contract(args: argparse.Namespace) -> int:
    try:
        import hypothesis  # noqa: F401
        import pytest
    except ImportError as e:
        print(
            f"bfl-mock contract needs the contract extra ({e.name} is missing): pip install 'bfl-mock[contract]'",
            file=sys.stderr,
        )
        return 2
    try:
        preflight(args)
    except PreflightError as e:
        print(f"bfl-mock contract: {e}", file=sys.stderr)
        return 2
    if args.drift:
        findings = drift(live_openapi=fetch_live_openapi() if args.drift_live else None)
        for f in findings:
            print(
                f"{f['source']}: {f['schema']}.{f['field']}: {f['kind']} (ours {json.dumps(f['ours'])}, "
                f"theirs {json.dumps(f['theirs'])})"
            )
        print(f"{len(findings)} drift finding(s)")
        if args.report:
            Path(args.report).write_text(
                render_report(
                    [],
                    target="drift only",
                    budget="none",
                    drift_findings=findings,
                    fmt="json" if args.report.endswith(".json") else "md",
                )
            )
        return 1 if findings and args.fail_on_drift else 0
    if args.fail_on_drift:
        print("bfl-mock contract: --fail-on-drift goes with --drift", file=sys.stderr)
        return 2

    argv = [
        str(contract_tests_dir()),
        "-p",
        "no:cacheprovider",
        "-q",
        "--tb=no",  # the kit's own summary says what differs, in a few lines per behaviour
        "-rN",
        f"--bfl-target={args.target}",
        f"--bfl-budget={args.budget}",
        "-o",
        "addopts=",
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",  # httpx (and so anyio's plugin) is imported already
    ]
    if args.record:
        argv.append("--bfl-record")
    if args.report:
        argv.append(f"--bfl-report={args.report}")
    if args.junitxml:
        argv.append(f"--bfl-junitxml={args.junitxml}")
    if args.drift_live:
        argv.append("--bfl-drift-live")
    if args.strict_settings:
        argv.append("--bfl-strict-settings")
    if args.allow_skip:
        argv.append("--bfl-allow-skip")
    for name in args.skip_oracle:
        argv.append(f"--bfl-skip-oracle={name}")
    if args.keyword:
        argv += ["-k", args.keyword]
    for name in endpoint_selection(args.endpoint):
        argv.append(f"--bfl-endpoint={name}")
    os.environ.setdefault("BFL_CONTRACT_EXAMPLES", "200")
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bfl-contract-") as scratch:
        # Hypothesis keeps examples and caches in ./.hypothesis: the kit leaves nothing in the user's folder,
        # and a run never depends on what an earlier run found (every bound's edges are sent on every run).
        os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", scratch)
        code = pytest.main(argv)
    if code == pytest.ExitCode.NO_TESTS_COLLECTED:
        print("bfl-mock contract: no tests ran", file=sys.stderr)
        return 1
    return int(code)
