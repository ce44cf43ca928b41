"""``make bench``: the fake against the stack's ceiling, measured in one run on this machine.

* HTTP: a bare Starlette app (scripts/bench_ceiling.py) and ``bfl-mock serve``, each under uvicorn
  (uvloop + httptools) in its own process, loaded by wrk (1 thread, 32 connections) on loopback; then a
  submit with a 10 KB input image on one endpoint of each family of the endpoint registry.
* In-process: µs per call through the ``bfl_mock`` fixture's respx bridge vs a static respx response, and
  the submit -> poll -> download cycle in static respx calls.
* Memory: peak RSS after N completed tasks with 1 MP control images (a child process).
* Webhooks: submit/poll latency of 500 tasks with and without webhooks to a local receiver.

Throughput counts successful (2xx) answers only, and a case that gets any other answer fails the run (exit 1):
a figure measured on 429s or 402s (rate limit, credits, a task limit) is not a figure of the fake serving.

``--quick`` is the CI smoke version (seconds). Results print as a table and go to reports/bench.json.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "fixtures" / "images"
SUBMIT = "/v1/flux-pro-1.0-canny-finetuned"
# the fake with its limits lifted, so a benchmark measures serving, not the 24-task limit or 429s
UNLIMITED = ["--set", "ratelimit_limit=0", "--set", "active_task_limit=0", "--set", "credits=1e15"]
FAKE_SETTINGS = ["--progression", "manual", *UNLIMITED, "--set", "max_tasks=10000000", "--set", "edge_headers=false"]
FAILURES: list[str] = []  # cases that got a non-2xx answer (or none at all): the run exits 1


def fail(case: str, why: str) -> None:
    FAILURES.append(f"{case}: {why}")
    print(f"  FAILED {case}: {why}", flush=True)


# ---------------------------------------------------------------------------------------------- helpers
def control_image(megapixels: float, fmt: str = "JPEG", target_bytes: int | None = None) -> str:
    from PIL import Image

    im = Image.open(IMAGES / "astronaut.png").convert("RGB")
    scale = (megapixels * 1e6 / (im.width * im.height)) ** 0.5
    im = im.resize((max(16, int(im.width * scale)), max(16, int(im.height * scale))), Image.LANCZOS)
    quality = 90
    while True:
        buf = io.BytesIO()
        im.save(buf, fmt, quality=quality) if fmt == "JPEG" else im.save(buf, fmt)
        data = base64.b64encode(buf.getvalue()).decode()
        if target_bytes is None or len(data) <= target_bytes or quality <= 10:
            return data
        quality -= 10


def start_server(cmd: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """Start a server subprocess whose output goes to a log file (never a pipe that could fill up and
    block it); return it once the URL it prints answers. ``proc.log_path`` is the log."""
    log = tempfile.NamedTemporaryFile(prefix="bfl-bench-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env={**os.environ, **(env or {})}
    )
    proc.log_path = log.name  # type: ignore[attr-defined]
    deadline = time.time() + 30
    while time.time() < deadline and proc.poll() is None:
        m = re.search(r"http://(?:127\.0\.0\.1|0\.0\.0\.0)(:\d+)", Path(log.name).read_text(errors="replace"))
        if m:
            url = "http://127.0.0.1" + m.group(1)
            for _ in range(200):
                try:
                    with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=1):
                        return proc, url
                except OSError:
                    time.sleep(0.05)
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"server did not start: {' '.join(cmd)}\n{Path(log.name).read_text(errors='replace')[-2000:]}")


def start_fake(*args: str) -> tuple[subprocess.Popen, str]:
    """``bfl-mock serve`` on a free loopback port, with these extra arguments."""
    return start_server([sys.executable, "-m", "mock_server", "serve", "--port", "0", *args])


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    if not m:
        return float("nan")
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def wrk(
    url: str, seconds: float, body_file: str | None = None, key: str = "bench", headers: tuple[str, ...] = ()
) -> dict[str, float]:
    cmd = ["wrk", "-t1", "-c32", f"-d{max(1, round(seconds))}s", "--latency", "-H", f"x-key: {key}"]
    for h in headers:
        cmd += ["-H", h]
    env = dict(os.environ)
    if body_file:
        script = Path(tempfile.gettempdir()) / "bfl_mock_bench_post.lua"
        script.write_text(
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            'local f = io.open(os.getenv("BENCH_BODY"), "rb")\nwrk.body = f:read("*a")\nf:close()\n'
        )
        cmd += ["-s", str(script)]
        env["BENCH_BODY"] = body_file
    proc = subprocess.run([*cmd, url], capture_output=True, text=True, env=env, timeout=seconds + 60)
    out = proc.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", out)
    if not rps or not total:
        raise RuntimeError(f"wrk produced no figures: {proc.stderr or out}")
    p50 = re.search(r"\s50%\s+(\S+)", out)
    p99 = re.search(r"\s99%\s+(\S+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)  # wrk's counter: status >= 400
    errors = re.search(r"Socket errors: (.*)", out)
    requests = int(total.group(1))
    elapsed = float(total.group(2)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[total.group(3)]
    bad = int(non2xx.group(1)) if non2xx else 0
    return {
        "rps": (requests - bad) / max(elapsed, 1e-9),  # successful answers only
        "all_rps": float(rps.group(1)),
        "requests": requests,
        "p50_ms": _ms(p50.group(1)) if p50 else float("nan"),
        "p99_ms": _ms(p99.group(1)) if p99 else float("nan"),
        "non_2xx": bad,
        "socket_errors": errors.group(1) if errors else "",
    }


def probe(url: str, body_file: str | None, headers: tuple[str, ...], key: str = "bench") -> str:
    """One request as wrk sends it, for a failed case's message: its status and the start of its answer."""
    hdrs = {"x-key": key, "content-type": "application/json"}
    for h in headers:
        name, _, value = h.partition(":")
        hdrs[name.strip()] = value.strip()
    try:
        if body_file:
            r = httpx.post(url, content=Path(body_file).read_bytes(), headers=hdrs, timeout=60)
        else:
            r = httpx.get(url, headers=hdrs, timeout=60)
    except httpx.HTTPError as exc:
        return f"a probe request failed: {exc!r}"
    return f"a probe request now answers {r.status_code} {r.text[:200]!r}"


