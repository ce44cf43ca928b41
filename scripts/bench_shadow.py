"""``make bench-shadow``: what ``bfl-mock shadow`` adds to a call, on loopback.

A served fake is the upstream (``bfl-mock serve``); the same client (httpx, keep-alive) calls it directly and
through ``bfl-mock shadow`` in alternating batches, the same requests (a submit answer's poll, the call an
app makes most). The shadow's comparison runs off the app's path, so the figure is forwarding alone:
the target is under 2 ms p50 (exit 1 above it). ``--requests N`` (default 2000 per side).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 2.0


def start(*args: str) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_server", *args], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    assert proc.stdout is not None
    for _ in range(20):
        line = proc.stdout.readline()
        m = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        if m:
            return proc, m[1]
    proc.kill()
    raise SystemExit(f"bfl-mock {args[0]} did not start")


def timed(client: httpx.Client, url: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        r = client.get(url)
        out.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, r.text
    return out


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args()
    upstream, up_url = start("serve", "--port", "0", "--progression", "polls:1", "--set", "ratelimit_limit=1000000")
    shadow, sh_url = start(
        "shadow",
        "--port",
        "0",
        "--upstream",
        up_url,
        "--allow-upstream-host",
        "loopback",
        "--set",
        "ratelimit_limit=1000000",
    )
    try:
        with httpx.Client(headers={"x-key": "bench"}, trust_env=False) as c:
            task = c.post(f"{sh_url}/v1/flux-pro-1.1", json={"prompt": "a red cube", "width": 256, "height": 256})
            task_id = task.json()["id"]
            path = f"/v1/get_result?id={task_id}"
            timed(c, up_url + path, 200)  # warm both paths (connections, caches)
            timed(c, sh_url + path, 200)
            direct: list[float] = []
            shadowed: list[float] = []
            batch = 100
            for _ in range(max(1, args.requests // batch)):
                direct += timed(c, up_url + path, batch)
                shadowed += timed(c, sh_url + path, batch)
            report = c.get(f"{sh_url}/_mock/shadow").json()["summary"]
    finally:
        for proc in (shadow, upstream):
            proc.terminate()
            proc.wait(10)
    figures = {
        "requests_per_side": len(direct),
        "direct_p50_ms": round(statistics.median(direct), 3),
        "shadow_p50_ms": round(statistics.median(shadowed), 3),
        "added_p50_ms": round(statistics.median(shadowed) - statistics.median(direct), 3),
        "direct_p90_ms": round(pct(direct, 90), 3),
        "shadow_p90_ms": round(pct(shadowed, 90), 3),
        "compared": report["compared"],
        "divergences": report["divergences"],
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    ok = figures["added_p50_ms"] < TARGET_MS
    print(f"shadow adds {figures['added_p50_ms']} ms p50 ({'under' if ok else 'OVER'} the {TARGET_MS} ms target)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
