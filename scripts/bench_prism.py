"""``make bench-prism``: Stoplight Prism mocking this endpoint (from the fake's own /openapi.json), the bare
Starlette ceiling and the fake, in one session, same wrk settings. Prism is installed with npm into
.bench-prism/ (the npm registry) by the Makefile target."""

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import (
    FAKE_SETTINGS,
    control_image,
    start_fake,
    start_server,
    stop,
    wrk,
)

ROOT = Path(__file__).resolve().parent.parent
py = sys.executable
uv = ["--loop", "uvloop", "--http", "httptools", "--log-level", "info", "--no-access-log"]
ceiling, curl = start_server([py, "-m", "uvicorn", "scripts.bench_ceiling:app", "--port", "0", *uv])
fake, furl = start_fake(*FAKE_SETTINGS)
body = str(ROOT / "reports" / "prism-body-10k.json")
Path(body).parent.mkdir(exist_ok=True)
Path(body).write_text(
    json.dumps(
        {
            "finetune_id": "my-finetune",
            "prompt": "a red cube",
            "control_image": control_image(0.0034, "PNG", target_bytes=10_500),
        }
    )
)
from mock_server.core.config import Settings  # noqa: E402
from mock_server.http.openapi import build_openapi  # noqa: E402

spec = build_openapi(Settings())
spec["paths"] = {k: v for k, v in spec["paths"].items() if k in ("/v1/flux-pro-1.0-canny-finetuned", "/v1/get_result")}
(ROOT / "reports" / "prism-spec.json").write_text(json.dumps(spec))
prism = subprocess.Popen(
    [
        str(ROOT / ".bench-prism" / "node_modules" / ".bin" / "prism"),
        "mock",
        "-p",
        "4010",
        "-h",
        "127.0.0.1",
        str(ROOT / "reports" / "prism-spec.json"),
    ],
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
)
for _ in range(200):
    try:
        httpx.get("http://127.0.0.1:4010/v1/get_result?id=x", timeout=1)
        break
    except httpx.HTTPError:
        time.sleep(0.1)
with httpx.Client(base_url=furl, headers={"x-key": "b"}) as c:
    tid = c.post(
        "/v1/flux-pro-1.0-canny-finetuned",
        content=Path(body).read_bytes(),
        headers={"content-type": "application/json"},
    ).json()["id"]
rows = {}
try:
    for name, urls in {
        "GET poll": (f"{curl}/poll", f"{furl}/v1/get_result?id={tid}", "http://127.0.0.1:4010/v1/get_result?id=x"),
        "POST submit 10 KB": (
            f"{curl}/submit",
            furl + "/v1/flux-pro-1.0-canny-finetuned",
            "http://127.0.0.1:4010/v1/flux-pro-1.0-canny-finetuned",
        ),
    }.items():
        b = body if name.startswith("POST") else None
        res = [max((wrk(u, 5, b) for _ in range(2)), key=lambda r: r["rps"]) for u in urls]
        rows[name] = [round(r["rps"]) for r in res]
        print(name, "ceiling / fake / prism rps:", rows[name], "non-2xx:", [r["non_2xx"] for r in res], flush=True)
finally:
    stop(ceiling)
    stop(fake)
    stop(prism)
(ROOT / "reports" / "prism.json").write_text(json.dumps(rows, indent=2))
