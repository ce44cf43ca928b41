"""``make soak``: load and fault tests on loopback, bounded in time, stopping by themselves.

Phases (each against a fresh ``bfl-mock serve`` subprocess, webhooks to a receiver subprocess):
  1. N concurrent clients submit with a webhook, poll until a final status, download Ready results;
  2. the same with a receiver that drops every connection, then one that answers slowly (past the timeout);
  3. clients that disconnect mid-request (half-sent bodies, aborted polls), then a normal batch;
  4. a long-lived shared fake: 100,000 submits across 10,000 keys on one instance, RSS and its own accounting
     sampled every tenth (``--submits``, ``--keys``, ``--samples``; ``--long-lived-only`` runs just this one),
     from ``--concurrency`` keep-alive connections of a minimal client (``RawClient``).
Checks: no task lost, every poll sequence is ``Pending* final``, progress never decreases, no 5xx,
every webhook settles (delivered, or failed after the documented retries when the receiver misbehaves),
nothing unhandled in the server's log. ``--quick`` is the CI smoke version.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import json as _json
import os
import re
import resource
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from bench import UNLIMITED, control_image, start_fake, start_server, stop  # noqa: E402

SUBMIT = "/v1/flux-pro-1.0-canny-finetuned"
FINAL = re.compile(r"^(Pending,)*(Ready|Error|Request Moderated|Content Moderated)$")
RECEIVER = """
import asyncio, sys, time
mode, delay = sys.argv[1], float(sys.argv[2])
async def handle(reader, writer):
    try:
        await reader.readuntil(b"\\r\\n\\r\\n")
        if mode == "drop":
            writer.transport.abort()  # reset, no answer
            return
        if mode == "slow":
            await asyncio.sleep(delay)
        writer.write(b"HTTP/1.1 200 OK\\r\\ncontent-length: 2\\r\\nconnection: close\\r\\n\\r\\nok")
        await writer.drain()
    except Exception:
        pass
    finally:
        writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
    print("receiver at http://127.0.0.1:%d" % server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))


def start_soak_fake() -> tuple[subprocess.Popen, str]:
    return start_fake(
        "--progression",
        "time:2",
        "--webhook-allow",
        "loopback",
        *UNLIMITED,
        "--set",
        "webhook_timeout_seconds=1",
        "--set",
        "webhook_backoff=0.5,1",
        "--log-level",
        "warning",
    )


def start_receiver(mode: str, delay: float = 0.0) -> tuple[subprocess.Popen, str]:
    return start_server([sys.executable, "-c", RECEIVER, mode, str(delay)])


async def get(c: Any, url: str, out: dict, **kw: Any) -> Any:
    """GET, retried once on a transport error (a keep-alive connection the server closed just as it was
    reused: a client-side HTTP/1.1 race that robust clients retry for idempotent requests). Counted."""
    try:
        return await c.get(url, **kw)
    except (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError):
        out["transport_retries"] += 1
        return await c.get(url, **kw)


async def client(c: httpx.AsyncClient, base: str, hook: str, control: str, i: int, out: dict) -> None:
    body = {
        "finetune_id": "my-finetune",
        "prompt": f"soak {i}",
        "control_image": control,
        "webhook_url": f"{hook}/t/{i}",
        "webhook_secret": "s",
    }
    headers = {"x-key": f"soak-{i % 50}"}
    if i % 10 == 3:
        headers["X-Mock-Scenario"] = "error"
    if i % 10 == 7:
        headers["X-Mock-Scenario"] = "content-moderated"
    r = await c.post(base + SUBMIT, json=body, headers=headers)
    out["codes"].append(r.status_code)
    if r.status_code != 200:
        out["submit_failures"].append((i, r.status_code, r.text[:200]))
        return
    tid = r.json()["id"]
    seq, progress = [], []
    for _ in range(200):
        await asyncio.sleep(0.25)
        p = await get(c, f"{base}/v1/get_result", out, params={"id": tid})
        out["codes"].append(p.status_code)
        data = p.json()
        seq.append(data["status"])
        if data["status"] == "Pending":
            if data["progress"] is not None:
                progress.append(data["progress"])
            continue
        if data["status"] == "Ready":
            img = await get(c, data["result"]["sample"], out)
            out["codes"].append(img.status_code)
            if img.status_code != 200 or not img.content.startswith(b"\xff\xd8"):
                out["bad_downloads"].append(tid)
        break
    ok = FINAL.match(",".join(seq)) and progress == sorted(progress)
    out["tasks"][tid] = ",".join(seq[-2:])
    if not ok:
        out["bad_sequences"].append((tid, seq[:20], progress))


