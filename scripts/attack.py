"""``make attack``: the hostile-input findings of issue 11, measured against ``bfl-mock serve --host 0.0.0.0``
with default settings, attacked through the public API from loopback only (every request goes to
127.0.0.1). Each phase prints the server's RSS before and after; nothing here is a pass/fail on timing,
but a 5xx, an internal error in the server log or a phase over its memory bound fails the run.

``--quick`` is a short version (CI smoke). Results go to reports/attack.json.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from bench import start_fake, stop  # noqa: E402
from fuzz import rss_mb  # noqa: E402

SUBMIT = "/v1/flux-pro-1.0-canny-finetuned"


def png(size: tuple[int, int], color: int = 128) -> str:
    buf = io.BytesIO()
    Image.new("L", size, color).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


CONTROL = png((64, 64), 40)


def body(**kw: object) -> dict:
    return {"finetune_id": "my-finetune", "prompt": "a red cube", "control_image": CONTROL, **kw}


class Run:
    def __init__(self, proc: subprocess.Popen, url: str) -> None:
        self.proc, self.url = proc, url.replace("0.0.0.0", "127.0.0.1")
        self.c = httpx.Client(base_url=self.url, timeout=60, trust_env=False)
        self.statuses: dict[int, int] = {}
        self.phases: dict[str, dict] = {}

    def send(self, method: str, path: str, **kw: object) -> httpx.Response:
        r = self.c.request(method, path, **kw)  # type: ignore[arg-type]
        self.statuses[r.status_code] = self.statuses.get(r.status_code, 0) + 1
        return r

    def phase(self, name: str, bound_mb: float, fn, *args: object) -> None:  # type: ignore[no-untyped-def]
        before = rss_mb(self.proc.pid)
        t = time.time()
        extra = fn(self, *args) or {}
        after = rss_mb(self.proc.pid)
        peak = int(re.search(r"VmHWM:\s+(\d+)", Path(f"/proc/{self.proc.pid}/status").read_text()).group(1)) / 1024
        self.phases[name] = {
            "rss_before_mb": round(before),
            "rss_after_mb": round(after),
            "growth_mb": round(after - before, 1),
            "process_peak_mb": round(peak),
            "bound_mb": bound_mb,
            "seconds": round(time.time() - t, 1),
            **extra,
        }
        print(f"{name:<34} RSS {before:6.0f} -> {after:6.0f} MB (peak so far {peak:.0f})  {extra}", flush=True)


def keyless_bodies(r: Run, n: int) -> dict:
    big = json.dumps({"prompt": "p" * 10_000_000, "webhook_secret": ["s"] * 1000}).encode()
    for _ in range(n):
        r.send("POST", SUBMIT, content=big, headers={"content-type": "application/json"})
    return {"requests": n, "body_mb": 10}


def deep_bodies(r: Run, n: int) -> dict:
    body_ = '{"finetune_id":"x","control_image":"aa","prompt":' + "[" * 600 + "]" * 600 + "}"
    codes = {
        r.send("POST", SUBMIT, content=body_, headers={"content-type": "application/json", "x-key": "k"}).status_code
        for _ in range(n)
    }
    return {"requests": n, "statuses": sorted(codes)}  # fmt: skip


def huge_keys(r: Run, n: int) -> dict:
    codes = set()
    for i in range(n):
        codes.add(r.send("GET", "/v1/get_result?id=x", headers={"x-key": f"{i}" + "k" * 2_000_000}).status_code)
    for i in range(n):  # just under the header cap: each one a rate-limit bucket, LRU-bounded
        codes.add(r.send("GET", "/v1/get_result?id=x", headers={"x-key": f"{i}" + "k" * 60_000}).status_code)
    return {"requests": 2 * n, "statuses": sorted(codes)}


def many_accounts(r: Run, n: int) -> dict:
    with httpx.Client(base_url=r.url, timeout=30, trust_env=False) as c:
        for i in range(n):
            c.get("/v1/credits", headers={"x-key": f"key-{i}-" + "x" * 200})
    return {"keys": n}


def big_prompts(r: Run, n: int) -> dict:
    codes = set()
    for i in range(n):
        codes.add(r.send("POST", SUBMIT, json=body(prompt="p" * 1_000_000), headers={"x-key": f"p{i}"}).status_code)
    return {"submits": n, "prompt_mb": 1, "statuses": sorted(codes)}


def thin_images(r: Run) -> dict:
    ids = []
    for size in ((1, 5_000_000), (1, 5_000_000), (20_000, 16)):
        ids.append(r.send("POST", SUBMIT, json=body(control_image=png(size)), headers={"x-key": "thin"}).json()["id"])
    r.send("POST", "/_mock/clock/advance", json={"seconds": 10})
    finals = [r.send("GET", f"/v1/get_result?id={t}").json()["status"] for t in ids]
    big = r.send("POST", SUBMIT, json=body(control_image=png((4400, 4400), 90)), headers={"x-key": "cap"}).json()["id"]
    r.send("POST", "/_mock/clock/advance", json={"seconds": 10})
    finals.append(r.send("GET", f"/v1/get_result?id={big}").json()["status"])
    return {"finals": finals}


def slowloris(r: Run, n: int) -> dict:
    held = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", int(r.url.rsplit(":", 1)[1])))
        s.sendall(b"GET /v1/get_result?id=x HTTP/1.1\r\nHost: x\r\n")
        held.append(s)
    lat, ok = [], 0
    with httpx.Client(base_url=r.url, timeout=10, trust_env=False) as c:
        for _ in range(200):
            t = time.perf_counter()
            try:
                ok += c.get("/v1/get_result?id=x", headers={"x-key": "during"}).status_code == 404
            except httpx.HTTPError:
                pass
            lat.append((time.perf_counter() - t) * 1000)
    for s in held:
        s.close()
    return {
        "held_connections": n,
        "new_requests_ok": f"{ok}/200",
        "p50_ms": round(statistics.median(lat), 2),
        "p99_ms": round(sorted(lat)[int(len(lat) * 0.99) - 1], 2),
    }


def evicted_downloads(n: int) -> dict:
    proc, url = start_fake("--host", "0.0.0.0", "--progression", "time:0", "--set", "retention_seconds=1")
    try:
        c = httpx.Client(base_url=url.replace("0.0.0.0", "127.0.0.1"), timeout=30, trust_env=False)
        tid = c.post(SUBMIT, json=body(), headers={"x-key": "k"}).json()["id"]
        sample = c.get(f"/v1/get_result?id={tid}").json()["result"]["sample"]
        time.sleep(1.2)  # the script waits for real retention to pass (this is a load script, not a test)
        c.get(f"/v1/get_result?id={tid}")  # evicts it
        before = rss_mb(proc.pid)
        codes = {c.get(sample).status_code for _ in range(n)}
        after = rss_mb(proc.pid)
        return {"gets": n, "statuses": sorted(codes), "rss_before_mb": round(before), "rss_after_mb": round(after)}
    finally:
        stop(proc)


def slow_receiver_fairness(n: int) -> dict:
    """``n`` deliveries to a receiver that never answers, then one to a good receiver: how late is it?"""
    got: dict[str, float] = {}

    async def serve(port_box: list, hang: bool) -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            if hang:
                await asyncio.sleep(3600)
            got.setdefault("good", time.time())
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port_box.append(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    ports: list[int] = []
    for hang in (True, False):
        box: list[int] = []
        threading.Thread(target=lambda b=box, h=hang: asyncio.run(serve(b, h)), daemon=True).start()
        while not box:
            time.sleep(0.01)
        ports.append(box[0])
    proc, url = start_fake("--progression", "time:0", "--webhook-allow", "loopback")
    try:
        c = httpx.Client(base_url=url, timeout=30, trust_env=False)
        for i in range(n):
            c.post(SUBMIT, json=body(webhook_url=f"http://127.0.0.1:{ports[0]}/slow"), headers={"x-key": f"s{i % 20}"})
        time.sleep(0.5)  # let the slow deliveries start
        start = time.time()
        c.post(SUBMIT, json=body(webhook_url=f"http://localhost:{ports[1]}/good"), headers={"x-key": "good"})
        deadline = time.time() + 40
        while "good" not in got and time.time() < deadline:
            time.sleep(0.02)
        delay = got.get("good", float("nan")) - start
        return {"slow_deliveries": n, "good_delivery_after_s": round(delay, 2)}
    finally:
        stop(proc)


def admin_complete_during_render() -> dict:
    proc, url = start_fake("--progression", "manual")
    try:
        c = httpx.Client(base_url=url, timeout=60, trust_env=False)
        other = c.post(SUBMIT, json=body(), headers={"x-key": "k"}).json()["id"]
        big = c.post(SUBMIT, json=body(control_image=png((4400, 4400), 90)), headers={"x-key": "k"}).json()["id"]
        done: dict = {}
        t = threading.Thread(target=lambda: done.update(r=c.post(f"/_mock/tasks/{big}/complete").status_code))
        t.start()
        lat = []
        with httpx.Client(base_url=url, timeout=30, trust_env=False) as p:
            while t.is_alive() and len(lat) < 5000:
                s = time.perf_counter()
                p.get(f"/v1/get_result?id={other}")
                lat.append((time.perf_counter() - s) * 1000)
        t.join()
        return {"complete_status": done.get("r"), "polls_during": len(lat), "poll_max_ms": round(max(lat or [0]), 1)}
    finally:
        stop(proc)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    quick = parser.parse_args().quick
    scale = 0.1 if quick else 1.0
    proc, url = start_fake("--host", "0.0.0.0", "--set", "header_timeout_seconds=10")
    r = Run(proc, url)
    try:
        r.phase("1 keyless 10 MB bodies (journal)", 60, keyless_bodies, max(2, int(20 * scale)))
        r.phase("3 deep nesting (errors list)", 20, deep_bodies, max(2, int(20 * scale)))
        r.phase("5 2 MB / 60 KB x-key headers", 60, huge_keys, max(5, int(300 * scale)))
        r.phase("5 distinct keys on /v1/credits", 40, many_accounts, max(200, int(20_000 * scale)))
        r.phase("5 1 MB prompts (task store)", 300, big_prompts, max(5, int(50 * scale)))
        r.phase("6 thin and capped images", 400, thin_images)
        r.phase("9 slowloris half-open connections", 200, slowloris, max(200, int(6_000 * scale)))
        stats = r.c.get("/_mock/stats").json()
    finally:
        stop(proc)
    log = Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]
    problems = [line for line in log.splitlines() if "Traceback" in line or "internal error" in line]
    results = {
        "server": "bfl-mock serve --host 0.0.0.0 (defaults), attacked through the public API from loopback",
        "phases": r.phases,
        "statuses": r.statuses,
        "stats_after": stats,
        "4 evicted-link 404s": evicted_downloads(max(1000, int(30_000 * scale))),
        "10 slow receiver fairness": slow_receiver_fairness(max(70, int(192 * scale))),
        "8 admin complete during a 19 MP render": admin_complete_during_render(),
        "server_log_problems": problems[:10],
    }
    print(json.dumps({k: v for k, v in results.items() if k != "phases"}, indent=2))
    out = ROOT / "reports" / ("attack-quick.json" if quick else "attack.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    five_xx = sum(n for code, n in r.statuses.items() if code >= 500)
    over = [n for n, p in r.phases.items() if p["growth_mb"] > p["bound_mb"]]
    ok = not five_xx and not problems and not over
    print(f"attack: {five_xx} 5xx, {len(problems)} server log problems, phases over their bound: {over or 'none'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
