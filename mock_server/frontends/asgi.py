"""ASGI front ends served by uvicorn (``bfl-mock serve``, the ``bfl_server`` fixture).

``create_app(mock)`` is a lean ASGI application: the fake has one catch-all route, so it skips a
router and middleware stack and hands each request straight to ``MockHTTP`` via
``BflMock.serve_async``. ``create_starlette_app(mock)`` wraps the same handler in a Starlette
application for users who mount the fake inside their own Starlette/FastAPI app. Both stream bodies
with a size limit (413 before the whole body is held in memory) and await image work off the event loop.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mock_server.core.errors import is_admin_path
from mock_server.core.redact import JOURNAL
from mock_server.http.admin.auth import foreign_host
from mock_server.http.types import HttpRequest, HttpResponse, error_response
from mock_server.http.validation import dumps

if TYPE_CHECKING:
    from mock_server.http.types import Servable as BflMock

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class BodyTooLarge(Exception):
    pass


class Disconnected(Exception):
    pass


def _too_large(limit: int) -> HttpResponse:
    return HttpResponse.json(413, {"detail": f"Content Too Large: the request body exceeds {limit} bytes"})


_JSON_ONLY = [("content-type", "application/json")]
_JSON_RAW = (b"content-type", b"application/json")


def raw_headers(resp: HttpResponse) -> list[tuple[bytes, bytes]]:
    if resp.headers == _JSON_ONLY and resp.status >= 200 and resp.status not in (204, 304):  # most answers
        return [_JSON_RAW, (b"content-length", str(len(resp.body)).encode())]
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in resp.headers]
    if resp.status >= 200 and resp.status not in (204, 304) and not any(k == b"content-length" for k, _ in raw):
        raw.append((b"content-length", str(len(resp.body)).encode()))
    return raw


class RawResponse(Response):
    """A Starlette response built once from ``HttpResponse`` (its headers are already final)."""

    def __init__(self, resp: HttpResponse) -> None:
        self.status_code = resp.status
        self.body = resp.body
        self.background = None
        self.raw_headers = raw_headers(resp)


async def read_body(receive: Receive, limit: int, declared: str | None) -> bytes:
    if declared is not None:
        try:
            if int(declared) > limit:
                raise BodyTooLarge
        except ValueError:
            pass
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def handle_http(mock: BflMock, scope: dict[str, Any], receive: Receive) -> HttpResponse | None:
    """Build the request from an ASGI scope, read its body (with the limit) and answer it; None = gone."""
    # lower-case names (ASGI servers send them so; lowered again for other callers), the first value wins
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in reversed(scope["headers"])}
    server = scope.get("server") or ("127.0.0.1", mock.settings.port)
    client = scope.get("client") or ("127.0.0.1", 0)
    path = scope["path"]
    if is_admin_path(path) and client[0] != "testclient":
        refused = foreign_host(mock.settings, headers, (server[0], getattr(mock, "bound_host", None)))
        if refused is not None:  # DNS rebinding: a page whose own name resolves to the fake
            return error_response(refused)
    body = b""
    if "content-length" in headers or "transfer-encoding" in headers:  # HTTP/1.1: otherwise no body
        try:
            body = await read_body(receive, mock.settings.max_body_bytes, headers.get("content-length"))
        except BodyTooLarge:
            return _too_large(mock.settings.max_body_bytes)
        except Disconnected:
            return None
    req = HttpRequest(
        method=scope["method"],
        path=scope["path"],
        query_string=scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
        body=body,
        scheme=scope.get("scheme", "http"),
        host=headers.get("host") or f"{server[0]}:{server[1]}",
        client=client[0],
    )
    return await mock.serve_async(req)


class MockASGI:
    """The lean ASGI application (no router: every path goes to the fake)."""

    def __init__(self, mock: BflMock, *, close_on_shutdown: bool = True, access_log: Any = None) -> None:
        self.mock = mock
        self.close_on_shutdown = close_on_shutdown
        self.access_log = access_log  # AccessLog or None

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            access_log = self.access_log
            start = time.perf_counter() if access_log is not None else 0.0
            resp = await handle_http(self.mock, scope, receive)
            if resp is None:
                return
            await send({"type": "http.response.start", "status": resp.status, "headers": raw_headers(resp)})
            await send({"type": "http.response.body", "body": resp.body})
            if access_log is not None:
                access_log.write(scope, resp, start)
        elif kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self.close_on_shutdown:
                        self.mock.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1000})


class AccessLog:
    """One line per request (``--access-log``), text or JSON lines, with nothing secret in it: no key, no
    admin token, and the signature of a download link replaced by ``***``."""

    def __init__(self, stream: Any, fmt: str = "text") -> None:
        self.stream = stream
        self.json = fmt == "json"

    def write(self, scope: dict[str, Any], resp: HttpResponse, start: float) -> None:
        import json

        client = (scope.get("client") or ("-", 0))[0]
        query = JOURNAL.query(scope.get("query_string", b"").decode("latin-1"))
        path = scope["path"] + (f"?{query}" if query else "")
        if not self.json:  # JSON lines escape by themselves
            path = escape_log_text(path)
        ms = (time.perf_counter() - start) * 1000
        if self.json:
            line = json.dumps(
                {
                    "time": time.time(),
                    "client": client,
                    "method": scope["method"],
                    "path": path[:2000],
                    "status": resp.status,
                    "bytes": len(resp.body),
                    "ms": round(ms, 3),
                }
            )
        else:
            version = scope.get("http_version", "1.1")
            line = (
                f'{client} "{scope["method"]} {path[:2000]} HTTP/{version}" {resp.status} {len(resp.body)} {ms:.1f}ms'
            )
        try:
            print(line, file=self.stream, flush=True)
        except (OSError, ValueError):  # the stream is gone: logging never breaks serving
            pass


_UNSAFE_IN_LOG = re.compile(r'[\x00-\x1f\x7f-\x9f"\\\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]')


def escape_log_text(text: str) -> str:
    """A percent-decoded path as it may go into a text log line: control characters (CR, LF, ESC ...), line
    and paragraph separators, bidi overrides, quotes and backslashes written as ``\\xNN`` / ``\\uNNNN``,
    so a request can neither start a forged line nor disguise its own."""

    def esc(m: re.Match[str]) -> str:
        code = ord(m.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _UNSAFE_IN_LOG.sub(esc, text)


def create_app(mock: BflMock, *, close_on_shutdown: bool = True, access_log: AccessLog | None = None) -> MockASGI:
    return MockASGI(mock, close_on_shutdown=close_on_shutdown, access_log=access_log)


def create_starlette_app(mock: BflMock, *, close_on_shutdown: bool = True) -> Starlette:
    """The fake as a Starlette application (mount it, add middleware); same behaviour as ``create_app``."""

    async def endpoint(request: Request) -> Response:
        resp = await handle_http(mock, dict(request.scope), request.receive)  # type: ignore[arg-type]
        return Response(b"", 499) if resp is None else RawResponse(resp)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if close_on_shutdown:
            mock.close()

    app = Starlette(routes=[Route("/{path:path}", endpoint, methods=ALL_METHODS)], lifespan=lifespan)
    app.state.mock = mock
    return app


__all__ = ["MockASGI", "RawResponse", "create_app", "create_starlette_app", "dumps"]
