"""``make fuzz``: Schemathesis against the fake's own /openapi.json (all operations, admin included) and
hypothesis on raw bytes, headers and query strings. Zero 5xx, nothing unhandled in the server log,
memory flat. ``--quick`` is the CI smoke version."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from bench import start_fake, stop  # noqa: E402


def rss_mb(pid: int) -> float:
    return int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1)) / 1024


def schemathesis(url: str, examples: int, phases: str, seed: int) -> subprocess.CompletedProcess:
    """One Schemathesis pass over every operation (the blocking /_mock/webhooks/wait is left out)."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "schemathesis"), "run", f"{url}/openapi.json",
         "--checks", "not_a_server_error", "--max-examples", str(examples), "--request-timeout", "40",
         "--exclude-path", "/_mock/webhooks/wait", "--phases", phases, "--seed", str(seed),
         "--generation-with-security-parameters", "true", "--suppress-health-check", "all"],
        capture_output=True, text=True, timeout=3600, cwd=ROOT)  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    examples = 5 if args.quick else 200
    raw_examples = 300 if args.quick else 20000
    fake, url = start_fake("--progression", "polls:2", "--webhook-allow", "loopback", "--set", "ratelimit_limit=0")
    results: dict = {}
    try:
        before = rss_mb(fake.pid)
        t = time.time()
        st = schemathesis(url, examples, "examples,coverage,fuzzing", seed=1)
        results["schemathesis"] = {
            "exit": st.returncode,
            "seconds": round(time.time() - t),
            "summary": st.stdout.strip().splitlines()[-12:],
        }
        schemathesis(url, examples, "fuzzing", seed=2)  # more passes show whether memory keeps growing
        mid = rss_mb(fake.pid)
        schemathesis(url, examples, "fuzzing", seed=3)
        after = rss_mb(fake.pid)
        results["server_rss_mb"] = {"before": round(before), "after_pass_1_2": round(mid), "after_pass_3": round(after)}
    finally:
        stop(fake)
        log = Path(fake.log_path).read_text(errors="replace")  # type: ignore[attr-defined]
    problems = [line for line in log.splitlines() if "Traceback" in line or "internal error" in line]
    results["server_log_problems"] = problems[:10]
    raw = subprocess.run(
        [
            sys.executable,
            "scripts/pytest_strict.py",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",
            "tests/test_fuzz.py",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=7200,
        env={**os.environ, "BFL_FUZZ_EXAMPLES": str(raw_examples)},
    )
    results["raw_hypothesis"] = {
        "examples": raw_examples,
        "exit": raw.returncode,
        "summary": raw.stdout.strip().splitlines()[-1:],
    }
    print(json.dumps(results, indent=2))
    out = ROOT / "reports" / ("fuzz-quick.json" if args.quick else "fuzz.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    ok = results["schemathesis"]["exit"] == 0 and raw.returncode == 0 and not problems
    print("fuzz: " + ("no 5xx, nothing unhandled" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
