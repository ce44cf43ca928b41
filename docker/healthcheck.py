#!/usr/bin/env python3
"""The image's HEALTHCHECK: GET /health on the port the running ``bfl-mock serve`` was given.

The port comes from the server's own command line (``--port N`` / ``--port=N``), else BFL_MOCK_PORT, else
the config file's ``port`` (BFL_MOCK_CONFIG / ``--config``), else 8787; ``--tls`` means https (the local CA
signs the leaf; this loopback probe does not verify it). Exit 0 when /health answers {"status": "ok"}.
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import urllib.request
from pathlib import Path


def server_args(procs: list[Path] | None = None) -> list[str]:
    """The arguments after ``serve`` of the first ``bfl-mock serve`` process (pid 1 in the container)."""
    for proc in (
        sorted(Path("/proc").iterdir(), key=lambda p: int(p.name) if p.name.isdigit() else 0)
        if procs is None
        else procs
    ):
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        names = [os.path.basename(a) for a in argv]
        if "bfl-mock" in names and "serve" in argv:
            return argv[argv.index("serve") + 1 :]
    return []


def option(args: list[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def config_port(path: str | None) -> str | None:
    if not path:
        return None
    try:
        import yaml  # the package depends on PyYAML; JSON is YAML too

        data = yaml.safe_load(Path(path).read_text())
    except Exception:
        return None
    if isinstance(data, dict):
        port = data.get(
            "port", (data.get("settings") or {}).get("port") if isinstance(data.get("settings"), dict) else None
        )
        return str(port) if port is not None else None
    return None


def main() -> int:
    args = server_args()
    port = (
        option(args, "--port")
        or os.environ.get("BFL_MOCK_PORT")
        or config_port(option(args, "--config") or os.environ.get("BFL_MOCK_CONFIG"))
        or "8787"
    )
    tls = "--tls" in args or os.environ.get("BFL_MOCK_TLS", "").lower() not in ("", "0", "false")
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/health"
    context = ssl._create_unverified_context() if tls else None  # loopback liveness probe only
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as r:
            ok = r.status == 200 and json.loads(r.read()).get("status") == "ok"
    except Exception as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1
    print(f"healthy: {url}" if ok else f"unhealthy: {url}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
