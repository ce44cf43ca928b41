"""Contract suite options and the target under test.

``--bfl-target inprocess`` (default): a fresh in-process fake. ``--bfl-target URL``: any server (a
``bfl-mock serve``, a stand-in, a competitor fake). ``--bfl-target live``: the real API at
``https://api.us1.bfl.ai`` (``BFL_LIVE_BASE_URL`` overrides the host, e.g. for a local stand-in) with the
key from ``BFL_API_KEY``; only free calls unless ``--bfl-budget N`` allows N paid submits.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest

from mock_server.contract import (
    LIVE_URL,
    Budget,
    Mismatch,
    Recorder,
    Target,
    drift,
    render_junit,
    render_report,
    shorten,
)
from mock_server.core.errors import ADMIN_PREFIX


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("bfl-contract", "bfl-mock contract kit")
    g.addoption("--bfl-target", default="inprocess", help="inprocess | URL | live")
    g.addoption("--bfl-budget", type=int, default=0, help="paid submits allowed against a live target")
    g.addoption("--bfl-record", action="store_true", help="record exchanges (scrubbed) into fixtures/recordings/")
    g.addoption("--bfl-report", default=None, help="write a report: FILE.md or FILE.json")
    g.addoption("--bfl-junitxml", default=None, help="write JUnit XML: one testcase per behaviour and endpoint")
    g.addoption("--bfl-drift-live", action="store_true", help="include BFL's live OpenAPI in the drift report")
    g.addoption(
        "--bfl-endpoint",
        action="append",
        default=[],
        help="only this endpoint's tests (repeat or comma-separate); endpoint-free checks still run",
    )
    g.addoption(
        "--bfl-skip-oracle",
        action="append",
        default=[],
        choices=["canny", "openapi"],
        help="do not run this oracle's checks (repeatable); otherwise an oracle that cannot run is a failure",
    )
    g.addoption(
        "--bfl-allow-skip",
        action="store_true",
        help="an oracle that cannot run (a missing package) is reported as not run instead of failing the run",
    )
    g.addoption(
        "--bfl-strict-settings",
        action="store_true",
        help="a bfl-mock target's deliberate, configured deviations (e.g. strict_finetunes=false) count as DIFFERS",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "behaviour(name, evidence): the real-API behaviour a contract test checks")
    config.addinivalue_line("markers", "paid: needs paid submits on a live target")
    config.addinivalue_line("markers", "endpoint(name): the generation endpoint a test exercises (--bfl-endpoint)")
    config.addinivalue_line("markers", "local_only: needs to reach a receiver on this machine (webhooks)")
    config.addinivalue_line(
        "markers",
        "requires_setting(**settings): on a bfl-mock target, the real behaviour needs these settings; "
        "otherwise the test reports a deliberate deviation instead of running",
    )
    config._bfl_results = []  # type: ignore[attr-defined]
    from mock_server.contract import PreflightError, check_output_file

    for option in ("--bfl-report", "--bfl-junitxml"):  # refused before any request, not after the run
        value = config.getoption(option)
        if value:
            try:
                check_output_file(value, option)
            except PreflightError as e:
                raise pytest.UsageError(str(e)) from None


def _endpoint_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    endpoint = callspec.params.get("endpoint") if callspec is not None else None
    if endpoint is not None:
        return str(endpoint.name)
    marker = item.get_closest_marker("endpoint")
    return None if marker is None or marker.args[0] is None else str(marker.args[0])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from mock_server.contract import endpoint_selection
    from mock_server.core.endpoints import ENDPOINTS

    chosen = set(endpoint_selection(config.getoption("--bfl-endpoint")))
    if not chosen:
        return
    unknown = chosen - {e.name for e in ENDPOINTS}
    if unknown:
        raise pytest.UsageError(f"--bfl-endpoint {', '.join(sorted(unknown))}: not an endpoint")
    keep, drop = [], []
    for item in items:
        name = _endpoint_of(item)
        (keep if name is None or name in chosen else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest):
    opt = request.config.getoption("--bfl-target")
    recorder = Recorder() if request.config.getoption("--bfl-record") else None
    hooks = {"response": [recorder.hook]} if recorder else {}
    mock = None
    if opt == "inprocess":
        from mock_server.frontends.transport import BflTransport
        from mock_server.mock import BflMock

        # the real service rejects unknown finetunes: the contract target runs the fake in strict mode
        mock = BflMock(
            frozen_clock=True,
            progression="polls:2",
            seed=0,
            active_task_limit=0,
            credits=1e12,
            webhook_allow=("loopback",),
            strict_finetunes=True,
        )
        client = httpx.Client(transport=BflTransport(mock), base_url=LIVE_URL, event_hooks=hooks, timeout=60)
        t = Target("inprocess", LIVE_URL, client, "contract-key", Budget(None), mock, recorder)
    elif opt == "live":
        key = os.environ.get("BFL_API_KEY")
        if not key:
            pytest.skip("--bfl-target live needs BFL_API_KEY")
        base = os.environ.get("BFL_LIVE_BASE_URL", LIVE_URL)
        client = httpx.Client(base_url=base, event_hooks=hooks, timeout=60)
        t = Target("live", base, client, key, Budget(request.config.getoption("--bfl-budget")), None, recorder)
    else:
        token = os.environ.get("BFL_MOCK_ADMIN_TOKEN")
        client = httpx.Client(
            base_url=opt, event_hooks=hooks, timeout=60, headers={"Authorization": f"Bearer {token}"} if token else {}
        )
        # a key of its own, so that a shared fake's other users are not touched and its state can be removed
        t = Target("url", opt.rstrip("/"), client, f"bfl-mock-contract-{secrets.token_hex(4)}", Budget(None), None)
        t.recorder = recorder
        t.settings = _bfl_mock_settings(client)
        if t.settings is not None:
            t.notes.append("the target is a bfl-mock server: its configured deviations are reported as such")
    if mock is not None:
        t.settings = mock.settings.to_dict()
    request.config._bfl_target = t  # type: ignore[attr-defined]
    yield t
    try:
        t.restore()
    except (httpx.HTTPError, ValueError, KeyError) as e:
        t.notes.append(f"could not restore the target's state: {type(e).__name__}: {e}")
    client.close()
    if mock is not None:
        mock.close()
    if recorder is not None:
        path = recorder.write(Path(os.environ.get("BFL_RECORD_DIR") or Path.cwd() / "fixtures" / "recordings"), t.name)
        if path:
            t.notes.append(f"recorded {len(recorder.interactions)} exchange(s) to {path}")


def _bfl_mock_settings(client: httpx.Client) -> dict[str, Any] | None:
    """Ask a URL target whether it is a bfl-mock and how it is set (admin token from BFL_MOCK_ADMIN_TOKEN)."""
    try:
        r = client.get(f"{ADMIN_PREFIX}/config")
        data = r.json() if r.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    return data if isinstance(data, dict) and "strict_finetunes" in data else None


@pytest.fixture(autouse=True)
def _configured_deviation(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("requires_setting")
    if marker is None or request.config.getoption("--bfl-strict-settings"):
        return
    t = request.getfixturevalue("target")
    if t.settings is None:
        return
    off = {k: t.settings.get(k) for k, v in marker.kwargs.items() if t.settings.get(k) != v}
    if off:
        setting = ", ".join(f"{k}={json.dumps(v)}" for k, v in off.items())
        request.node._bfl_deviation = setting  # type: ignore[attr-defined]
        pytest.skip(f"deviates by setting `{setting}` (a configured choice of this bfl-mock, not drift)")


def _first_mismatch(exc: BaseException | None) -> Mismatch | None:
    if isinstance(exc, Mismatch):
        return exc
    for inner in getattr(exc, "exceptions", ()) or ():  # hypothesis: several distinct failures
        found = _first_mismatch(inner)
        if found is not None:
            return found
    return None


def _crash_lines(rep: Any) -> list[str]:
    """A failure that is not a Mismatch: its message, a few lines, no traceback."""
    crash = getattr(getattr(rep.longrepr, "reprcrash", None), "message", None)
    text = crash or (str(rep.longrepr).strip().splitlines()[-1] if rep.longrepr else "failed")
    return [shorten(line, 400) for line in text.strip().splitlines()[:6] if line.strip()]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any):
    outcome = yield
    rep = outcome.get_result()
    marker = item.get_closest_marker("behaviour")
    if marker is None or (rep.when != "call" and not (rep.when == "setup" and (rep.skipped or rep.failed))):
        return
    lines: list[str] = []
    detail = ""
    if rep.passed:
        kind = "agrees"
    elif rep.failed:
        mismatch = _first_mismatch(call.excinfo.value if call.excinfo else None)
        if mismatch is not None:
            kind, detail, lines = "DIFFERS", mismatch.summary(), mismatch.lines()
        elif rep.when == "call" and call.excinfo is not None and call.excinfo.errisinstance(AssertionError):
            lines = _crash_lines(rep)
            kind, detail = "DIFFERS", lines[0] if lines else "assertion failed"
        else:  # the check could not run (an oracle that cannot start, an error): a failure too
            lines = _crash_lines(rep)
            kind, detail = "FAILED", lines[0] if lines else "error"
    else:
        detail = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else ""
        detail = detail.removeprefix("Skipped: ")
        kind = "deviates" if getattr(item, "_bfl_deviation", None) else "not run"
    item.config._bfl_results.append(  # type: ignore[attr-defined]
        {
            "behaviour": marker.args[0],
            "evidence": marker.kwargs.get("evidence", "?"),
            "test": item.nodeid,
            "endpoint": _endpoint_of(item) or "(any)",
            "outcome": kind,
            "detail": detail,
            "lines": lines,
        }
    )


RANK = {"FAILED": 4, "DIFFERS": 3, "deviates": 2, "agrees": 1, "not run": 0}


def by_behaviour(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per behaviour: the worst outcome wins (FAILED > DIFFERS > deviates > agrees > not run); a row
    names the endpoints where it happened."""
    rows: dict[str, dict[str, Any]] = {}
    for r in results:
        prev = rows.get(r["behaviour"])
        if prev is None or RANK[r["outcome"]] > RANK[prev["outcome"]]:
            rows[r["behaviour"]] = {**r, "endpoints": [], "count": 0}
    for r in results:
        row = rows[r["behaviour"]]
        if r["outcome"] == row["outcome"]:
            row["count"] += 1
            if r["endpoint"] not in row["endpoints"]:
                row["endpoints"].append(r["endpoint"])
    return list(rows.values())


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    results = getattr(config, "_bfl_results", [])
    t = getattr(config, "_bfl_target", None)
    if not results or t is None:
        return
    tr = terminalreporter
    tr.section(f"bfl-mock contract: {t.name} {t.base_url}")
    rows = by_behaviour(results)
    for r in rows:
        tr.write_line(summary_line(r))
        if r["outcome"] in ("DIFFERS", "FAILED"):
            for line in r["lines"]:
                tr.write_line(f"      {line}")
    counts = {k: sum(1 for r in rows if r["outcome"] == k) for k in RANK}
    tr.write_line(
        "  "
        + ", ".join(f"{n} {k}" for k, n in counts.items() if n)
        + f" ({len(rows)} behaviours, {len(results)} checks)"
    )
    tr.write_line(f"  paid calls: {t.budget.describe()}")
    for note in t.notes:
        tr.write_line(f"  {note}")
    report = config.getoption("--bfl-report")
    if report:
        findings = drift(live_openapi=_live_openapi() if config.getoption("--bfl-drift-live") else None)
        Path(report).write_text(
            render_report(
                rows,
                target=f"{t.name} {t.base_url}",
                budget=t.budget.describe(),
                drift_findings=findings,
                fmt="json" if report.endswith(".json") else "md",
            )
        )
        tr.write_line(f"  report written to {report}")
    junit = config.getoption("--bfl-junitxml")
    if junit:
        Path(junit).write_text(render_junit(results, target=f"{t.name} {t.base_url}"))
        tr.write_line(f"  JUnit XML written to {junit}")


