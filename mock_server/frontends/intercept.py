"""In-process interception: requests to BFL's hosts from httpx, requests, urllib3, urllib and aiohttp are
answered by a fake without a socket, for as long as an ``Interceptor`` is started.

One hook per client, each at the narrowest public-facing seam that sees every request and still lets the
client do its own response handling:

* httpx: a respx router (respx's own mechanism; it cooperates with a user's ``respx_mock`` in either order).
* urllib3 (and requests, which sends through it): ``HTTPConnectionPool.urlopen``, urllib3's documented entry
  point below ``PoolManager``; the answer is a real ``urllib3.HTTPResponse``.
* urllib: ``AbstractHTTPHandler.do_open``, which every ``http``/``https`` handler of every opener calls; the
  answer is a real ``http.client.HTTPResponse`` parsed from the fake's bytes, so ``HTTPError`` etc. behave.
* aiohttp: ``TCPConnector._create_connection`` returns an in-memory connection; aiohttp writes its request and
  parses the fake's answer with its own code (h11 on the fake's side), so responses, redirects, cookies and
  middlewares are aiohttp's own.
* everything else: ``socket.getaddrinfo`` refuses BFL's names with an error that says what to use instead,
  and, with ``assert_all_mocked``, every host that is neither loopback nor allowed.

Every patch is undone by ``stop()``; importing this module changes nothing.
"""

from __future__ import annotations

import asyncio
import io
import socket
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from unittest import mock as _patching
from urllib.parse import urlsplit

from mock_server.core.hosts import is_bfl_host, is_loopback
from mock_server.http.types import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from mock_server.http.types import Servable


class UnmockedRequestError(AssertionError):
    """A request the interception refused: a host outside the fake in strict mode, or a client that cannot be
    served in-process (the message says what to use instead)."""


CANNOT_SERVE = (
    "bfl-mock: {host} was resolved by a client the in-process fake cannot serve (bfl_mock answers httpx, "
    "requests, urllib3, urllib and aiohttp in-process). Point this client at the `bfl_server` fixture's "
    "`.url` (a real server on 127.0.0.1), or run `bfl-mock serve --proxy-port N` and set HTTPS_PROXY; "
    "nothing was sent to the network."
)
NOT_MOCKED = (
    "bfl-mock (assert_all_mocked): the test tried to reach {host!r}, which is not a BFL host and not "
    "loopback; nothing was sent. Allow it with allow_hosts=[{host!r}] or stop asserting all mocked."
)


def _split_host(netloc: str) -> str:
    host = netloc.rsplit("@", 1)[-1]
    if host.startswith("["):
        return host[1 : host.find("]")]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def build_request(method: str, url: str, headers: Iterable[tuple[str, str]], body: bytes) -> HttpRequest:
    parts = urlsplit(url)
    hdrs: dict[str, str] = {}
    for k, v in headers:
        hdrs.setdefault(k.lower(), v)
    return HttpRequest(
        method=method.upper(),
        path=parts.path or "/",
        query_string=parts.query,
        headers=hdrs,
        body=body,
        scheme=parts.scheme or "https",
        host=hdrs.get("host", parts.netloc.rsplit("@", 1)[-1]),
        client="127.0.0.1",
    )


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    if hasattr(body, "read"):
        data = body.read()
        return data.encode() if isinstance(data, str) else bytes(data)
    return b"".join(c.encode() if isinstance(c, str) else bytes(c) for c in body)  # an iterable of chunks


def reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _wire_headers(resp: HttpResponse, method: str) -> list[tuple[str, str]]:
    headers = [(k, v) for k, v in resp.headers if k.lower() not in ("content-length", "transfer-encoding")]
    declared = next((v for k, v in resp.headers if k.lower() == "content-length"), None)
    headers.append(("content-length", declared if method == "HEAD" and declared else str(len(resp.body))))
    return headers


