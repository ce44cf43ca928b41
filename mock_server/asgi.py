"""The Starlette front end served by uvicorn (``bfl-mock serve``, the ``bfl_server`` fixture).

One catch-all route hands every request to ``MockHTTP`` through ``BflMock.serve_async``; bodies are
streamed with a size limit (413 before the whole body is held in memory), and image work is awaited
off the event loop.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from mock_server.http import HttpRequest, HttpResponse
from mock_server.validation import dumps

if TYPE_CHECKING:
    from mock_server.mock import BflMock

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]


class BodyTooLarge(Exception):
    pass


def _too_large(limit: int) -> Response:
    return Response(
        dumps({"detail": f"Content Too Large: the request body exceeds {limit} bytes"}),
        413,
        media_type="application/json",
    )


class RawResponse(Response):
    """A Starlette response built once from ``HttpResponse`` (its headers are already final)."""

    def __init__(self, resp: HttpResponse) -> None:
        self.status_code = resp.status
        self.body = resp.body
        self.background = None
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in resp.headers]
        if resp.status >= 200 and resp.status not in (204, 304) and not any(k == b"content-length" for k, _ in raw):
            raw.append((b"content-length", str(len(resp.body)).encode()))
        self.raw_headers = raw


def to_starlette(resp: HttpResponse) -> Response:
    return RawResponse(resp)


def create_app(mock: BflMock, *, close_on_shutdown: bool = True) -> Starlette:

    async def read_body(request: Request) -> bytes:
        limit = mock.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None:
            try:
                if int(declared) > limit:
                    raise BodyTooLarge
            except ValueError:
                pass
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
        return b"".join(chunks)

    async def endpoint(request: Request) -> Response:
        scope = request.scope
        headers: dict[str, str] = {}
        for k, v in scope["headers"]:
            name = k.decode("latin-1").lower()
            if name not in headers:
                headers[name] = v.decode("latin-1")
        body = b""
        if "content-length" in headers or "transfer-encoding" in headers:  # HTTP/1.1: otherwise no body
            try:
                body = await read_body(request)
            except BodyTooLarge:
                return _too_large(mock.settings.max_body_bytes)
            except ClientDisconnect:
                return Response(b"", 499)
        server = scope.get("server") or ("127.0.0.1", mock.settings.port)
        host = headers.get("host") or f"{server[0]}:{server[1]}"
        client = scope.get("client") or ("127.0.0.1", 0)
        req = HttpRequest(
            method=scope["method"],
            path=scope["path"],
            query_string=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=body,
            scheme=scope.get("scheme", "http"),
            host=host,
            client=client[0],
        )
        return to_starlette(await mock.serve_async(req))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if close_on_shutdown:
            mock.close()

    app = Starlette(routes=[Route("/{path:path}", endpoint, methods=ALL_METHODS)], lifespan=lifespan)
    app.state.mock = mock
    return app