def measure_case(
    name: str,
    fake_url: str,
    ceil_url: str,
    body: str | None,
    extra: tuple[str, ...],
    seconds: float,
    rounds: int,
    results: dict,
    section: str = "http",
) -> None:
    """Alternate ceiling and fake ``rounds`` times; keep each side's best round (this machine's run-to-run noise
    is ±20%). Any non-2xx answer or socket error on either side fails the case."""
    c_runs, f_runs = [], []
    for _ in range(rounds):
        c_runs.append(wrk(ceil_url, seconds, body))
        f_runs.append(wrk(fake_url, seconds, body, headers=extra))
    c_res = max(c_runs, key=lambda r: r["rps"])
    f_res = max(f_runs, key=lambda r: r["rps"])
    ratio = f_res["rps"] / max(c_res["rps"], 1e-9)
    results[section][name] = {
        "ceiling": c_res,
        "fake": f_res,
        "ratio": ratio,
        "rounds": {"ceiling": c_runs, "fake": f_runs},
    }
    print(
        f"  {name:<44} ceiling {c_res['rps']:>8.0f} rps  fake {f_res['rps']:>8.0f} rps  "
        f"ratio {ratio:.2f}  fake p50 {f_res['p50_ms']:.2f} ms p99 {f_res['p99_ms']:.2f} ms",
        flush=True,
    )
    bad = sum(r["non_2xx"] for r in f_runs)
    if bad:
        fail(f"{section}: {name}", f"{bad} non-2xx answers from the fake; {probe(fake_url, body, extra)}")
    if sum(r["non_2xx"] for r in c_runs):
        fail(f"{section}: {name}", "non-2xx answers from the ceiling")
    for side, runs in (("fake", f_runs), ("ceiling", c_runs)):
        errs = [r["socket_errors"] for r in runs if r["socket_errors"]]
        if errs:
            fail(f"{section}: {name}", f"socket errors on the {side} side: {errs[0]}")
        if not all(r["requests"] for r in runs):
            fail(f"{section}: {name}", f"no answer at all on the {side} side in a round")


