"""The shadow's report: counts per behaviour and the divergences, bounded, as JSON, Markdown or JUnit XML.

One difference seen many times is one entry with a count (its first exchange kept as it was), so a planted
difference is named once however much traffic shows it; at most ``max_entries`` entries are kept.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from pathlib import Path
from typing import Any

from mock_server.shadow.rules import BEHAVIOURS, Divergence


class Report:
    def __init__(self, *, upstream: str = "", max_entries: int = 500) -> None:
        self.upstream = upstream
        self.max_entries = max_entries
        self.started = time.time()
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.exchanges = 0
            self.compared = 0
            self.skipped = 0  # not compared: the comparison queue was full
            self.upstream_errors = 0
            self.unpredicted = 0
            self.entries: dict[tuple[str, str, str], Divergence] = {}
            self.overflow = 0  # divergences not kept (max_entries reached)
            self.per_behaviour: dict[str, int] = dict.fromkeys(BEHAVIOURS, 0)

    def count(self, name: str) -> None:
        """One more of a counter (``exchanges``, ``skipped``, ``upstream_errors``): two listeners count here."""
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    def add(self, divergences: list[Divergence]) -> None:
        with self._lock:
            self.compared += 1
            for d in divergences:
                self.per_behaviour[d.behaviour] += 1
                entry = self.entries.get(d.key)
                if entry is not None:
                    entry.count += 1
                elif len(self.entries) < self.max_entries:
                    self.entries[d.key] = d
                else:
                    self.overflow += 1

    @property
    def divergences(self) -> list[Divergence]:
        with self._lock:
            return list(self.entries.values())

    def drifted(self) -> list[Divergence]:
        """The divergences that are not explained by a setting (what ``--fail-on-divergence`` counts)."""
        return [d for d in self.divergences if d.deviates_by_setting is None]

    def as_dict(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        with self._lock:
            entries = [d.as_dict() for d in self.entries.values()]
            counts = dict(self.per_behaviour)
            summary = {
                "upstream": self.upstream,
                "started": dt.datetime.fromtimestamp(self.started, dt.timezone.utc).isoformat(),
                "exchanges": self.exchanges,
                "compared": self.compared,
                "not_compared": self.skipped,
                "unpredicted": self.unpredicted,
                "upstream_errors": self.upstream_errors,
                "divergences": sum(1 for e in entries if e["deviates_by_setting"] is None),
                "deviations_by_setting": sum(1 for e in entries if e["deviates_by_setting"] is not None),
                "entries_not_kept": self.overflow,
            }
        return {
            "summary": summary,
            "behaviours": [
                {"name": b.name, "what": b.what, "evidence": b.evidence, "divergent_exchanges": counts[b.name]}
                for b in BEHAVIOURS.values()
            ],
            "divergences": entries,
            **(extra or {}),
        }

    # ------------------------------------------------------------------ files
    def markdown(self) -> str:
        data = self.as_dict()
        s = data["summary"]
        lines = [
            f"# bfl-mock shadow report: {s['upstream']}",
            "",
            f"{s['exchanges']} exchanges, {s['compared']} compared, {s['divergences']} divergence(s), "
            f"{s['deviations_by_setting']} deviation(s) by setting; not compared: {s['not_compared']} "
            f"(queue full), {s['unpredicted']} (tasks the shadow did not see submitted), upstream errors "
            f"{s['upstream_errors']}.",
            "",
            "| behaviour | evidence | divergent exchanges |",
            "|---|---|---|",
            *(f"| {b['name']} | {b['evidence']} | {b['divergent_exchanges']} |" for b in data["behaviours"]),
            "",
        ]
        for d in data["divergences"]:
            kind = f"deviates by setting {d['deviates_by_setting']}" if d["deviates_by_setting"] else "DIVERGES"
            lines += [
                f"## {d['behaviour']}: {d['endpoint']} ({kind}, seen {d['count']}x, evidence {d['evidence']})",
                "",
                d["detail"],
                "",
                f"- request: `{d['request']['method']} {d['request']['url']}`" if d["request"] else "- request: -",
                f"- upstream: `{_clip(d['real'])}`",
                f"- predicted: `{_clip(d['predicted'])}`",
                "",
            ]
        return "\n".join(lines)

    def junit(self) -> str:
        import xml.etree.ElementTree as ET

        data = self.as_dict()
        by: dict[str, list[dict[str, Any]]] = {b: [] for b in BEHAVIOURS}
        for d in data["divergences"]:
            by[d["behaviour"]].append(d)
        failures = sum(1 for ds in by.values() if any(not d["deviates_by_setting"] for d in ds))
        suites = ET.Element("testsuites")
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=f"bfl-mock shadow: {self.upstream}",
            tests=str(len(by)),
            failures=str(failures),
            errors="0",
            skipped="0",
            timestamp=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
        )
        for name, ds in by.items():
            case = ET.SubElement(suite, "testcase", classname="bfl-mock.shadow", name=name)
            drift = [d for d in ds if not d["deviates_by_setting"]]
            if drift:
                text = "\n".join(f"{d['endpoint']}: {d['detail']} (seen {d['count']}x)" for d in drift)
                ET.SubElement(case, "failure", message=drift[0]["detail"][:200], type="DIVERGES").text = text
            for d in ds:
                if d["deviates_by_setting"]:
                    ET.SubElement(
                        case, "system-out"
                    ).text = f"{d['endpoint']}: {d['detail']} (deviates by setting {d['deviates_by_setting']})"
        ET.indent(suites)
        return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"

    def write_junit(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.junit())
        return path

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".json":
            text = json.dumps(self.as_dict(), indent=2, default=str)
        elif path.suffix == ".xml":
            text = self.junit()
        else:
            text = self.markdown()
        path.write_text(text)
        return path


def _clip(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= limit else text[:limit] + "..."
