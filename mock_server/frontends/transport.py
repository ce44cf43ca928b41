"""In-process bridge from httpx to the fake: no sockets, no event-loop hop per call.

``BflTransport(mock)`` is an httpx transport (sync and async) that hands each request straight to
``BflMock.serve``; the pytest plugin routes respx-intercepted BFL traffic through the same functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from mock_server.core.hosts import URL_REGEX, is_bfl_host
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


BFL_HOSTS_REGEX = URL_REGEX  # the hosts the in-process fake answers (data: ``core/hosts.py``)


def respx_router(mock: BflMock, *, interceptor: Any = None) -> Any:
    """A respx router that answers BFL's hosts from ``mock`` in-process and lets every other host through
    (with ``interceptor``: through its ``allowed``/``refuse`` policy).

    It gives way to every other active respx router, whichever started first: a route a user declared with
    ``respx_mock`` wins, then the fake answers BFL's hosts, then the user's router's own rule for unmatched
    requests (respx's ``assert_all_mocked``), then the network.
    """
    import respx
    from respx.models import AllMockedAssertionError

    class BflRouter(respx.MockRouter):
        def _others(self) -> list[Any]:
            mocker = self.Mocker
            return [r for r in (mocker.routers if mocker is not None else ()) if r is not self]

        def _later(self) -> list[Any]:
            routers = self.Mocker.routers if self.Mocker is not None else []
            return routers[routers.index(self) + 1 :] if self in routers else []

        def _fallback(self, request: httpx.Request) -> None:
            host = request.url.host
            if self._others():  # another router declined: respx's verdict for unmatched requests stands
                raise AllMockedAssertionError(f"RESPX: {request!r} not mocked!")
            if interceptor is not None and not interceptor.allowed(host):
                raise interceptor.refuse(host)
            raise respx.models.PassThrough(f"bfl-mock passes {host} through", request=request, origin=None)  # type: ignore[arg-type]

        def handler(self, request: httpx.Request) -> httpx.Response:
            for router in self._later():
                try:
                    return router.handler(request)  # type: ignore[no-any-return]
                except AllMockedAssertionError:
                    continue
            if is_bfl_host(request.url.host):
                return to_httpx(mock.serve(from_httpx(request, request.read())), request)
            self._fallback(request)
            raise AssertionError("unreachable")

        async def async_handler(self, request: httpx.Request) -> httpx.Response:
            for router in self._later():
                try:
                    return await router.async_handler(request)  # type: ignore[no-any-return]
                except AllMockedAssertionError:
                    continue
            if is_bfl_host(request.url.host):
                return to_httpx(await mock.serve_async(from_httpx(request, await request.aread())), request)
            self._fallback(request)
            raise AssertionError("unreachable")

    return BflRouter(assert_all_called=False, assert_all_mocked=True)