# ---------------------------------------------------------------------------------------------- sections
def bench_http(seconds: float, results: dict, rounds: int = 1) -> None:
    small = control_image(0.0034, "PNG", target_bytes=10_500)  # ~10 KB of base64
    large = control_image(1.0, "JPEG", target_bytes=1_600_000)
    if len(large) < 1_000_000:
        large = control_image(1.0, "PNG")[:1_500_000]  # pad to the target size with a (broken) image
    tmp = Path(tempfile.mkdtemp(prefix="bfl-bench-"))
    bodies = {}
    for name, img in (("10KB", small), ("1.5MB", large)):
        path = tmp / f"{name}.json"
        path.write_text(json.dumps({"finetune_id": "my-finetune", "prompt": "a red cube", "control_image": img}))
        bodies[name] = str(path)
    one_mp = control_image(1.0, "JPEG")
    py = sys.executable
    uv = ["--loop", "uvloop", "--http", "httptools", "--log-level", "info", "--no-access-log"]  # info: prints the URL
    ceiling, curl = start_server([py, "-m", "uvicorn", "scripts.bench_ceiling:app", "--port", "0", *uv])
    fake, furl = start_fake(*FAKE_SETTINGS)
    eager, eurl = start_fake(*FAKE_SETTINGS, "--set", "lazy_render=false")  # image work before finishing
    try:
        with httpx.Client(base_url=furl, headers={"x-key": "bench"}, timeout=60) as c:
            pending = c.post(SUBMIT, json={"finetune_id": "f", "prompt": "p", "control_image": small}).json()["id"]
            ready = c.post(SUBMIT, json={"finetune_id": "f", "prompt": "p", "control_image": one_mp}).json()["id"]
            c.post(f"/_mock/tasks/{ready}/complete")
            sample = c.get("/v1/get_result", params={"id": ready}).json()["result"]["sample"]
            blob_size = len(c.get(sample).content)
        stop(ceiling)
        ceiling, curl = start_server(
            [py, "-m", "uvicorn", "scripts.bench_ceiling:app", "--port", "0", *uv],
            env={"BENCH_BLOB_BYTES": str(blob_size)},
        )
        no_image = ("X-Mock-Scenario: error",)  # an Error outcome: validated and stored, no image work
        cases = [
            ("poll Pending", f"{furl}/v1/get_result?id={pending}", f"{curl}/poll", None, ()),
            ("poll Ready", f"{furl}/v1/get_result?id={ready}", f"{curl}/poll", None, ()),
            ("submit 10 KB", furl + SUBMIT, f"{curl}/submit", bodies["10KB"], ()),
            ("submit 10 KB, no image work", furl + SUBMIT, f"{curl}/submit", bodies["10KB"], no_image),
            ("submit 1.5 MB", furl + SUBMIT, f"{curl}/submit", bodies["1.5MB"], ()),
            ("submit 1.5 MB, no image work", furl + SUBMIT, f"{curl}/submit", bodies["1.5MB"], no_image),
            ("submit 10 KB, lazy_render=false", eurl + SUBMIT, f"{curl}/submit", bodies["10KB"], ()),
            ("submit 1.5 MB, lazy_render=false", eurl + SUBMIT, f"{curl}/submit", bodies["1.5MB"], ()),
            (f"download 1 MP result ({blob_size // 1024} KB)", sample, f"{curl}/blob", None, ()),
        ]
        for name, fake_url, ceil_url, body, extra in cases:
            measure_case(name, fake_url, ceil_url, body, extra, seconds, rounds, results)
        with httpx.Client(base_url=furl, timeout=60) as c:
            results["http"]["fake_stats_after"] = c.get("/_mock/stats").json()
    finally:
        stop(ceiling)
        stop(fake)
        stop(eager)
        shutil.rmtree(tmp, ignore_errors=True)


def _example(prop: dict, image: str) -> object:
    """A value a JSON Schema property accepts (best effort: the probe submit says when it is not enough)."""
    for key in ("const", "default"):
        if key in prop:
            return prop[key]
    if prop.get("enum"):
        return prop["enum"][0]
    for key in ("anyOf", "oneOf"):
        options = [o for o in prop.get(key, []) if o.get("type") != "null"]
        if options:
            return _example(options[0], image)
    kind = prop.get("type")
    if kind in ("integer", "number"):
        return prop.get("minimum", 1)
    if kind == "boolean":
        return False
    if kind == "array":
        return [_example(prop.get("items") or {}, image)] * max(1, prop.get("minItems", 1))
    return "a red cube"


