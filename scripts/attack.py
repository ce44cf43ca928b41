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
import os
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


# ---------------------------------------------------------------------------------------------------------------
# Memory and decode phases (rejected images, scan bombs, thumbnails, FLUX.2 inputs, result store, signed links,
# JSON bodies, rate-limit namespaces). Each runs against its own fresh default `bfl-mock serve --host 0.0.0.0`,
# so its RSS peak (VmHWM) is its own; ``--memory-only`` runs just these.
def _peak_mb(pid: int) -> float:
    return int(re.search(r"VmHWM:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1)) / 1024


def _latencies(samples: list[float]) -> dict:
    s = sorted(samples) or [float("nan")]
    return {"p50_ms": round(statistics.median(s), 1), "max_ms": round(s[-1], 1), "n": len(samples)}


class _Poller:
    """Another client polling while a phase attacks: its latencies show whether the attack stalls everybody."""

    def __init__(self, url: str) -> None:
        self.url, self.lat, self.stop = url, [], threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=60, trust_env=False) as c:
            while not self.stop.is_set():
                t = time.perf_counter()
                c.get("/v1/get_result?id=x", headers={"x-key": "bystander"})
                self.lat.append((time.perf_counter() - t) * 1000)
                time.sleep(0.005)

    def __enter__(self) -> _Poller:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def _png_bytes(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def _flat_png(width: int, height: int, mode: str = "RGBA") -> bytes:
    """A flat PNG of any size, written row by row (a 12,000 x 12,000 RGBA one is ~0.6 MB, never 576 MB here)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    channels, color = {"RGBA": (4, 6), "RGB": (3, 2), "L": (1, 0)}[mode]
    z, out = zlib.compressobj(9), []
    row = b"\x00" + bytes([60, 120, 180, 255][:channels]) * width
    for _ in range(height):
        out.append(z.compress(row))
    out.append(z.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(out)) + chunk(b"IEND", b"")


def _scan_bomb(side: int, scans: int) -> bytes:
    """A progressive JPEG whose last (near-empty) scan is repeated: every decode reads every scan."""
    buf = io.BytesIO()
    Image.new("RGB", (side, side), (90, 140, 200)).save(buf, "JPEG", progressive=True, quality=50)
    data = buf.getvalue()
    eoi = len(data) - 2
    last = data[data.rfind(b"\xff\xda") : eoi]
    return data[:eoi] + last * (scans - data.count(b"\xff\xda")) + data[eoi:]


def _final(c: httpx.Client, tid: str, limit: float = 180) -> tuple[str, float]:
    t = time.time()
    c.post("/_mock/clock/advance", json={"seconds": 10})
    while time.time() - t < limit:
        try:
            status = c.get(f"/v1/get_result?id={tid}", timeout=limit).json()["status"]
        except httpx.TimeoutException:
            return f"poll timed out after {limit:.0f} s", round(time.time() - t, 2)
        if status != "Pending":
            return status, round(time.time() - t, 2)
    return "Pending", round(time.time() - t, 2)


def _get_status(c: httpx.Client, path: str, limit: float = 180) -> int | str:
    try:
        return c.get(path, timeout=limit).status_code
    except httpx.TimeoutException:
        return f"timed out after {limit:.0f} s"


def _run_memory_phase(results: dict, name: str, bound_mb: float, fn, *args: object, fake_args: tuple = ()) -> Run:  # type: ignore[no-untyped-def]
    proc, url = start_fake("--host", "0.0.0.0", *fake_args)
    r = Run(proc, url)
    try:
        r.phase(name, bound_mb, fn, *args)
        r.phases[name]["process_peak_mb"] = round(_peak_mb(proc.pid))
        results[name] = r.phases[name]
    finally:
        stop(proc)
    log = Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]
    results[name]["server_log_problems"] = [ln for ln in log.splitlines() if "Traceback" in ln][:3]
    return r


def mem_rejected_images(r: Run, n: int) -> dict:
    """Two clients sending ~28 MB bodies whose 21 MB image the check rejects."""
    junk = base64.b64encode(b"\x00" * 21_000_000).decode()  # valid base64, not an image
    big = json.dumps(body(control_image=junk)).encode()
    finals: list[str] = []

    def client(k: int) -> None:
        with httpx.Client(base_url=r.url, timeout=120, trust_env=False) as c:
            for _ in range(n):
                a = c.post(SUBMIT, content=big, headers={"content-type": "application/json", "x-key": f"rej{k}"})
                if a.status_code == 200:
                    finals.append(_final(c, a.json()["id"])[0])
                else:
                    finals.append(str(a.status_code))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"submits": 2 * n, "body_mb": round(len(big) / 1e6, 1), "finals": sorted(set(finals))}


def mem_scan_bomb(r: Run, side: int, scans: int) -> dict:
    bomb = base64.b64encode(_scan_bomb(side, scans)).decode()
    tid = r.send("POST", SUBMIT, json=body(control_image=bomb), headers={"x-key": "bomb"}).json()["id"]
    status, seconds = _final(r.c, tid)
    t = time.time()
    thumb = _get_status(r.c, f"/_mock/tasks/{tid}/images/control_image")
    return {
        "jpeg": f"{side}x{side}, {scans} scans, {len(bomb) * 3 // 4 // 1024} KB",
        "final": status,
        "check_s": seconds,
        "thumbnail": thumb,
        "thumbnail_s": round(time.time() - t, 2),
    }


def mem_thumbnail_over_cap(r: Run) -> dict:
    image = base64.b64encode(_flat_png(12_000, 12_000)).decode()
    tid = r.send("POST", SUBMIT, json=body(control_image=image), headers={"x-key": "thumb"}).json()["id"]
    status, _ = _final(r.c, tid)
    t = time.time()
    thumb = _get_status(r.c, f"/_mock/tasks/{tid}/images/control_image")
    return {
        "png": f"12000x12000 RGBA, {len(image) * 3 // 4 // 1024} KB",
        "final": status,
        "thumbnail": thumb,
        "thumbnail_s": round(time.time() - t, 2),
    }


def mem_flux2_eight_inputs(r: Run, side: int) -> dict:
    """Two concurrent first downloads of FLUX.2 tasks with 8 inputs at the pixel cap (every check passes)."""
    image = base64.b64encode(_flat_png(side, side, "RGB")).decode()
    req = {"prompt": "eight", "input_image": image, **{f"input_image_{i}": image for i in range(2, 9)}}
    tids = [r.send("POST", "/v1/flux-2-pro", json=req, headers={"x-key": f"f{i}"}).json()["id"] for i in range(2)]
    samples = []
    for tid in tids:
        _final(r.c, tid)
        samples.append(r.c.get(f"/v1/get_result?id={tid}").json()["result"]["sample"])
    before = _peak_mb(r.proc.pid)
    t = time.time()
    codes: list[int] = []
    threads = [
        threading.Thread(target=lambda u=u: codes.append(httpx.get(u, timeout=120, trust_env=False).status_code))
        for u in samples
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return {
        "inputs": f"8 x {side}x{side} ({side * side / 1e6:.0f} MP each), body {len(json.dumps(req)) // 1024} KB",
        "downloads": sorted(codes),
        "render_s": round(time.time() - t, 1),
        "peak_before_renders_mb": round(before),
        "peak_after_renders_mb": round(_peak_mb(r.proc.pid)),
    }


def mem_url_inputs(r: Run, n: int) -> dict:
    """FLUX.2 submits of 8 image URLs to a ~30 MB PNG on a loopback host (fetched bytes per task)."""
    import http.server

    noise = Image.frombytes("RGB", (3000, 3300), os.urandom(3000 * 3300 * 3))  # incompressible: ~30 MB as PNG
    data = _png_bytes(noise)

    class Host(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "image/png")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a: object) -> None:
            pass

    host = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Host)
    threading.Thread(target=host.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{host.server_address[1]}/big.png"
    finals = []
    try:
        for i in range(n):
            req = {"prompt": "urls", "input_image": url, **{f"input_image_{j}": url for j in range(2, 9)}}
            tid = r.send("POST", "/v1/flux-2-pro", json=req, headers={"x-key": f"u{i}"}).json()["id"]
            finals.append(_final(r.c, tid)[0])
        stats = r.c.get("/_mock/stats").json()
    finally:
        host.shutdown()
    return {
        "png_mb": round(len(data) / 1e6, 1),
        "submits": n,
        "finals": sorted(set(finals)),
        "results": stats["results"],
    }


def mem_signed_links(r: Run, n: int) -> dict:
    sample = r.c.post(SUBMIT, json=body(), headers={"x-key": "sig"}).json()["id"]
    _final(r.c, sample)
    link = r.c.get(f"/v1/get_result?id={sample}").json()["result"]["sample"].replace("0.0.0.0", "127.0.0.1")
    lat, codes = [], set()
    with httpx.Client(timeout=30, trust_env=False) as c:
        for i in range(n):
            t = time.perf_counter()
            codes.add(c.head(f"{link}&junk{i}={'j' * 60_000}").status_code)
            lat.append((time.perf_counter() - t) * 1000)
    return {"heads": n, "junk_kb": 60, "statuses": sorted(codes), **_latencies(lat)}


def mem_json_values(r: Run) -> dict:
    many = json.dumps(body(junk=[{"a": 1} for _ in range(600_000)])).encode()
    with _Poller(r.url) as poller:
        time.sleep(0.3)
        t = time.perf_counter()
        code = r.send("POST", SUBMIT, content=many, headers={"content-type": "application/json", "x-key": "j"})
        took = (time.perf_counter() - t) * 1000
        time.sleep(0.3)
    return {"body_mb": round(len(many) / 1e6, 1), "status": code.status_code, "submit_ms": round(took),
            "other_client_poll": _latencies(poller.lat)}  # fmt: skip


def mem_bucket_namespaces(r: Run) -> dict:
    spoofed = [r.send("GET", "/v1/get_result?id=x", headers={"x-key": "127.0.0.1"}).status_code for _ in range(1300)]
    keyless = r.send("GET", "/v1/get_result?id=x").status_code
    return {"spoofed_polls_429": spoofed.count(429), "keyless_poll_after": keyless}


def memory_phases(quick: bool, only: list[str] | None = None) -> dict:
    """The memory/decode phases (or ``only`` these, by number), each on a fresh default fake; their figures."""
    out: dict = {}

    def _memory_phase(results: dict, name: str, *args: object, **kw: object) -> None:
        if only is None or name.split()[0] in only:
            _run_memory_phase(results, name, *args, **kw)  # type: ignore[arg-type]

    n = 2 if quick else 10
    _memory_phase(out, "M1 rejected 21 MB images", 400, mem_rejected_images, n)
    _memory_phase(out, "M4 progressive-JPEG scan bomb", 100, mem_scan_bomb, 1024 if quick else 4096, 12_000)
    _memory_phase(out, "M5 thumbnail of a 144 MP PNG", 100, mem_thumbnail_over_cap)
    _memory_phase(out, "M6 FLUX.2 8 inputs x2 renders", 1200, mem_flux2_eight_inputs, 2000 if quick else 4472)
    _memory_phase(out, "M7 8 URLs to a 30 MB PNG", 300, mem_url_inputs, 1 if quick else 3,
                  fake_args=("--webhook-allow", "loopback"))  # fmt: skip
    _memory_phase(out, "M8 signed links + 60 KB junk", 60, mem_signed_links, 300 if quick else 3000)
    _memory_phase(out, "M9 600,000 tiny JSON objects", 400, mem_json_values)
    _memory_phase(out, "M12 key named like an address", 20, mem_bucket_namespaces)
    return out


# ------------------------------------------------------------------ network and edge phases (docs/security.md)
# Self-contained: each phase starts its own fake (whatever ``mock_server`` PYTHONPATH names: run it with
# PYTHONPATH=<a checkout of main> for the "before" figures) and prints RSS peaks and latencies.
KONTEXT = "/v1/flux-kontext-pro"


def _raw(port: int, request: bytes, timeout: float = 10) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        head = s.recv(65536)
    return int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else -1


def _image_host(answer: bytes, trickle: float | None) -> tuple[int, threading.Event]:
    """A loopback image host: ``answer`` at once, then (``trickle``) a byte every that many seconds until
    stopped. Returns its port and the event that stops it."""
    stop_ = threading.Event()
    srv = socket.create_server(("127.0.0.1", 0))

    def one(conn: socket.socket) -> None:
        try:
            data = b""
            while b"\r\n\r\n" not in data and (chunk := conn.recv(4096)):
                data += chunk
            conn.sendall(answer)
            while trickle is not None and not stop_.wait(trickle):
                conn.sendall(b"x")
        except OSError:
            pass
        finally:
            conn.close()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop_.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            threading.Thread(target=one, args=(conn,), daemon=True).start()
        srv.close()

    threading.Thread(target=accept, daemon=True).start()
    return srv.getsockname()[1], stop_


def net_rebinding() -> dict:
    """DNS rebinding: a page at rebind.attacker.example:PORT (resolving to 127.0.0.1) calls the admin API."""
    proc, url = start_fake("--progression", "manual")
    port = int(url.rsplit(":", 1)[1])
    try:
        h = f"Host: rebind.attacker.example:{port}\r\nOrigin: http://rebind.attacker.example:{port}\r\n"
        h += "Sec-Fetch-Site: same-origin\r\nConnection: close\r\n"
        rule = b'{"outcome":{"status":"Error"}}'
        codes = {
            "POST /_mock/rules": _raw(port, f"POST /_mock/rules HTTP/1.1\r\n{h}Content-Type: application/json\r\n"
                                      f"Content-Length: {len(rule)}\r\n\r\n".encode() + rule),
            "GET /_mock/requests": _raw(port, f"GET /_mock/requests HTTP/1.1\r\n{h}\r\n".encode()),
            "GET /_mock/ui": _raw(port, f"GET /_mock/ui HTTP/1.1\r\n{h}\r\n".encode()),
            "absolute-form freeze": _raw(
                port,
                f"POST http://rebind.attacker.example:{port}/_mock/clock/freeze HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode(),
            ),
        }  # fmt: skip
        frozen = httpx.get(url + "/_mock/clock", trust_env=False).json()["frozen"]
        return {"statuses": codes, "clock_frozen_after": frozen, "peak_mb": round(_peak_mb(proc.pid))}
    finally:
        stop(proc)


def net_trickling_images(n: int, wait_s: float) -> dict:
    """``n`` image URLs that send a byte every 0.5 s (defaults: 2 render workers, 10 s fetch timeout): how
    long does another key's task take to be Ready, and how long do the trickling tasks live?"""
    port, stop_host = _image_host(b"HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n", 0.5)
    proc, url = start_fake("--progression", "time:0")
    try:
        c = httpx.Client(base_url=url, timeout=wait_s + 30, trust_env=False)
        slow = [
            c.post(KONTEXT, json={"prompt": "p", "input_image": f"http://127.0.0.1:{port}/{i}.png"},
                   headers={"x-key": "evil"}).json()["id"]
            for i in range(n)
        ]  # fmt: skip
        time.sleep(0.5)  # the fetches are under way (a load script, not a test)
        start = time.perf_counter()
        other = c.post(SUBMIT, json=body(), headers={"x-key": "other"}).json()["id"]
        polls: dict[str, dict] = {tid: {} for tid in [other, *slow]}

        def get(tid: str, key: str) -> None:
            try:
                status = c.get(f"/v1/get_result?id={tid}", headers={"x-key": key}).json()["status"]
            except httpx.HTTPError as e:
                status = type(e).__name__
            polls[tid].update(status=status, s=round(time.perf_counter() - start, 2))

        threads = [threading.Thread(target=get, args=(other, "other"), daemon=True)]
        threads += [threading.Thread(target=get, args=(tid, "evil"), daemon=True) for tid in slow]
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.1, wait_s - (time.perf_counter() - start)))
        other_s = polls[other].get("s")
        ends = [polls[tid].get("s", f">{wait_s:g}") for tid in slow]
        return {
            "trickling_urls": n,
            "other_key_ready_after_s": round(other_s, 2) if other_s is not None else f">{wait_s:g} (hung)",
            "other_key_status": polls[other].get("status"),
            "trickling_statuses": sorted({str(polls[t].get("status")) for t in slow}),
            "trickling_tasks_decided_after_s": ends,
            "peak_mb": round(_peak_mb(proc.pid)),
        }
    finally:
        stop_host.set()
        stop(proc)


