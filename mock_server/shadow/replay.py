"""Answering from recorded cassettes (``bfl-mock serve --replay DIR``), and checking the fake against them
offline (``bfl-mock contract --cassettes DIR``).

Matching (WireMock's scenarios, made implicit): a request matches a recorded one with the same method, path,
query (parameters sorted) and normalised body (JSON parsed, scrubbed as recordings are, keys sorted; so the
same image matches by its hash, and the key never matters). Repeated requests get the recorded answers in
recorded order, and the last one again once they run out: a poll sequence replays Pending, Pending, Ready,
Ready... An unmatched request goes to the fake (``--replay-unmatched fake``, the default) or is refused with
501 (``refuse``); either way it is counted in ``/_mock/replay``.
"""

from __future__ import annotations

import io
import json
import threading
from collections import deque
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from mock_server.shadow.cassettes import interactions, media_facts, scrub_json, to_exchange

DROP_ON_REPLAY = frozenset({"content-length", "transfer-encoding", "content-encoding", "connection"})
MAX_UNMATCHED = 100  # unmatched requests listed in the report (all are counted)


def normalised_body(body: bytes | str) -> str:
    if not body:
        return ""
    try:
        return json.dumps(scrub_json(json.loads(body)), sort_keys=True, separators=(",", ":"))
    except ValueError:
        return body if isinstance(body, str) else body.decode("utf-8", "replace")


def match_key(method: str, path: str, query: str, body: bytes | str) -> tuple[str, str, str, str]:
    q = "&".join(f"{k}={v}" for k, v in sorted(parse_qsl(query, keep_blank_values=True)))
    return (method.upper(), path, q, normalised_body(body))


class Recorded:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body


def _media(text: str, base: Path) -> bytes | None:
    """A media answer's bytes: the kept file, or an image of the recorded format and size."""
    import re

    m = re.search(r" file ([\w.\-/]+)>$", text)
    if m:
        path = (base / m[1]).resolve()
        if path.is_file() and base.resolve() in path.parents:
            return path.read_bytes()
    facts = media_facts(text)
    if facts is None or facts.get("format") not in ("jpeg", "png", "webp"):
        return None
    from PIL import Image

    w, h = facts.get("size") or [64, 64]
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (128, 128, 128)).save(buf, format=facts["format"].upper())
    return buf.getvalue()


class Replayer:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.answers: dict[tuple[str, str, str, str], deque[Recorded]] = {}
        self.last: dict[tuple[str, str, str, str], Recorded] = {}
        self.loaded = 0
        for path, item in interactions(directory):
            ex, _ = to_exchange(item)
            resp = item.get("response") or {}
            raw = resp.get("body") or ""
            text = raw.decode("latin-1") if isinstance(raw, bytes) else str(raw)
            body = _media(text, path.parent) if ex.facts is not None else ex.response_body
            headers = [(k, v) for k, v in ex.response_headers if k.lower() not in DROP_ON_REPLAY]
            key = match_key(ex.method, ex.path, ex.query, str((item["request"]).get("body") or ""))
            self.answers.setdefault(key, deque()).append(Recorded(ex.status, headers, body or b""))
            self.loaded += 1
        self.matched = 0
        self.unmatched = 0
        self.unmatched_list: list[dict[str, str]] = []
        self._lock = threading.Lock()

    def answer(self, method: str, path: str, query: str, body: bytes) -> Recorded | None:
        key = match_key(method, path, query, body)
        with self._lock:
            queue = self.answers.get(key)
            rec: Recorded | None
            if queue:
                rec = queue.popleft()
                self.last[key] = rec
            else:
                rec = self.last.get(key)
            if rec is None:
                self.unmatched += 1
                if len(self.unmatched_list) < MAX_UNMATCHED:
                    self.unmatched_list.append({"method": method, "path": path, "query": query[:200]})
                return None
            self.matched += 1
            return rec

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "directory": str(self.directory),
                "recorded": self.loaded,
                "matched": self.matched,
                "unmatched": self.unmatched,
                "unmatched_requests": list(self.unmatched_list),
            }


class ReplayApp:
    """ASGI: recorded answers first, then the fake (or a 501) for what was not recorded."""

    def __init__(self, replayer: Replayer, fallback: Any, *, unmatched: str = "fake") -> None:
        self.replayer = replayer
        self.fallback = fallback
        self.unmatched = unmatched

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.fallback(scope, receive, send)
            return
        path = scope["path"]
        if path == "/_mock/replay":
            await _send(send, 200, [("content-type", "application/json")], json.dumps(self.replayer.stats()).encode())
            return
        if path.startswith("/_mock") or path == "/health":
            await self.fallback(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        query = scope.get("query_string", b"").decode("latin-1")
        rec = self.replayer.answer(scope["method"], path, query, body)
        if rec is not None:
            await _send(send, rec.status, rec.headers, rec.body)
            return
        if self.unmatched == "refuse":
            detail = f"bfl-mock replay: no recorded answer for {scope['method']} {path} (see /_mock/replay)"
            await _send(send, 501, [("content-type", "application/json")], json.dumps({"detail": detail}).encode())
            return
        sent = False

        async def again() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.fallback(scope, again, send)


async def _send(send: Any, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def check_cassettes(directory: Path, mock: Any) -> tuple[int, list[Any]]:
    """Every recorded exchange compared with ``mock``'s prediction (``mock`` with ``progression=manual``):
    ``(exchanges, divergences)``, one entry per difference (see ``Report``)."""
    from mock_server.shadow.predict import Predictor
    from mock_server.shadow.report import Report

    predictor = Predictor(mock)
    report = Report(upstream=str(directory))
    count = 0
    for path, item in interactions(directory):
        ex, _ = to_exchange(item, seq=count)
        count += 1
        report.exchanges += 1
        divergences = predictor.compare(ex)
        for d in divergences:  # where it was first seen (one entry per difference, with a count)
            if isinstance(d.request, dict):
                d.request["cassette"] = f"{path.name} #{item.get('id', count - 1)}"
        report.add(divergences)
    report.unpredicted = predictor.unpredicted
    return count, report.divergences
