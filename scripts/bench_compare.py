"""Compare ``make bench`` outputs of two builds run in one session: a markdown table of medians per side.

    python scripts/bench_compare.py before-1.txt before-2.txt -- after-1.txt after-2.txt

Each file is what ``scripts/bench.py`` printed (optionally followed by an ``uptime`` line, reported as the
machine's load). HTTP rows compare the fake / ceiling ratio (the ceiling is measured in the same run, so the
ratio cancels most of a busy machine's noise) and the fake's req/s; in-process rows compare µs per call.
"""

from __future__ import annotations

import re
import statistics
import sys
from pathlib import Path

HTTP = re.compile(r"^  (.+?)\s+ceiling\s+(\d+) rps\s+fake\s+(\d+) rps\s+ratio ([\d.]+)")
US = re.compile(r"^  (.+?)\s{2,}(\d+)(?: / (\d+))? µs")
CYCLE = re.compile(
    r"^  (?:full cycle submit\+poll\+download|submit -> poll -> download)\s+(\d+) µs sync, (\d+) µs async"
)
MODE = re.compile(r"^  (lazy_render=\w+)\s+submit\+poll\s+(\d+) µs\s+submit\+poll\+download\s+(\d+) µs")
RSS = re.compile(r"peak RSS (\d+) MB .*?, (\d+) s;")
LOAD = re.compile(r"load average: ([\d.]+), ([\d.]+), ([\d.]+)")


def parse(path: Path) -> tuple[dict[str, float], str]:
    figures: dict[str, float] = {}
    load = ""
    for line in path.read_text(errors="replace").splitlines():
        if m := HTTP.match(line):
            name = re.sub(r" \(\d+ KB\)", "", m.group(1).strip())  # the result's size varies a little
            figures[f"{name} | ratio"] = float(m.group(4))
            figures[f"{name} | fake req/s"] = float(m.group(3))
        elif m := CYCLE.match(line):
            figures["in-process submit -> poll -> download, sync | µs"] = float(m.group(1))
            figures["in-process submit -> poll -> download, async | µs"] = float(m.group(2))
        elif m := MODE.match(line):
            figures[f"in-process {m.group(1)}: submit -> poll | µs"] = float(m.group(2))
            figures[f"in-process {m.group(1)}: submit -> poll -> download | µs"] = float(m.group(3))
        elif line.startswith("  static respx response") and (m := US.match(line)):
            figures["in-process static respx answer | µs"] = float(m.group(2))
        elif line.startswith("  poll through bfl_mock") and (m := US.match(line)):
            figures["in-process poll, sync | µs"] = float(m.group(2))
            if m.group(3):
                figures["in-process poll, async | µs"] = float(m.group(3))
        elif m := RSS.search(line):
            figures["10,000 tasks with 1 MP inputs | peak RSS MB"] = float(m.group(1))
        elif m := LOAD.search(line):
            load = m.group(1)
    return figures, load


def main(argv: list[str]) -> int:
    if "--" not in argv:
        print(__doc__, file=sys.stderr)
        return 2
    cut = argv.index("--")
    sides = [[parse(Path(p)) for p in argv[:cut]], [parse(Path(p)) for p in argv[cut + 1 :]]]
    names: list[str] = []
    for runs in sides:
        for figures, _ in runs:
            names += [n for n in figures if n not in names]
    loads = [", ".join(load for _, load in runs if load) or "?" for runs in sides]
    print(f"| case | figure | before ({len(sides[0])} runs) | after ({len(sides[1])} runs) | after / before |")
    print("|---|---|---|---|---|")
    for name in names:
        meds = []
        for runs in sides:
            values = [f[name] for f, _ in runs if name in f]
            meds.append(statistics.median(values) if values else None)
        case, figure = name.split(" | ")
        cells = [("" if v is None else f"{v:,.2f}" if v < 10 else f"{v:,.0f}") for v in meds]
        change = f"{meds[1] / meds[0]:.2f}" if meds[0] and meds[1] is not None else ""
        print(f"| {case} | {figure} | {cells[0]} | {cells[1]} | {change} |")
    print(f"\nLoad average (1 min) at the end of each run: before {loads[0]}; after {loads[1]}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