def family_cases(image: str) -> list[tuple[str, str, dict]]:
    """One endpoint per family of the endpoint registry (the first row of each), with a body it accepts: the
    contract kit's minimal body (every required field, unions included) with ``image`` in each image field it
    fills (for text to image: in ``image_prompt``)."""
    from mock_server.core.endpoints import ENDPOINTS
    from mock_server.core.schemas import load_request_schema

    cases, seen = [], set()
    for ep in ENDPOINTS:
        fam = ep.family
        kind = (fam.name, tuple(fam.image_fields), getattr(fam, "size_rule", ""))
        if kind in seen or not fam.image_fields:
            continue
        seen.add(kind)
        try:  # the contract kit's minimal body knows every endpoint's shape (unions included) ...
            from mock_server.contract.drift import _minimal_body

            body = {
                k: image if k in fam.image_fields and isinstance(v, str) else v for k, v in _minimal_body(ep).items()
            }
            if fam.image_fields[0] == "image_prompt":  # text to image: the optional Redux image prompt
                body["image_prompt"] = image
        except Exception:  # ... without it (no contract extra): the required fields from the request schema
            body = {"prompt": "a red cube", fam.image_fields[0]: image}
            if ep.requires_finetune:
                body["finetune_id"] = "my-finetune"
            try:
                schema = ep.schema if isinstance(ep.schema, dict) else load_request_schema(ep.schema)
            except Exception:  # a schema this bench cannot read: the body above, and the probe decides
                schema = {}
            for name in schema.get("required", []):
                if name not in body:
                    prop = schema.get("properties", {}).get(name, {})
                    body[name] = image if name in fam.image_fields else _example(prop, image)
        cases.append((f"{ep.name} ({fam.name})", ep.path, body))
    return cases


def bench_families(seconds: float, results: dict, rounds: int, fresh: bool) -> None:
    """A submit with a 10 KB input image (its image check included) on one endpoint of each family, against the
    ceiling's submit with the same body. ``fresh``: a fake of its own per family (the previous family's tasks,
    kept inputs and background renders do not weigh on the next); else one fake for all (``--quick``)."""
    small = control_image(0.0034, "PNG", target_bytes=10_500)  # ~10 KB of base64
    tmp = Path(tempfile.mkdtemp(prefix="bfl-bench-"))
    uv = ["--loop", "uvloop", "--http", "httptools", "--log-level", "info", "--no-access-log"]
    ceiling, curl = start_server([sys.executable, "-m", "uvicorn", "scripts.bench_ceiling:app", "--port", "0", *uv])
    fake, furl = (None, "") if fresh else start_fake(*FAKE_SETTINGS)
    results["families"] = {}
    try:
        for name, path, body in family_cases(small):
            body_file = tmp / f"{path.strip('/').replace('/', '_')}.json"
            body_file.write_text(json.dumps(body))
            if fresh:
                fake, furl = start_fake(*FAKE_SETTINGS)
            assert fake is not None
            try:
                first = httpx.post(furl + path, json=body, headers={"x-key": "bench"}, timeout=60)
                if first.status_code != 200:
                    fail(f"families: {name}", f"the first submit answers {first.status_code} {first.text[:200]!r}")
                    continue
                measure_case(
                    name, furl + path, f"{curl}/submit", str(body_file), (), seconds, rounds, results, "families"
                )
            finally:
                if fresh:
                    stop(fake)
    finally:
        stop(ceiling)
        if fake is not None and not fresh:
            stop(fake)
        shutil.rmtree(tmp, ignore_errors=True)
    ratios = [v["ratio"] for v in results["families"].values()]
    if ratios:
        print(f"  lowest fake / ceiling over {len(ratios)} families: {min(ratios):.2f}", flush=True)


