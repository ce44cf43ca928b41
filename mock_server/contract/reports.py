"""The run written down: a Markdown or JSON report (every difference in full, then the drift) and JUnit XML."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any


def render_report(
    results: list[dict[str, Any]], *, target: str, budget: str, drift_findings: list[dict[str, Any]], fmt: str
) -> str:
    """The run as Markdown (a table, then every difference in full) or JSON; nothing is cut."""
    if fmt == "json":
        return json.dumps({"target": target, "budget": budget, "results": results, "drift": drift_findings}, indent=2)

    def cell(text: str) -> str:
        return " ".join(str(text).split()).replace("|", "\\|")

    lines = [
        f"# bfl-mock contract report: {target}",
        "",
        f"Paid calls: {budget}.",
        "",
        "| behaviour | evidence | outcome | endpoints | detail |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        endpoints = ", ".join(r.get("endpoints") or [r.get("endpoint") or "(any)"])
        lines.append(
            f"| {cell(r['behaviour'])} | {cell(r['evidence'])} | {r['outcome']} | {cell(endpoints)} | "
            f"{cell(r.get('detail') or '')} |"
        )
    failures = [r for r in results if r["outcome"] in ("DIFFERS", "FAILED") and r.get("lines")]
    if failures:
        lines += ["", "## Differences", ""]
        for r in failures:
            lines += [
                f"### {r['outcome']}: {r['behaviour']}",
                "",
                f"Test: `{r['test']}`",
                "",
                "```",
                *r["lines"],
                "```",
                "",
            ]
    lines += ["", f"## Schema drift ({len(drift_findings)} finding(s))", ""]
    if drift_findings:
        lines += ["| source | schema | field | kind | ours | theirs |", "|---|---|---|---|---|---|"]
        for f in drift_findings:
            lines.append(
                f"| {cell(f['source'])} | {cell(f['schema'])} | {cell(f['field'])} | {cell(f['kind'])} | "
                f"{cell(json.dumps(f['ours']))} | {cell(json.dumps(f['theirs']))} |"
            )
    return "\n".join(lines) + "\n"


def render_junit(results: list[dict[str, Any]], *, target: str) -> str:
    """JUnit XML (the schema Jenkins, GitLab, GitHub test reporters read): one testsuite, one testcase per
    behaviour and endpoint (classname: the endpoint, name: the behaviour); DIFFERS and FAILED are failures,
    deviations and checks not run are skipped with their reason."""
    import xml.etree.ElementTree as ET

    cases: dict[tuple[str, str], dict[str, Any]] = {}
    rank = {"FAILED": 4, "DIFFERS": 3, "deviates": 2, "agrees": 1, "not run": 0}
    for r in results:
        key = (r.get("endpoint") or "(any)", r["behaviour"])
        prev = cases.get(key)
        if prev is None or rank[r["outcome"]] > rank[prev["outcome"]]:
            cases[key] = r
    failures = sum(1 for r in cases.values() if r["outcome"] == "DIFFERS")
    errors = sum(1 for r in cases.values() if r["outcome"] == "FAILED")
    skipped = sum(1 for r in cases.values() if r["outcome"] in ("deviates", "not run"))
    suites = ET.Element("testsuites")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=f"bfl-mock contract: {target}",
        tests=str(len(cases)),
        failures=str(failures),
        errors=str(errors),
        skipped=str(skipped),
        timestamp=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
    )
    for (endpoint, behaviour), r in cases.items():
        case = ET.SubElement(suite, "testcase", classname=f"bfl-mock.contract.{endpoint}", name=behaviour)
        body = "\n".join([f"test: {r['test']}", f"evidence: {r['evidence']}", *r.get("lines", [])])
        if r["outcome"] == "DIFFERS":
            ET.SubElement(case, "failure", message=r["detail"], type="DIFFERS").text = body
        elif r["outcome"] == "FAILED":
            ET.SubElement(case, "error", message=r["detail"], type="FAILED").text = body
        elif r["outcome"] in ("deviates", "not run"):
            ET.SubElement(case, "skipped", message=r["detail"] or r["outcome"])
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