MALFORMED_ANSWERS = {
    "bad status line": b"HTTP/1.1 OK-ish\r\n\r\n",
    "70 KB header": b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
    "120 headers": b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-H%d: 1\r\n" % i for i in range(120)) + b"\r\n",
    "broken chunking": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
}


def net_malformed_hosts(per_kind: int) -> dict:
    proc, url = start_fake("--progression", "manual")
    stops = []
    try:
        c = httpx.Client(base_url=url, timeout=60, trust_env=False, headers={"x-key": "k"})
        finals: dict[str, set] = {}
        for kind, answer in MALFORMED_ANSWERS.items():
            port, stop_host = _image_host(answer, None)
            stops.append(stop_host)
            for i in range(per_kind):
                tid = c.post(KONTEXT, json={"prompt": "p", "input_image": f"http://127.0.0.1:{port}/{i}"}).json()["id"]
                finals.setdefault(kind, set()).add(c.post(f"/_mock/tasks/{tid}/complete").json()["status"])
        errors = c.get("/_mock/stats").json()["errors"]
        log = Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]
        return {
            "finals": {k: sorted(v) for k, v in finals.items()},
            "internal_errors": errors,
            "tracebacks_in_log": log.count("Traceback"),
            "peak_mb": round(_peak_mb(proc.pid)),
        }
    finally:
        for s_ in stops:
            s_.set()
        stop(proc)