def bench_inprocess(n: int, results: dict) -> None:
    import respx

    from mock_server.frontends.transport import respx_router
    from mock_server.mock import BflMock

    control = control_image(0.004, "PNG")
    api = "https://api.us1.bfl.ai"
    url = api + SUBMIT
    body = {"finetune_id": "my-finetune", "prompt": "a red cube", "control_image": control}
    bad: dict[int, int] = {}  # non-2xx answers by status: any fails the section

    def ok(r: httpx.Response) -> httpx.Response:
        if not 200 <= r.status_code < 300:
            bad[r.status_code] = bad.get(r.status_code, 0) + 1
        return r

    def per_call(fn, count):
        fn()  # warm up
        t = time.perf_counter()
        for _ in range(count):
            fn()
        return (time.perf_counter() - t) / count * 1e6

    cycles = max(50, n // 10)
    with respx.mock() as r, httpx.Client() as c:  # the floor: static respx answers of the same three calls
        r.get(f"{api}/v1/get_result").respond(200, json={"id": "x", "status": "Pending"})
        r.post(url).respond(200, json={"id": "x", "polling_url": f"{api}/v1/get_result?id=x"})
        r.get("https://delivery-us1.bfl.ai/x/sample.jpeg").respond(200, content=b"\xff\xd8" + b"\0" * 2000)
        static_sync = per_call(lambda: ok(c.get(f"{api}/v1/get_result?id=x")), n)

        def static_cycle():
            ok(c.post(url, json=body))
            ok(c.get(f"{api}/v1/get_result?id=x"))
            ok(c.get("https://delivery-us1.bfl.ai/x/sample.jpeg"))

        static_cycle_sync = per_call(static_cycle, cycles)

    mock = BflMock(
        frozen_clock=True,
        progression="polls:1",
        delivery_url="https://delivery-us1.bfl.ai",
        active_task_limit=0,
        credits=1e15,
        ratelimit_limit=0,
        render_workers=1,
    )
    with mock, respx_router(mock), httpx.Client(headers={"x-key": "k"}) as c:
        tid = ok(c.post(url, json=body)).json()["id"]
        poll_sync = per_call(lambda: ok(c.get(f"{api}/v1/get_result?id={tid}")), n)

        def cycle():
            r = ok(c.post(url, json=body)).json()
            res = ok(c.get(r["polling_url"])).json()
            ok(c.get(res["result"]["sample"]))

        cycle_sync = per_call(cycle, cycles)

        async def async_part():
            async with httpx.AsyncClient(headers={"x-key": "k"}) as ac:

                async def acycle():
                    r = ok(await ac.post(url, json=body)).json()
                    res = ok(await ac.get(r["polling_url"])).json()
                    ok(await ac.get(res["result"]["sample"]))

                await acycle()
                t = time.perf_counter()
                for _ in range(cycles):
                    await acycle()
                cyc = (time.perf_counter() - t) / cycles * 1e6
                t = time.perf_counter()
                for _ in range(n):
                    ok(await ac.get(f"{api}/v1/get_result?id={tid}"))
                return cyc, (time.perf_counter() - t) / n * 1e6

        cycle_async, poll_async = asyncio.run(async_part())

    modes = {}  # lazy rendering's effect: submit+poll (nobody downloads) and the full cycle, both settings
    for lazy in (True, False):
        with (
            BflMock(
                frozen_clock=True,
                progression="polls:1",
                active_task_limit=0,
                credits=1e15,
                ratelimit_limit=0,
                render_workers=1,
                lazy_render=lazy,
            ) as m,
            respx_router(m),
            httpx.Client(headers={"x-key": "k"}) as c,
        ):

            def no_download():
                ok(c.get(ok(c.post(url, json=body)).json()["polling_url"]))

            def full():
                res = ok(c.get(ok(c.post(url, json=body)).json()["polling_url"])).json()
                ok(c.get(res["result"]["sample"]))

            modes[f"lazy_render={str(lazy).lower()}"] = {
                "submit_poll_us": per_call(no_download, cycles),
                "cycle_us": per_call(full, cycles),
            }
    results["inprocess"] = {
        "static_respx_sync_us": static_sync,
        "static_respx_cycle_sync_us": static_cycle_sync,
        "poll_sync_us": poll_sync,
        "poll_async_us": poll_async,
        "cycle_sync_us": cycle_sync,
        "cycle_async_us": cycle_async,
        "poll_sync_ratio_to_static": poll_sync / static_sync,
        "cycle_sync_in_static_calls": cycle_sync / static_sync,
        "modes": modes,
        "non_2xx": bad,
    }
    print(f"  static respx response (sync)      {static_sync:8.0f} µs/call")
    print(
        f"  poll through bfl_mock sync/async  {poll_sync:8.0f} / {poll_async:.0f} µs/call "
        f"({poll_sync / static_sync:.2f}x static)"
    )
    print(
        f"  submit -> poll -> download        {cycle_sync:8.0f} µs sync, {cycle_async:.0f} µs async "
        f"(64x64 control image) = {cycle_sync / static_sync:.1f} static respx calls; the same three calls "
        f"answered statically {static_cycle_sync:.0f} µs",
        flush=True,
    )
    for mode, m in modes.items():
        print(f"  {mode:<20} submit+poll {m['submit_poll_us']:8.0f} µs   submit+poll+download {m['cycle_us']:8.0f} µs")
    if bad:
        fail("inprocess", f"non-2xx answers {bad}")


def rss_child(n: int) -> None:
    """Runs in a child process: N tasks with 1 MP control images, all completed; prints peak RSS."""
    from mock_server.http.types import HttpRequest
    from mock_server.mock import BflMock

    control = control_image(1.0, "JPEG")
    body = json.dumps({"finetune_id": "my-finetune", "prompt": "a red cube", "control_image": control}).encode()
    mock = BflMock(frozen_clock=True, progression="polls:1", active_task_limit=0, credits=1e15, ratelimit_limit=0)
    headers = {"x-key": "k", "content-type": "application/json"}
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    ids = []
    for _ in range(n):
        r = mock.serve(HttpRequest("POST", SUBMIT, "", headers, body, "http", "localhost"))
        ids.append(json.loads(r.body)["id"])
    ready = 0
    for tid in ids:
        r = mock.serve(HttpRequest("GET", "/v1/get_result", f"id={tid}", headers, b"", "http", "localhost"))
        ready += json.loads(r.body)["status"] == "Ready"
    elapsed = time.perf_counter() - t
    stats = mock.backend.stats()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "tasks": n,
                "ready": ready,
                "peak_rss_mb": peak / 1024,
                "baseline_rss_mb": base_rss / 1024,
                "seconds": elapsed,
                "stats": stats,
            }
        )
    )
    mock.close()


