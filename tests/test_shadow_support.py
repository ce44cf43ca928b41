"""Stand-in upstreams and a running shadow for the shadow tests (no tests of its own)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from PIL import Image

from mock_server.frontends.asgi import create_app
from mock_server.frontends.server import ThreadedServer
from mock_server.mock import BflMock
from mock_server.shadow.app import ShadowApp
from mock_server.shadow.forward import Upstream, UpstreamOptions


class Recording:
    """A raw ASGI upstream that records every request as received and answers as told."""

    def __init__(self, answer: Callable[[dict[str, Any]], tuple[int, list[tuple[bytes, bytes]], list[bytes]]]):
        self.answer = answer
        self.received: list[dict[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                m = await receive()
                await send({"type": m["type"] + ".complete"})
                if m["type"] == "lifespan.shutdown":
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            m = await receive()
            body += m.get("body", b"")
            if not m.get("more_body"):
                break
        req = {
            "method": scope["method"],
            "target": scope["raw_path"].decode()
            + (f"?{scope['query_string'].decode()}" if scope["query_string"] else ""),
            "headers": [(k.decode(), v.decode()) for k, v in scope["headers"]],
            "body": body,
        }
        self.received.append(req)
        status, headers, chunks = self.answer(req)
        if status == 0:  # a hung upstream (longer than the shadow's timeout in the test)
            await asyncio.sleep(1.5)
            status = 200
        await send({"type": "http.response.start", "status": status, "headers": headers})
        for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


class Planted:
    """A served fake with deliberate differences, chosen by a word in the prompt (or by task)."""

    def __init__(self, mock: BflMock) -> None:
        self.mock = mock
        self.app = create_app(mock, close_on_shutdown=False)
        self.size_tasks: set[str] = set()
        self.size_paths: set[str] = set()
        mock.add_rule({"prompt_contains": "plant-poll"}, {"status": "Error", "error": "boom"})

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            m = await receive()
            body += m.get("body", b"")
            if not m.get("more_body"):
                break
        text = body.decode("utf-8", "replace")
        if "plant-bound" in text:
            detail = [
                {
                    "type": "less_than_equal",
                    "loc": ["body", "width"],
                    "msg": "Input should be less than or equal to 512",
                    "input": 1024,
                    "ctx": {"le": 512},
                }
            ]
            await _send_json(send, 422, {"detail": detail})
            return
        if "plant-status" in text:
            await _send_json(send, 402, {"detail": "Insufficient credits"})
            return
        sent = False

        async def again() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        captured: dict[str, Any] = {"headers": [], "body": b""}

        async def keep(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                captured["status"], captured["headers"] = message["status"], message["headers"]
            else:
                captured["body"] += message.get("body", b"")

        await self.app(scope, again, keep)
        status, headers, out = captured["status"], captured["headers"], captured["body"]
        if "plant-msg" in text and status == 422:
            data = json.loads(out)
            data["detail"][0]["msg"] = "Input should be a multiple of 16"
            out = json.dumps(data).encode()
        elif "plant-key" in text and status == 200:
            out = json.dumps({**json.loads(out), "region": "eu4"}).encode()
        elif "plant-size" in text and status == 200:
            self.size_tasks.add(json.loads(out)["id"])
        elif scope["path"] == "/v1/get_result" and status == 200:
            data = json.loads(out)
            if data["id"] in self.size_tasks and data["status"] == "Ready":
                self.size_paths.add(httpx.URL(data["result"]["sample"]).path)
        elif scope["path"] in self.size_paths:
            buf = io.BytesIO()
            Image.new("RGB", (100, 60), (1, 2, 3)).save(buf, "JPEG")
            out = buf.getvalue()
        headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(out)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": out})


async def _send_json(send: Any, status: int, obj: Any) -> None:
    body = json.dumps(obj).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@contextmanager
def shadow_of(
    upstream_app: Any, *, recorder: Any = None, timeout: float = 30.0, **settings: Any
) -> Iterator[tuple[ShadowApp, str]]:
    """A stand-in upstream served on a free loopback port, and a shadow in front of it."""
    with ThreadedServer(upstream_app) as upstream:
        mock = BflMock(progression="manual", seed=2, **settings)
        up = Upstream(UpstreamOptions(upstream.url, allow=("loopback",), timeout=timeout))
        app = ShadowApp(up, mock, recorder=recorder)
        try:
            with ThreadedServer(app) as server:
                yield app, server.url
        finally:
            app.close()
            mock.close()


def png(width: int = 64, height: int = 64) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def minimal_body(endpoint: Any) -> dict[str, Any]:
    """A body ``endpoint`` accepts: its required fields, images as a small PNG (the contract kit's, which
    knows every endpoint's schema, the December additions' inline and union schemas included)."""
    from mock_server.contract.drift import _minimal_body

    return _minimal_body(endpoint)


def run_task(client: httpx.Client, base: str, path: str, body: dict[str, Any], polls: int = 10) -> list[httpx.Response]:
    """Submit, poll until finished, download: every answer, as an app following the URLs through the shadow."""
    answers = [client.post(path, json=body)]
    if answers[0].status_code != 200:
        return answers
    poll = httpx.URL(answers[0].json()["polling_url"])
    for _ in range(polls):
        r = client.get(f"{base}{poll.path}?{poll.query.decode()}")
        answers.append(r)
        if r.status_code != 200 or r.json()["status"] not in ("Pending", "Reasoning", "Generating"):
            break
    last = answers[-1]
    if last.status_code == 200 and last.json()["status"] == "Ready":
        sample = httpx.URL(last.json()["result"]["sample"])
        answers.append(client.get(f"{base}{sample.path}?{sample.query.decode()}"))
    return answers