async def run_clients(base: str, hook: str, n: int) -> dict:
    control = control_image(0.004, "PNG")
    out: dict = {
        "codes": [],
        "tasks": {},
        "bad_sequences": [],
        "submit_failures": [],
        "bad_downloads": [],
        "transport_retries": 0,
    }
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(limits=limits, timeout=60) as c:
        await asyncio.gather(*[client(c, base, hook, control, i, out) for i in range(n)])
    return out


def settle_webhooks(base: str, task_ids: list[str], timeout: float) -> dict[str, int]:
    deadline = time.time() + timeout
    states: dict[str, str] = {}
    with httpx.Client(base_url=base, timeout=30) as c:
        while time.time() < deadline:
            hooks = c.get("/_mock/webhooks").json()["webhooks"]
            states = {h["task_id"]: h["state"] for h in hooks}
            if all(states.get(t) not in (None, "pending") for t in task_ids):
                break
            time.sleep(0.5)
    counts: dict[str, int] = {}
    for t in task_ids:
        s = states.get(t, "missing")
        counts[s] = counts.get(s, 0) + 1
    return counts


def disconnecting_clients(base: str, n: int) -> None:
    host, port = base.split("//")[1].split(":")
    for i in range(n):
        s = socket.create_connection((host, int(port)))
        if i % 2:
            s.sendall(
                f"POST {SUBMIT} HTTP/1.1\r\nHost: x\r\nx-key: k\r\ncontent-type: application/json\r\n"
                'content-length: 100000\r\n\r\n{"finetune_id": "f", '.encode()
            )
        else:
            s.sendall(b"GET /v1/get_result?id=x HTTP/1.1\r\nHost: x\r\n")  # headers never finished
        s.close()


def server_log_problems(proc: subprocess.Popen) -> list[str]:
    stop(proc)
    text = Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]
    return [line for line in text.splitlines() if "Traceback" in line or "internal error" in line or "ERROR" in line]


def phase(name: str, n: int, receiver_mode: str, delay: float = 0.0, expect_hooks: str = "delivered") -> dict:
    recv, hook = start_receiver(receiver_mode, delay)
    fake, base = start_soak_fake()
    t = time.time()
    try:
        out = asyncio.run(run_clients(base, hook, n))
        hooks = settle_webhooks(base, list(out["tasks"]), timeout=60)
        rss_kb = int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{fake.pid}/status").read_text()).group(1))
    finally:
        problems = server_log_problems(fake)
        stop(recv)
    five_xx = sum(1 for code in out["codes"] if code >= 500)
    result = {
        "clients": n,
        "tasks": len(out["tasks"]),
        "requests": len(out["codes"]),
        "5xx": five_xx,
        "bad_sequences": len(out["bad_sequences"]),
        "submit_failures": len(out["submit_failures"]),
        "bad_downloads": len(out["bad_downloads"]),
        "get_retries_after_transport_errors": out["transport_retries"],
        "webhooks": hooks,
        "server_log_problems": problems[:5],
        "seconds": round(time.time() - t, 1),
        "server_rss_mb": round(rss_kb / 1024),
    }
    ok = (
        result["tasks"] == n
        and not five_xx
        and not out["bad_sequences"]
        and not out["submit_failures"]
        and not out["bad_downloads"]
        and not problems
        and hooks.get(expect_hooks, 0) == n
    )
    result["ok"] = bool(ok)
    print(f"  {name:<38} {json.dumps(result)}", flush=True)
    if out["bad_sequences"][:3]:
        print("    e.g.", out["bad_sequences"][:3])
    return result


# ---------------------------------------------------------------------------------------------------------------
# A long-lived shared fake: N submits across K keys against one default instance (only the progression is
# polls:1 so tasks finish at once), every task polled; one in ten is a Canny task with an image, downloaded.
# Its RSS and its own accounting (tasks, task bytes, result store, accounts, buckets) are sampled as it goes.
class RawResponse:
    def __init__(self, status_code: int, content: bytes) -> None:
        self.status_code, self.content = status_code, content

    def json(self) -> Any:
        return json.loads(self.content)