class Interceptor:
    """Patches the clients to answer BFL's hosts from ``mock``; ``start()``/``stop()`` or ``with``."""

    def __init__(
        self,
        mock: Servable,
        *,
        assert_all_mocked: bool = False,
        allow_hosts: Iterable[str] = (),
    ) -> None:
        self.mock = mock
        self.assert_all_mocked = assert_all_mocked
        self.allow_hosts = frozenset(h.lower() for h in allow_hosts)
        self._patches: list[Any] = []
        self._router: Any = None

    # ------------------------------------------------------------------ decisions
    def allowed(self, host: str) -> bool:
        """May a request to ``host`` go to the network (loopback, allowed, or not strict)?"""
        host = host.lower().rstrip(".")
        return not self.assert_all_mocked or is_loopback(host) or host in self.allow_hosts

    def refuse(self, host: str) -> UnmockedRequestError:
        return UnmockedRequestError(NOT_MOCKED.format(host=host))

    def serve(self, method: str, url: str, headers: Iterable[tuple[str, str]], body: bytes) -> HttpResponse:
        return self.mock.serve(build_request(method, url, headers, body))

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Interceptor:
        from mock_server.frontends.transport import respx_router

        try:
            self._router = respx_router(self.mock, interceptor=self)
            self._router.__enter__()
            self._patch_urllib3()
            self._patch_urllib()
            self._patch_aiohttp()
            self._patch(socket, "getaddrinfo", self._guarded_getaddrinfo(socket.getaddrinfo))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        while self._patches:
            self._patches.pop().stop()
        if self._router is not None:
            router, self._router = self._router, None
            router.__exit__(None, None, None)

    def __enter__(self) -> Interceptor:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _patch(self, target: Any, name: str, new: Any) -> None:
        p = _patching.patch.object(target, name, new)
        p.start()
        self._patches.append(p)

    # ------------------------------------------------------------------ any client: name resolution
    def _guarded_getaddrinfo(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            name = host.decode("idna") if isinstance(host, bytes) else str(host or "")
            if is_bfl_host(name):
                raise UnmockedRequestError(CANNOT_SERVE.format(host=name))
            if name and not self.allowed(name):
                raise self.refuse(name)
            return original(host, *args, **kwargs)

        return getaddrinfo

    # ------------------------------------------------------------------ urllib3 / requests
    def _patch_urllib3(self) -> None:
        try:
            from urllib3.connectionpool import HTTPConnectionPool
        except ImportError:  # urllib3 is optional
            return
        original = HTTPConnectionPool.urlopen
        interceptor = self

        def urlopen(pool: Any, method: str, url: str, body: Any = None, headers: Any = None, **kw: Any) -> Any:
            proxied_absolute = url.startswith(("http://", "https://"))
            host = _split_host(urlsplit(url).netloc) if proxied_absolute else pool.host
            if not is_bfl_host(host):
                if not interceptor.allowed(host):
                    raise interceptor.refuse(host)
                return original(pool, method, url, body, headers, **kw)
            if not proxied_absolute:
                port = pool.port
                default = 443 if pool.scheme == "https" else 80
                netloc = pool.host if port in (None, default) else f"{pool.host}:{port}"
                url = f"{pool.scheme}://{netloc}{url}"
            hdrs = list((headers or {}).items())
            if not any(k.lower() == "host" for k, _ in hdrs):
                hdrs.append(("host", urlsplit(url).netloc))
            resp = interceptor.serve(method, url, hdrs, _body_bytes(body))
            return _urllib3_response(resp, method, url, kw)

        self._patch(HTTPConnectionPool, "urlopen", urlopen)

    # ------------------------------------------------------------------ urllib
    def _patch_urllib(self) -> None:
        import urllib.request

        original = urllib.request.AbstractHTTPHandler.do_open
        interceptor = self

        def do_open(handler: Any, http_class: Any, req: Any, **kw: Any) -> Any:
            url = req.get_full_url()  # the target, also when a ProxyHandler pointed req.host at a proxy
            host = _split_host(urlsplit(url).netloc)
            if not is_bfl_host(host):
                if not interceptor.allowed(host):
                    raise interceptor.refuse(host)
                return original(handler, http_class, req, **kw)
            hdrs = [*req.unredirected_hdrs.items(), *req.headers.items()]
            if not any(k.lower() == "host" for k, _ in hdrs):
                hdrs.append(("host", urlsplit(url).netloc))
            resp = interceptor.serve(req.get_method(), url, hdrs, _body_bytes(req.data))
            return _urllib_response(resp, req.get_method(), url)

        self._patch(urllib.request.AbstractHTTPHandler, "do_open", do_open)

    # ------------------------------------------------------------------ aiohttp
    def _patch_aiohttp(self) -> None:
        try:
            from aiohttp import connector
        except ImportError:  # aiohttp is optional
            return
        original = connector.TCPConnector._create_connection
        interceptor = self

        async def _create_connection(conn: Any, req: Any, traces: Any, timeout: Any) -> Any:
            host = req.url.raw_host or ""
            if not is_bfl_host(host):
                if not interceptor.allowed(host):
                    raise interceptor.refuse(host)
                return await original(conn, req, traces, timeout)
            from aiohttp.client_proto import ResponseHandler

            proto = ResponseHandler(asyncio.get_running_loop())
            proto.connection_made(_MemoryTransport(proto, interceptor.mock, req.url.scheme))
            return proto

        self._patch(connector.TCPConnector, "_create_connection", _create_connection)


# ---------------------------------------------------------------------- response builders
def _urllib3_response(resp: HttpResponse, method: str, url: str, kw: dict[str, Any]) -> Any:
    from urllib3 import HTTPHeaderDict
    from urllib3.response import HTTPResponse as Urllib3Response

    headers = HTTPHeaderDict()
    for k, v in _wire_headers(resp, method):
        headers.add(k, v)
    return Urllib3Response(
        body=io.BytesIO(b"" if method == "HEAD" else resp.body),
        headers=headers,
        status=resp.status,
        reason=reason_phrase(resp.status),
        preload_content=kw.get("preload_content", True),
        decode_content=kw.get("decode_content", True),
        request_method=method,
        request_url=url,
        enforce_content_length=method != "HEAD",
    )


class _Socket:
    """What ``http.client.HTTPResponse`` reads from: the fake's bytes."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def makefile(self, *args: Any, **kwargs: Any) -> io.BytesIO:
        return io.BytesIO(self._data)


def _raw_http(resp: HttpResponse, method: str) -> bytes:
    lines = [f"HTTP/1.1 {resp.status} {reason_phrase(resp.status)}"]
    lines += [f"{k}: {v}" for k, v in _wire_headers(resp, method)]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + (b"" if method == "HEAD" else resp.body)


def _urllib_response(resp: HttpResponse, method: str, url: str) -> Any:
    import http.client

    r = http.client.HTTPResponse(_Socket(_raw_http(resp, method)), method=method, url=url)  # type: ignore[arg-type]
    r.begin()
    r.url = url  # what do_open sets
    r.msg = r.reason  # type: ignore[assignment]  # urllib's addinfourl-compatible attribute
    return r


class _MemoryTransport(asyncio.Transport):
    """The client end of an in-memory HTTP/1.1 connection to the fake (aiohttp writes, h11 parses)."""

    def __init__(self, protocol: Any, mock: Servable, scheme: str) -> None:
        super().__init__()
        import h11

        self._h11 = h11
        self._protocol = protocol
        self._mock = mock
        self._scheme = scheme
        self._conn = h11.Connection(h11.SERVER)
        self._closing = False
        self._pending: tuple[Any, bytearray] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # asyncio.Transport
    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing:
            return
        self._conn.receive_data(bytes(data))
        self._drain_events()

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        self.write(b"".join(bytes(d) for d in list_of_data))

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            asyncio.get_running_loop().call_soon(self._protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 443 if self._scheme == "https" else 80)}.get(name, default)

    def can_write_eof(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def is_reading(self) -> bool:
        return not self._closing

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    # the fake's side
    def _drain_events(self) -> None:
        h11 = self._h11
        while True:
            try:
                event = self._conn.next_event()
            except h11.RemoteProtocolError as e:  # the client wrote something h11 cannot parse
                self._closing = True
                self._protocol.connection_lost(e)
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self._pending = (event, bytearray())
            elif isinstance(event, h11.Data) and self._pending is not None:
                self._pending[1].extend(event.data)
            elif isinstance(event, h11.EndOfMessage) and self._pending is not None:
                request, body = self._pending
                self._pending = None
                task = asyncio.get_running_loop().create_task(self._answer(request, bytes(body)))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                return
            elif isinstance(event, h11.ConnectionClosed):
                return

    async def _answer(self, request: Any, body: bytes) -> None:
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers]
        host = next((v for k, v in headers if k.lower() == "host"), "api.bfl.ai")
        url = f"{self._scheme}://{host}{request.target.decode('latin-1')}"
        req = build_request(request.method.decode("ascii"), url, headers, body)
        try:
            resp = await self._mock.serve_async(req)
        except Exception as e:  # the fake records and re-raises its own errors at teardown
            resp = HttpResponse(500, f"bfl-mock in-process error: {e!r}".encode())
        self._answer_now(resp, req.method)

    def _answer_now(self, resp: HttpResponse, method: str = "GET") -> None:
        if self._closing:
            return
        h11 = self._h11
        out = self._conn.send(
            h11.Response(
                status_code=resp.status,
                headers=_wire_headers(resp, method),
                reason=reason_phrase(resp.status).encode(),
            )
        )
        if method != "HEAD" and resp.body:
            out = (out or b"") + (self._conn.send(h11.Data(data=resp.body)) or b"")
        out = (out or b"") + (self._conn.send(h11.EndOfMessage()) or b"")
        self._protocol.data_received(out)
        if self._conn.our_state is h11.MUST_CLOSE or self._conn.their_state is h11.MUST_CLOSE:
            self._closing = True
            self._protocol.connection_lost(None)
        else:
            self._conn.start_next_cycle()


__all__ = ["Interceptor", "UnmockedRequestError"]
