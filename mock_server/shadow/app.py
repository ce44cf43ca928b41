"""The shadow's ASGI application: forward, answer, then (off the app's path) predict and compare.

The app's answer never waits for the fake: the exchange is queued after the last byte went back, and one
worker thread compares exchanges in the order they finished (a poll after its submit). The queue is
bounded (``max_in_flight``); when it is full an exchange is counted as not compared, never delayed.
``/_mock/shadow`` is the report (GET; DELETE clears it); the rest of ``/_mock/`` and ``/health`` are the
prediction fake's own admin API and dashboard (its Shadow page reads ``/_mock/shadow``).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import queue
import threading
import time
from typing import Any

from mock_server.frontends.asgi import BodyTooLarge, Disconnected, read_body
from mock_server.shadow.exchange import Exchange
from mock_server.shadow.forward import HOP_BY_HOP, Upstream
from mock_server.shadow.predict import Predictor
from mock_server.shadow.report import Report

log = logging.getLogger("bfl_mock.shadow")

COMPARE_LIMIT = 64 * 1024 * 1024  # answer bytes kept for comparison (a media answer's header is at its start)
MAX_BODY = 256 * 1024 * 1024  # request bodies above this are refused (413), never buffered


class ShadowApp:
    def __init__(
        self,
        upstream: Upstream,
        mock: Any,
        *,
        report: Report | None = None,
        recorder: Any = None,
        max_in_flight: int = 1000,
        max_body: int = MAX_BODY,
        access_log: Any = None,
    ) -> None:
        from mock_server.frontends.asgi import create_app

        self.upstream = upstream
        self.mock = mock
        self.report = report or Report(upstream=upstream.origin)
        self.recorder = recorder
        self.predictor = Predictor(mock)
        self.admin = create_app(mock, close_on_shutdown=False)
        self.max_body = max_body
        self.access_log = access_log  # frontends.asgi.AccessLog (--access-log): key and signatures redacted
        self._queue: queue.Queue[Exchange | None] = queue.Queue(maxsize=max_in_flight)
        self._seq = itertools.count(1)  # two listeners (base URL, proxy) on two threads: one sequence
        self._worker = threading.Thread(target=self._work, name="bfl-mock-shadow-compare", daemon=True)
        self._worker.start()
        self._idle = threading.Condition()
        self._busy = 0

    # ------------------------------------------------------------------ comparing, off the app's path
    def _work(self) -> None:
        while True:
            ex = self._queue.get()
            if ex is None:
                return
            try:
                if self.recorder is not None:
                    self.recorder.record(ex)
                before = self.predictor.unpredicted
                divergences = self.predictor.compare(ex)
                self.report.add(divergences)
                self.report.unpredicted += self.predictor.unpredicted - before
            except Exception:  # a bug in a rule must not stop the shadow; said once per exchange
                log.exception("shadow: comparing %s %s failed", ex.method, ex.path)
            finally:
                self._end()

    def _begin(self) -> None:
        """An exchange is under way: ``drain`` waits for it (it is compared, or given up, before it ends)."""
        with self._idle:
            self._busy += 1

    def _end(self) -> None:
        with self._idle:
            self._busy = max(0, self._busy - 1)
            self._idle.notify_all()

    def _enqueue(self, ex: Exchange) -> bool:
        try:
            self._queue.put_nowait(ex)
        except queue.Full:
            self.report.count("skipped")
            return False
        return True

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every queued exchange was compared (tests, and before the final report)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self) -> None:
        self.drain(10)
        self._queue.put(None)
        self._worker.join(5)

    # ------------------------------------------------------------------ ASGI
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.upstream.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1000})
            return
        path = scope["path"]
        if path == "/_mock/shadow":
            await self._report(scope, send)
            return
        if path.startswith("/_mock/") or path in ("/_mock", "/health"):
            await self.admin(scope, receive, send)
            return
        await self.forward(scope, receive, send)

    async def forward(self, scope: dict[str, Any], receive: Any, send: Any, upstream: Upstream | None = None) -> None:
        """Forward one request (to ``upstream``, default the one named with ``--upstream``)."""
        self._begin()
        queued = False
        start = time.perf_counter()
        logged = _Logged()

        async def logging_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                logged.status = message["status"]
            else:
                logged.body.n += len(message.get("body", b""))
            await send(message)

        try:
            queued = await self._forward(scope, receive, logging_send if self.access_log else send, upstream)
        finally:
            if not queued:
                self._end()
            if self.access_log is not None and logged.status:
                self.access_log.write(scope, logged, start)

    async def _refusal(self, scope: dict[str, Any]) -> tuple[int, list[Any], bytes] | None:
        """The fake's own admin guards (admin token or sign-in cookie, loopback, DNS rebinding) applied to the
        report: it asks the fake's admin API for its clock with the same headers; None when that is allowed."""
        probe = {**scope, "path": "/_mock/clock", "raw_path": b"/_mock/clock", "method": "GET", "query_string": b""}
        answer: dict[str, Any] = {"body": b""}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def keep(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answer["status"], answer["headers"] = message["status"], message.get("headers", [])
            else:
                answer["body"] += message.get("body", b"")

        await self.admin(probe, receive, keep)
        if answer.get("status") == 200:
            return None
        return answer.get("status", 403), answer.get("headers", []), answer["body"]

    async def _report(self, scope: dict[str, Any], send: Any) -> None:
        refused = await self._refusal(scope)
        if refused is not None:
            status, headers, body = refused
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        method = scope["method"]
        if method == "DELETE":
            self.report.reset()
            await _json(send, 200, {"cleared": True})
        elif method == "GET":
            extra = {"recording": self.recorder.stats()} if self.recorder is not None else {}
            await _json(send, 200, self.report.as_dict(extra))
        else:
            await _json(send, 405, {"detail": "Method Not Allowed"})

    async def _forward(self, scope: dict[str, Any], receive: Any, send: Any, upstream: Upstream | None = None) -> bool:
        """Forward one request and stream its answer back; True when the exchange was queued for comparison
        (queued before the answer's last byte goes out, so whoever got the answer can ``drain`` for it)."""
        upstream = upstream or self.upstream
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        try:
            body = await read_body(receive, self.max_body, None)
        except Disconnected:  # the app went away
            return False
        except BodyTooLarge:  # more than the shadow holds: refused before anything is sent upstream
            await _json(send, 413, {"detail": f"bfl-mock shadow: request body above {self.max_body} bytes"})
            return False
        ex = Exchange(
            method=scope["method"],
            path=scope["path"],
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=body,
            started=time.time(),
            seq=next(self._seq),
        )
        self.report.count("exchanges")
        start = time.perf_counter()
        raw_path = scope.get("raw_path") or scope["path"].encode()
        target = raw_path.decode("latin-1") + (f"?{ex.query}" if ex.query else "")
        try:
            resp = await upstream.send(ex.method, target, headers, body)
        except Exception as e:  # no answer: said as a gateway would, and counted; nothing to compare
            self.report.count("upstream_errors")
            timeout = "Timeout" in type(e).__name__
            ex.error = type(e).__name__
            status = 504 if timeout else 502
            what = "did not answer in time" if timeout else f"could not be reached ({type(e).__name__})"
            await _json(send, status, {"detail": f"bfl-mock shadow: the upstream {upstream.origin} {what}"})
            return False
        kept: list[bytes] = []
        size = 0
        digest = hashlib.sha256()
        try:
            out_headers = [(k, v) for k, v in resp.headers if k.decode("latin-1").lower() not in HOP_BY_HOP]
            ex.status = resp.status
            ex.response_headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in out_headers]
            await send({"type": "http.response.start", "status": resp.status, "headers": out_headers})
            async for chunk in resp.chunks():
                if not chunk:
                    continue
                size += len(chunk)
                digest.update(chunk)
                if size <= COMPARE_LIMIT:
                    kept.append(chunk)
                else:
                    ex.truncated = True
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            ex.response_body = b"".join(kept)
            ex.response_size = size
            ex.response_sha256 = digest.hexdigest()
            ex.duration_ms = (time.perf_counter() - start) * 1000
            queued = self._enqueue(ex)
            with contextlib.suppress(Exception):  # the app may be gone: the exchange is queued all the same
                await send({"type": "http.response.body", "body": b""})
            return queued
        except Exception as e:  # the upstream broke mid-answer: the app sees it break, as it would directly
            ex.error = f"answer broken: {type(e).__name__}"
            self.report.count("upstream_errors")
            raise
        finally:
            await resp.aclose()