def bench_rss(n: int, results: dict) -> None:
    out = subprocess.run(
        [sys.executable, __file__, "--rss-child", str(n)], capture_output=True, text=True, cwd=ROOT, timeout=3600
    )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    results["rss"] = data
    print(
        f"  {data['tasks']} tasks with 1 MP control images, {data['ready']} Ready: peak RSS "
        f"{data['peak_rss_mb']:.0f} MB (interpreter + libraries {data['baseline_rss_mb']:.0f} MB), "
        f"{data['seconds']:.0f} s; results {data['stats']['results']}",
        flush=True,
    )


def bench_webhooks(n: int, results: dict) -> None:
    """Submit+poll latency of n tasks, with and without webhooks to a receiver in another process."""
    py = sys.executable
    receiver_code = (
        "import time\nfrom mock_server.frontends.server import WebhookReceiver\n"
        "r = WebhookReceiver().start()\nprint('receiver at', r.url, flush=True)\ntime.sleep(3600)\n"
    )
    recv, rurl = start_server([py, "-c", receiver_code])
    fake, furl = start_fake("--progression", "polls:2,after=0.05", *UNLIMITED, "--webhook-allow", "loopback")
    control = control_image(0.004, "PNG")

    async def run(with_webhooks: bool) -> dict[str, float]:
        submit_ms: list[float] = []
        poll_ms: list[float] = []
        sem = asyncio.Semaphore(32)
        async with httpx.AsyncClient(base_url=furl, headers={"x-key": "wh"}, timeout=30) as c:

            async def one(i: int) -> str:
                async with sem:
                    body = {"finetune_id": "f", "prompt": "p", "control_image": control}
                    if with_webhooks:
                        body["webhook_url"] = f"{rurl}/t/{i}"
                    t = time.perf_counter()
                    r = await c.post(SUBMIT, json=body)
                    submit_ms.append((time.perf_counter() - t) * 1000)
                    tid = r.json()["id"]
                    for _ in range(2):
                        t = time.perf_counter()
                        await c.get("/v1/get_result", params={"id": tid})
                        poll_ms.append((time.perf_counter() - t) * 1000)
                    return tid

            ids = await asyncio.gather(*[one(i) for i in range(n)])
            delivered = 0
            if with_webhooks:
                for tid in ids:
                    w = (await c.get("/_mock/webhooks/wait", params={"task_id": tid, "timeout": 30})).json()
                    delivered += w.get("state") == "delivered"

        def q(xs: list[float], p: float) -> float:
            return statistics.quantiles(xs, n=100)[int(p) - 1]

        return {
            "submit_p50_ms": q(submit_ms, 50),
            "submit_p99_ms": q(submit_ms, 99),
            "poll_p50_ms": q(poll_ms, 50),
            "poll_p99_ms": q(poll_ms, 99),
            "delivered": delivered,
        }

    try:
        base = asyncio.run(run(False))
        hooks = asyncio.run(run(True))
    finally:
        stop(fake)
        stop(recv)
    results["webhooks"] = {"without": base, "with": hooks}
    for k in ("submit_p50_ms", "submit_p99_ms", "poll_p50_ms", "poll_p99_ms"):
        print(f"  {k:<14} without {base[k]:6.2f}  with webhooks {hooks[k]:6.2f}  ratio {hooks[k] / base[k]:.2f}")
    print(f"  {n} webhook tasks: {hooks['delivered']} notifications delivered", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="CI smoke: seconds, not minutes")
    parser.add_argument("--seconds", type=float, default=None, help="wrk duration per case")
    parser.add_argument("--rss-tasks", type=int, default=None)
    parser.add_argument(
        "--only", default=None, help="comma list: http,families,inprocess,rss,webhooks (http includes families)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the benchmarked fakes, after the bench's own (e.g. credits=0 to see a case fail)",
    )
    parser.add_argument("--rss-child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    for setting in args.set:
        FAKE_SETTINGS.extend(["--set", setting])
    if args.rss_child is not None:
        rss_child(args.rss_child)
        return 0
    seconds = args.seconds or (1 if args.quick else 5)
    rss_tasks = args.rss_tasks or (200 if args.quick else 10_000)
    only = set((args.only or "http,inprocess,rss,webhooks").split(","))
    results: dict = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} cores",
        "python": sys.version.split()[0],
        "http": {},
    }
    if "http" in only:
        if shutil.which("wrk") is None:
            print("bench: wrk is not installed (make bench installs it with apt-get)", file=sys.stderr)
            return 2
        rounds = 1 if args.quick else 3
        print(
            f"HTTP (wrk -t1 -c32, best of {rounds} x {seconds:g} s per side, uvicorn + uvloop + httptools):", flush=True
        )
        bench_http(seconds, results, rounds)
    if "http" in only or "families" in only:
        if shutil.which("wrk") is None:
            print("bench: wrk is not installed (make bench installs it with apt-get)", file=sys.stderr)
            return 2
        rounds = 1 if args.quick else 3
        print(f"Submit with a 10 KB input image, one endpoint per family (wrk, best of {rounds}):", flush=True)
        bench_families(seconds, results, rounds, fresh=not args.quick)
    if "inprocess" in only:
        print("In-process (bfl_mock fixture path):", flush=True)
        bench_inprocess(300 if args.quick else 3000, results)
    if "webhooks" in only:
        print("Webhooks (latency with vs without, 32 concurrent clients):", flush=True)
        bench_webhooks(100 if args.quick else 500, results)
    if "rss" in only:
        print("Memory:", flush=True)
        bench_rss(rss_tasks, results)
    out = ROOT / "reports" / ("bench-quick.json" if args.quick else "bench.json")
    out.parent.mkdir(exist_ok=True)
    results["failures"] = FAILURES
    out.write_text(json.dumps(results, indent=2))
    print(f"written {out.relative_to(ROOT)}")
    if FAILURES:
        print(f"bench: FAILED, {len(FAILURES)} case(s) got answers other than 2xx:", file=sys.stderr)
        for f in FAILURES:
            print(f"  {f}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