def summary_line(r: dict[str, Any]) -> str:
    where = ""
    if r["outcome"] in ("DIFFERS", "FAILED") and r["endpoints"] != ["(any)"]:
        shown = r["endpoints"][:3]
        more = len(r["endpoints"]) - len(shown)
        where = f" on {', '.join(shown)}" + (f" and {more} more" if more else "")
    line = f"  {r['outcome']:<8} {r['behaviour']} [{r['evidence']}]{where}"
    if r["outcome"] in ("deviates", "not run") and r["detail"]:
        line += f": {shorten(r['detail'], 160)}"
    return line


def _live_openapi() -> dict[str, Any]:
    from mock_server.contract import fetch_live_openapi

    return fetch_live_openapi()


ORACLES = {  # name (for --bfl-skip-oracle) -> what it is and the modules it needs
    "canny": ("FastAPI + a hand-written pydantic model of the canny endpoint", ("fastapi",)),
    "openapi": (
        "FastAPI + models datamodel-code-generator makes from BFL's OpenAPI (every endpoint)",
        ("fastapi", "datamodel_code_generator"),
    ),
    "2026-12": ("FastAPI + hand-written pydantic models of BFL's endpoints added since April 2026", ("fastapi",)),
}


def oracle_missing(config: pytest.Config, name: str) -> None:
    """If oracle ``name`` cannot run: a skip when the user opted out (``--bfl-skip-oracle NAME`` or
    ``--bfl-allow-skip``), else a failure naming the missing module and how to fix it."""
    _, modules = ORACLES[name]
    if name in config.getoption("--bfl-skip-oracle"):
        pytest.skip(f"oracle {name!r} skipped by request (--skip-oracle {name})")
    import importlib

    missing = []
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module)
    if not missing:
        return
    opted_out = name in config.getoption("--bfl-skip-oracle") or config.getoption("--bfl-allow-skip")
    message = (
        f"oracle {name!r} cannot run: could not import {', '.join(repr(m) for m in missing)} "
        f"(pip install 'bfl-mock[contract]', or opt out: --skip-oracle {name})"
    )
    if opted_out:
        pytest.skip(f"skipped by request: {message}")
    pytest.fail(message, pytrace=False)


@pytest.fixture(scope="session")
def oracle(request: pytest.FixtureRequest):
    """FastAPI + the hand-written pydantic model: what the real service's stack answers."""
    oracle_missing(request.config, "canny")
    from .asgi_client import AsgiClient
    from .oracle import oracle_app

    client = AsgiClient(oracle_app(), "canny")
    yield client
    client.close()
