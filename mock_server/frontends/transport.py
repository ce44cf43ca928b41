"""In-process bridge from httpx to the fake: no sockets, no event-loop hop per call.

``BflTransport(mock)`` is an httpx transport (sync and async) that hands each request straight to
``BflMock.serve``; the pytest plugin routes respx-intercepted BFL traffic through the same functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from mock_server.http.types import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from mock_server.http.types import Servable as BflMock


def from_httpx(request: httpx.Request, body: bytes) -> HttpRequest:
    url = request.url
    headers: dict[str, str] = {}
    for k, v in request.headers.multi_items():
        k = k.lower()
        if k not in headers:
            headers[k] = v
    port = url.port
    host = url.host if port is None else f"{url.host}:{port}"
    return HttpRequest(
        method=request.method,
        path=url.path,
        query_string=url.query.decode("latin-1"),
        headers=headers,
        body=body,
        scheme=url.scheme,
        host=headers.get("host", host),
        client="127.0.0.1",
    )


def to_httpx(resp: HttpResponse, request: httpx.Request) -> httpx.Response:
    headers = [(k, v) for k, v in resp.headers if k.lower() != "content-length"]
    headers.append(("content-length", str(len(resp.body))))
    for k, v in resp.headers:  # HEAD: keep the declared length of the resource
        if k.lower() == "content-length" and request.method == "HEAD":
            headers[-1] = ("content-length", v)
    return httpx.Response(resp.status, headers=headers, content=resp.body, request=request)


class BflTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    def __init__(self, mock: BflMock) -> None:
        self.mock = mock

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        return to_httpx(self.mock.serve(from_httpx(request, body)), request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        return to_httpx(await self.mock.serve_async(from_httpx(request, body)), request)


BFL_HOSTS_REGEX = (
    r"^https?://(api(\.[a-z0-9-]+)?\.bfl\.(ai|ml)|delivery([.-][a-z0-9-]+)+\.bfl\.ai|[a-z0-9]+\.blob\.core\.windows\.net)"
    r"(:\d+)?/"
)


def respx_router(mock: BflMock) -> Any:
    """A respx router that answers BFL's hosts from ``mock`` in-process and lets every other host through."""
    import respx

    def side_effect(request: httpx.Request) -> httpx.Response:
        return to_httpx(mock.serve(from_httpx(request, request.read())), request)

    router = respx.MockRouter(assert_all_called=False, assert_all_mocked=True)
    router.route(url__regex=BFL_HOSTS_REGEX).mock(side_effect=side_effect)
    router.route().pass_through()
    return router