class RawClient:
    """A minimal HTTP/1.1 keep-alive client on one connection (asyncio streams), with the part of httpx's
    interface the long-lived phase uses. httpx's own client costs more CPU per request than the fake does: on
    the busy 2-core machine 5,000 submits took 60 s through httpx.AsyncClient and 8 s through this one, so
    100,000 submits over HTTP fit in minutes. Transport failures raise httpx's exceptions, so ``get`` retries
    and counts them the same way."""

    def __init__(self, base: str) -> None:
        url = urllib.parse.urlsplit(base)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None

    async def request(self, method: str, url: str, headers: dict[str, str], body: bytes = b"") -> RawResponse:
        parts = urllib.parse.urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        head = f"{method} {target} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        if body or method == "POST":
            head += f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
        try:
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            assert self.reader is not None
            self.writer.write(head.encode("latin-1") + b"\r\n" + body)
            await self.writer.drain()
            status_line = await self.reader.readline()
            if not status_line:
                raise httpx.RemoteProtocolError("the server closed the connection without an answer")
            status = int(status_line.split()[1])
            length, chunked, close = 0, False, False
            while (line := await self.reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                name, value = name.strip().lower(), value.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "transfer-encoding" and "chunked" in value:
                    chunked = True
                elif name == "connection" and value == "close":
                    close = True
            if chunked:
                content = b""
                while size := int((await self.reader.readline()).split(b";")[0], 16):
                    content += await self.reader.readexactly(size)
                    await self.reader.readline()
                await self.reader.readline()
            else:
                content = await self.reader.readexactly(length)
        except (ConnectionError, asyncio.IncompleteReadError, OSError) as exc:
            await self.close()
            raise httpx.ReadError(repr(exc)) from None
        except httpx.TransportError:
            await self.close()
            raise
        if close:
            await self.close()
        return RawResponse(status, content)

    async def post(self, url: str, json: Any = None, headers: dict[str, str] | None = None) -> RawResponse:
        return await self.request("POST", url, headers or {}, _json.dumps(json).encode())

    async def get(
        self, url: str, params: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> RawResponse:
        if params:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params)
        return await self.request("GET", url, headers or {})


async def _long_lived_worker(c: Any, base: str, control: str, jobs: list[int], keys: int, out: dict) -> None:
    while jobs:
        i = jobs.pop()
        try:
            await _long_lived_task(c, base, control, i, keys, out)
        except httpx.TransportError as exc:  # no answer: counted (the phase fails), the run goes on
            out["transport_errors"].append(f"{i}: {exc!r}"[:200])


async def _long_lived_task(c: Any, base: str, control: str, i: int, keys: int, out: dict) -> None:
    headers = {"x-key": f"soak-key-{i % keys:05d}"}
    prompt = f"long-lived {i} " + "p" * (i % 200)
    if i % 10 == 0:  # one in ten a Canny task with its control image, downloaded; the others FLUX.1 [dev]
        r = await c.post(
            base + SUBMIT, json={"finetune_id": "f", "prompt": prompt, "control_image": control}, headers=headers
        )
    else:
        r = await c.post(f"{base}/v1/flux-dev", json={"prompt": prompt}, headers=headers)
    out["codes"][r.status_code] = out["codes"].get(r.status_code, 0) + 1
    if r.status_code != 200:
        return
    p = await get(c, f"{base}/v1/get_result", out, params={"id": r.json()["id"]}, headers=headers)
    out["codes"][p.status_code] = out["codes"].get(p.status_code, 0) + 1
    if i % 10 == 0 and p.status_code == 200 and p.json()["status"] == "Ready":
        img = await get(c, p.json()["result"]["sample"], out)
        out["codes"][img.status_code] = out["codes"].get(img.status_code, 0) + 1


def long_lived(submits: int, keys: int, concurrency: int = 32, samples_count: int = 10) -> dict:
    fake, base = start_fake("--progression", "polls:1", "--log-level", "warning")
    control = control_image(0.004, "PNG")
    out: dict = {"codes": {}, "transport_retries": 0, "transport_errors": []}
    samples: list[dict] = []
    peak = 0.0
    t = time.time()
    try:
        step = max(1, submits // samples_count)
        with httpx.Client(base_url=base, timeout=30) as admin:
            for start in range(0, submits, step):
                jobs = list(range(start, min(submits, start + step)))[::-1]

                async def batch(jobs: list[int] = jobs) -> None:
                    clients = [RawClient(base) for _ in range(concurrency)]  # one keep-alive connection each
                    try:
                        await asyncio.gather(*[_long_lived_worker(c, base, control, jobs, keys, out) for c in clients])
                    finally:
                        for c in clients:
                            await c.close()

                t_batch = time.time()
                asyncio.run(batch())
                status = Path(f"/proc/{fake.pid}/status").read_text()
                rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024
                peak = int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024
                st = admin.get("/_mock/stats").json()
                journal = len(admin.get("/_mock/requests").json()["requests"])
                done = min(submits, start + step)
                sample = {
                    "submits": done,
                    "rss_mb": round(rss),
                    "tasks": st["tasks"],
                    "task_bytes_mb": round(st["task_bytes"] / 2**20, 1),
                    "results_memory_mb": round(st["results"]["memory_bytes"] / 2**20, 1),
                    "results_on_disk": st["results"]["on_disk"],
                    "image_cache_mb": round(st["image_cache_bytes"] / 2**20, 1),
                    "journal": journal,
                    "accounts": st["accounts"],
                    "buckets": st["ratelimit_buckets"],
                    "internal_errors": st["errors"],
                    "seconds": round(time.time() - t),
                    "submits_per_s": round((done - start) / max(time.time() - t_batch, 1e-9)),
                }
                samples.append(sample)
                print(f"    {json.dumps(sample)}", flush=True)
    finally:
        problems = server_log_problems(fake)
    five_xx = sum(n for code, n in out["codes"].items() if code >= 500)
    result = {
        "submits": submits,
        "keys": keys,
        "codes": out["codes"],
        "5xx": five_xx,
        "rss_first_mb": samples[0]["rss_mb"] if samples else None,
        "rss_last_mb": samples[-1]["rss_mb"] if samples else None,
        "rss_peak_mb": round(peak),
        "samples": samples,
        "server_log_problems": problems[:5],
        "seconds": round(time.time() - t, 1),
    }
    errors = samples[-1]["internal_errors"] if samples else 0
    result["internal_errors"] = errors
    result["get_retries_after_transport_errors"] = out["transport_retries"]
    result["concurrency"] = concurrency
    result["transport_errors"] = len(out["transport_errors"])
    result["transport_errors_first"] = out["transport_errors"][:3]
    result["ok"] = (
        not five_xx
        and not problems
        and not errors
        and not out["transport_errors"]
        and out["codes"].get(200, 0) >= 2 * submits
    )
    print(f"  {'long-lived shared fake':<38} {json.dumps({k: v for k, v in result.items() if k != 'samples'})}")
    return result


def long_lived_inprocess(submits: int, keys: int) -> dict:
    """The long-lived phase without the HTTP server: the same traffic through the in-process transport (the
    pytest plugin's path), ~10x faster, so 100,000 submits fit a busy CI box. RSS is this process's."""
    from mock_server.frontends.transport import BflTransport
    from mock_server.mock import BflMock

    mock = BflMock(progression="polls:1")
    control = control_image(0.004, "PNG")
    codes: dict[int, int] = {}
    samples: list[dict] = []
    t = time.time()
    base = "https://api.us1.bfl.ai"
    with mock, httpx.Client(transport=BflTransport(mock), base_url=base) as c:
        for i in range(submits):
            headers = {"x-key": f"soak-key-{i % keys:05d}"}
            prompt = f"long-lived {i} " + "p" * (i % 200)
            if i % 10 == 0:
                body = {"finetune_id": "f", "prompt": prompt, "control_image": control}
                r = c.post(SUBMIT, json=body, headers=headers)
            else:
                r = c.post("/v1/flux-dev", json={"prompt": prompt}, headers=headers)
            codes[r.status_code] = codes.get(r.status_code, 0) + 1
            if r.status_code == 200:
                p = c.get("/v1/get_result", params={"id": r.json()["id"]}, headers=headers)
                codes[p.status_code] = codes.get(p.status_code, 0) + 1
                if i % 10 == 0 and p.json()["status"] == "Ready":
                    img = c.get(p.json()["result"]["sample"])
                    codes[img.status_code] = codes.get(img.status_code, 0) + 1
            if (i + 1) % max(1, submits // 10) == 0:
                status = Path("/proc/self/status").read_text()
                st = mock.backend.stats()
                sample = {
                    "submits": i + 1,
                    "rss_mb": round(int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024),
                    "tasks": st["tasks"],
                    "task_bytes_mb": round(st["task_bytes"] / 2**20, 1),
                    "results_memory_mb": round(st["results"]["memory_bytes"] / 2**20, 1),
                    "results_on_disk": st["results"]["on_disk"],
                    "image_cache_mb": round(st["image_cache_bytes"] / 2**20, 1),
                    "journal": len(mock.journal),
                    "accounts": st["accounts"],
                    "buckets": st["ratelimit_buckets"],
                    "seconds": round(time.time() - t),
                }
                samples.append(sample)
                print(f"    {json.dumps(sample)}", flush=True)
        errors = mock.backend.errors.total
    peak = int(re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text()).group(1)) / 1024
    five_xx = sum(n for code, n in codes.items() if code >= 500)
    result = {
        "submits": submits,
        "keys": keys,
        "codes": codes,
        "5xx": five_xx,
        "internal_errors": errors,
        "rss_last_mb": samples[-1]["rss_mb"] if samples else None,
        "rss_peak_mb": round(peak),
        "samples": samples,
        "seconds": round(time.time() - t, 1),
    }
    result["ok"] = not five_xx and not errors and codes.get(200, 0) >= 2 * submits
    print(f"  {'long-lived fake, in-process':<38} {json.dumps({k: v for k, v in result.items() if k != 'samples'})}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--clients", type=int, default=None)
    parser.add_argument("--submits", type=int, default=None, help="the long-lived phase's submits (100,000)")
    parser.add_argument("--keys", type=int, default=None, help="across this many keys (10,000)")
    parser.add_argument("--long-lived-only", action="store_true", help="only the long-lived shared-fake phase")
    parser.add_argument("--in-process", action="store_true", help="the long-lived phase without the HTTP server")
    parser.add_argument("--concurrency", type=int, default=32, help="the long-lived phase's concurrent clients (32)")
    parser.add_argument("--samples", type=int, default=10, help="the long-lived phase's samples of RSS and stats (10)")
    args = parser.parse_args()
    raise_fd_limit()
    submits = args.submits or (5_000 if args.quick else 100_000)
    keys = args.keys or (500 if args.quick else 10_000)
    if args.long_lived_only:
        print(f"soak: long-lived shared fake, {submits} submits across {keys} keys", flush=True)
        result = (
            long_lived_inprocess(submits, keys)
            if args.in_process
            else long_lived(submits, keys, args.concurrency, args.samples)
        )
        out_file = ROOT / "reports" / ("soak-long-lived-quick.json" if args.quick else "soak-long-lived.json")
        out_file.parent.mkdir(exist_ok=True)
        out_file.write_text(json.dumps(result, indent=2))
        return 0 if result["ok"] else 1
    n = args.clients or (100 if args.quick else 2000)
    print(f"soak: {n} concurrent clients per phase, loopback only", flush=True)
    results = {
        "normal receiver": phase("normal receiver", n, "ok"),
        "receiver drops connections": phase("receiver drops connections", n, "drop", expect_hooks="failed"),
        "receiver answers slowly": phase(
            "receiver answers slowly (2 s > 1 s timeout)", n, "slow", 2.0, expect_hooks="failed"
        ),
    }
    recv, hook = start_receiver("ok")
    fake, base = start_soak_fake()
    try:
        disconnecting_clients(base, 200 if not args.quick else 20)
        out = asyncio.run(run_clients(base, hook, max(50, n // 10)))
        alive = httpx.get(base + "/_mock/stats", timeout=10).status_code == 200
    finally:
        problems = server_log_problems(fake)
        stop(recv)
    bad = sum(1 for c in out["codes"] if c >= 500) + len(out["bad_sequences"]) + len(out["submit_failures"])
    results["clients disconnecting"] = {
        "ok": alive and not bad and not problems,
        "after": len(out["tasks"]),
        "get_retries_after_transport_errors": out["transport_retries"],
        "problems": problems[:5],
    }
    print(f"  {'clients disconnecting mid-request':<38} {json.dumps(results['clients disconnecting'])}", flush=True)
    results["long-lived shared fake"] = long_lived(submits, keys, args.concurrency, args.samples)
    out_file = ROOT / "reports" / ("soak-quick.json" if args.quick else "soak.json")
    out_file.parent.mkdir(exist_ok=True)
    out_file.write_text(json.dumps(results, indent=2))
    failed = [k for k, v in results.items() if not v["ok"]]
    print("soak: " + ("all phases passed" if not failed else f"FAILED: {failed}"))
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