async def _json(send: Any, status: int, obj: Any) -> None:
    body = json.dumps(obj, separators=(",", ":"), default=str).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _Size:
    def __init__(self) -> None:
        self.n = 0

    def __len__(self) -> int:
        return self.n


class _Logged:
    """What the access log reads of an answer (its status and length) for one the shadow streamed."""

    def __init__(self) -> None:
        self.status = 0
        self.body = _Size()


class ProxiedShadow:
    """The shadow behind the intercepting proxy (``bfl-mock shadow --proxy-port N``, for apps that use
    ``HTTPS_PROXY``): the proxy terminates TLS for BFL's hosts only (``mock_server.tls``), and each request
    is forwarded to ``https://<the host the app called>``, so polls on a regional host and downloads from a
    delivery host are checked too. One pool per host, created on the proxy's own event loop, at most
    ``MAX_HOSTS``. ``origins`` maps a host to another origin (tests: a local stand-in)."""

    MAX_HOSTS = 64

    def __init__(self, shadow: ShadowApp, *, origins: dict[str, str] | None = None) -> None:
        self.shadow = shadow
        self.origins = dict(origins or {})
        self._upstreams: dict[str, Upstream] = {}

    def upstream_for(self, host: str) -> Upstream | None:
        from mock_server.shadow.forward import UpstreamOptions, host_allowed

        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        name = name.lower()
        up = self._upstreams.get(name)
        if up is not None:
            return up
        if not host_allowed(name) or len(self._upstreams) >= self.MAX_HOSTS:
            return None
        origin = self.origins.get(name, f"https://{name}")
        base = self.shadow.upstream.options
        allow = (*base.allow, "loopback") if name in self.origins else base.allow
        up = Upstream(UpstreamOptions(origin, allow=allow, timeout=base.timeout, connect_timeout=base.connect_timeout))
        self._upstreams[name] = up
        return up

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.shadow(scope, receive, send)
            return
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
        upstream = self.upstream_for(host)
        if upstream is None:
            await _json(send, 403, {"detail": f"bfl-mock shadow: {host or 'no host'} is not one of BFL's hosts"})
            return
        await self.shadow.forward(scope, receive, send, upstream)