OWN_ADDRESS = """
import json, subprocess, sys, time, httpx
sys.path.insert(0, sys.argv[1])
from bench import start_fake, stop
proc, url = start_fake("--host", "0.0.0.0", "--progression", "manual")
port = int(url.rsplit(":", 1)[1])
c = httpx.Client(base_url=url, timeout=60, trust_env=False, headers={"x-key": "k"})
out = {}
for name, p in (("own port", port), ("another local port", 9)):
    tid = c.post("/v1/flux-kontext-pro", json={"prompt": "p", "input_image": f"http://10.203.0.2:{p}/_mock/ui"}).json()["id"]
    out[name] = c.post(f"/_mock/tasks/{tid}/complete").json()["image_error"]
out["fetches_seen_by_the_fake"] = sum(
    1 for e in c.get("/_mock/requests").json()["requests"] if "bfl-mock-fetch" in e["headers"].get("user-agent", ""))
out["admin_with_fetch_user_agent"] = c.get("/_mock/stats", headers={"User-Agent": "bfl-mock-fetch/0.1"}).status_code
stop(proc)
print(json.dumps(out))
"""


def net_own_address() -> dict:
    """Bound to 0.0.0.0 in a network namespace whose host address is 10.203.0.2: image URLs to that address."""
    setup = "ip link set lo up && ip addr add 10.203.0.2/32 dev lo"
    cmd = ["unshare", "-n", "sh", "-c", f'{setup} && exec "$0" -c "$1" "$2"', sys.executable, OWN_ADDRESS]
    done = subprocess.run([*cmd, str(ROOT / "scripts")], capture_output=True, text=True, timeout=120, cwd=ROOT)
    if done.returncode != 0:
        return {"skipped": (done.stderr or "unshare -n failed")[-300:]}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def net_access_log() -> dict:
    proc, url = start_fake("--access-log", "text")
    try:
        port = int(url.rsplit(":", 1)[1])
        forged = "/v1/x%0a127.0.0.1%20%22GET%20/_mock/reset%20HTTP/1.1%22%20200%200%200.1ms"
        _raw(port, f"GET {forged} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        httpx.get(url + "/health", trust_env=False)  # the line above is flushed before this one
        lines = Path(proc.log_path).read_text(errors="replace").splitlines()  # type: ignore[attr-defined]
        forged_lines = [line for line in lines if line.startswith('127.0.0.1 "GET /_mock/reset')]
        return {"forged_lines": len(forged_lines), "line": next((x for x in lines if "/v1/x" in x), "")[:120]}
    finally:
        stop(proc)


def net_token_guessing(seconds: float) -> dict:
    proc, url = start_fake("--admin-token", "a-long-random-admin-token-0123456789")
    try:
        codes: dict[int, int] = {}
        with httpx.Client(base_url=url, timeout=10, trust_env=False) as c:
            c.get("/_mock/stats", headers={"X-Admin-Token": "a-long-random-admin-token-0123456789"})  # warm
            start = time.perf_counter()
            i = 0
            while time.perf_counter() - start < seconds:
                code = c.get("/_mock/stats", headers={"X-Admin-Token": f"guess-{i}"}).status_code
                codes[code] = codes.get(code, 0) + 1
                i += 1
            elapsed = time.perf_counter() - start
        return {
            "attempts": i,
            "attempts_per_s": round(i / elapsed),
            "guesses_evaluated_per_s": round(codes.get(403, 0) / elapsed, 1),
            "statuses": codes,
            "peak_mb": round(_peak_mb(proc.pid)),
        }
    finally:
        stop(proc)


def network_phases(quick: bool) -> dict:
    """Every network/edge class, each with its own fake; printed as it goes."""
    phases = {
        "2 DNS rebinding into the admin API": lambda: net_rebinding(),
        "3 trickling image URLs vs another key": lambda: net_trickling_images(2 if quick else 4, 12 if quick else 25),
        "10 malformed image hosts": lambda: net_malformed_hosts(2 if quick else 10),
        "11 fetching its own non-loopback address": lambda: net_own_address(),
        "13 forged access-log lines": lambda: net_access_log(),
        "14 admin-token guessing": lambda: net_token_guessing(1 if quick else 3),
    }
    out = {}
    for name, fn in phases.items():
        t = time.time()
        out[name] = {**fn(), "seconds": round(time.time() - t, 1)}
        print(f"{name:<42} {out[name]}", flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--memory-only", action="store_true", help="only the memory/decode phases (M1..M12)")
    parser.add_argument("--memory-phases", default=None, help="with --memory-only: these, e.g. M4,M5")
    parser.add_argument("--network", action="store_true", help="only the network/edge phases (docs/security.md)")
    args = parser.parse_args()
    quick = args.quick
    if args.memory_only:
        memory = memory_phases(quick, args.memory_phases.split(",") if args.memory_phases else None)
        print(json.dumps(memory, indent=2))
        out = ROOT / "reports" / ("attack-memory-quick.json" if quick else "attack-memory.json")
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(memory, indent=2))
        return 0 if all(p["growth_mb"] <= p["bound_mb"] for p in memory.values()) else 1
    if args.network:  # network/edge phases only: reports/attack-network.json
        net = network_phases(quick)
        (ROOT / "reports").mkdir(exist_ok=True)
        (ROOT / "reports" / "attack-network.json").write_text(json.dumps(net, indent=2))
        return 0
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
        "network": network_phases(quick),  # docs/security.md
        "server_log_problems": problems[:10],
        "memory": memory_phases(quick),
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
