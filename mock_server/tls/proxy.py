"""The intercepting proxy (``bfl-mock serve --proxy-port N``): BFL's hosts answered by the fake, nothing else.

The shape of mitmproxy's layers and moto's proxy mode, cut down to what a fake needs:

1. **Proxy layer** (``_Front``): read one request head (at most ``max_header_bytes``, within
   ``header_timeout`` seconds). ``CONNECT host:443`` for one of BFL's hosts (``mock_server.core.hosts``) is
   answered ``200`` and goes on to TLS; an absolute-form request (``GET http://api.bfl.ai/...``) is handed
   to HTTP at once. Every other host gets ``403`` with a body naming the host and ``--proxy-pass-through``,
   and the connection is closed: nothing is resolved, connected to or forwarded. Hosts the user names with
   ``--proxy-pass-through`` are tunnelled byte for byte (CONNECT only), without TLS termination.
2. **TLS layer**: ``loop.start_tls`` with the local CA's leaf (renewed on load, see ``ca.py``), HTTP/1.1
   only, within ``handshake_timeout`` seconds; a bad or slow handshake closes the connection.
3. **HTTP layer**: the fake's own uvicorn protocol (with ``netguard``'s guards) over the TLS transport, so
   the app sees ``https`` and the ``Host`` the client called: ``polling_url`` and ``result.sample`` carry
   ``https://api.bfl.ai/...`` (or ``public_url`` / ``delivery_url`` when set).

Bounds: at most ``max_pending`` connections still in layers 1-2 (beyond it the oldest are closed, so a
CONNECT flood or slow handshakes cannot starve new clients), at most ``max_tunnels`` established tunnels
(netguard's rule: beyond it the oldest idle ones are closed), header size and time limits as the fake's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from mock_server.core.config import Settings
from mock_server.core.hosts import is_cert_host
from mock_server.frontends.netguard import close_with, raw_response
from mock_server.tls.ca import LocalCA, RenewingContext

PASS_THROUGH_FLAG = "--proxy-pass-through"


@dataclasses.dataclass
class ProxyOptions:
    host: str = "127.0.0.1"
    port: int = 0
    pass_through: tuple[str, ...] = ()  # host names (or ".suffix") tunnelled unmodified
    max_pending: int = 256  # connections before their tunnel is up (CONNECT head, TLS handshake)
    max_tunnels: int = 1024  # established tunnels / proxied HTTP connections
    handshake_timeout: float = 10.0  # seconds for the TLS handshake after "200 Connection Established"
    header_timeout: float | None = None  # seconds for the CONNECT head; default: the fake's header_timeout
    max_header_bytes: int | None = None  # default: the fake's max_header_bytes
    connect_timeout: float = 10.0  # pass-through only: seconds to reach the upstream


def refused_detail(host: str) -> str:
    return (
        f"bfl-mock proxy: {host} is not one of BFL's hosts, so the request was refused and nothing was sent "
        f"to it. To tunnel it unmodified, start the fake with {PASS_THROUGH_FLAG} {host}; or exclude it with "
        "NO_PROXY."
    )


NOT_A_PROXY_REQUEST = (
    "bfl-mock proxy: this port is a proxy: send CONNECT api.bfl.ai:443 (set HTTPS_PROXY to this address) "
    "or an absolute URL; the fake itself answers on its own port"
)


def split_authority(authority: str, default_port: int) -> tuple[str, int] | None:
    """``host[:port]`` / ``[v6]:port`` -> (host, port), or None when malformed."""
    text = authority.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        host, rest = text[1:end], text[end + 1 :]
        if rest and not rest.startswith(":"):
            return None
        port_text = rest[1:] if rest else ""
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            host, port_text = text, ""
    if not host or any(c in host for c in " /@\\?#"):
        return None
    if not port_text:
        return host.lower(), default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return None
    return host.lower(), int(port_text)


class InterceptingProxy:
    """The proxy on an asyncio loop; ``app`` is the fake's ASGI app (the same ``BflMock`` as the server)."""

    def __init__(self, app: Any, settings: Settings, ca: LocalCA, options: ProxyOptions | None = None) -> None:
        self.app = app
        self.settings = settings
        self.ca = ca
        self.options = opts = options or ProxyOptions()
        self.header_timeout = (
            opts.header_timeout if opts.header_timeout is not None else settings.header_timeout_seconds
        )
        self.max_header = opts.max_header_bytes if opts.max_header_bytes is not None else settings.max_header_bytes
        self.pending: OrderedDict[_Front, None] = OrderedDict()
        self.refused = 0  # counters, for tests and the attack script (``wait_for``)
        self.handshake_failures = 0
        self._changed = threading.Condition()
        self._server: asyncio.AbstractServer | None = None
        self._renewing = RenewingContext(ca)
        self._config: Any = None
        self._state: Any = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.port = opts.port

    # ---------------------------------------------------------------- lifecycle
    async def start(self, sock: socket.socket | None = None) -> None:
        import uvicorn
        from uvicorn.server import ServerState

        from mock_server.frontends.netguard import uvicorn_config

        self.loop = asyncio.get_running_loop()
        inner = dataclasses.replace(self.settings, max_connections=self.options.max_tunnels)
        self._config = uvicorn_config(self.app, inner, log_level="warning", lifespan="off")
        assert isinstance(self._config, uvicorn.Config)
        self._config.load()
        self._state = ServerState()
        self.context()  # create the CA and leaf now: errors surface at start, not at the first client
        if sock is None:
            sock = bind(self.options.host, self.options.port)
        self._server = await self.loop.create_server(lambda: _Front(self), sock=sock, backlog=1024)
        self.port = sock.getsockname()[1]

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for front in list(self.pending):
            front.abort(None)
        if self._state is not None:
            for conn in list(self._state.connections):
                conn.shutdown()

    def count(self, name: str) -> None:
        with self._changed:
            setattr(self, name, getattr(self, name) + 1)
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Block until ``predicate()`` holds after a counter changed (tests: no sleeps)."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    # ---------------------------------------------------------------- helpers for the layers
    def context(self) -> Any:
        """The server TLS context, rebuilt when the leaf is renewed (checked for every new tunnel)."""
        return self._renewing.current()

    def http_protocol(self) -> asyncio.Protocol:
        cls = self._config.http_protocol_class
        proto: asyncio.Protocol = cls(config=self._config, server_state=self._state, app_state={}, _loop=self.loop)
        return proto

    def passes_through(self, host: str) -> bool:
        for item in self.options.pass_through:
            item = item.lower().strip()
            if item.startswith(".") and (host.endswith(item) or host == item[1:]):
                return True
            if host == item:
                return True
        return False

    def admit(self, front: _Front) -> None:
        self.pending[front] = None
        excess = len(self.pending) - max(1, self.options.max_pending)
        for old in list(self.pending):
            if excess <= 0:
                break
            if old is not front:
                old.abort(None)
                excess -= 1


class _Front(asyncio.Protocol):
    """Layer 1 (and the hand-over to layers 2 and 3) for one client connection."""

    def __init__(self, proxy: InterceptingProxy) -> None:
        self.proxy = proxy
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.state = "head"  # head -> tls -> http | pipe | closed
        self.early: list[bytes] = []  # application data that arrived before HTTP took over
        self.timer: asyncio.TimerHandle | None = None
        self.upstream: asyncio.Transport | None = None
        self.task: asyncio.Future[None] | None = None  # the TLS or pass-through step (a reference keeps it alive)

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.proxy.admit(self)
        if self.proxy.header_timeout > 0:
            assert self.proxy.loop is not None
            self.timer = self.proxy.loop.call_later(self.proxy.header_timeout, self._head_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._leave()
        self.state = "closed"
        if self.upstream is not None:
            self.upstream.close()

    def eof_received(self) -> bool | None:
        return None

    def data_received(self, data: bytes) -> None:
        if self.state == "tls":
            self.early.append(data)
            return
        if self.state == "pipe":
            if self.upstream is not None:
                self.upstream.write(data)
            return
        if self.state != "head":
            return
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0 or end > self.proxy.max_header:
            if len(self.buf) > self.proxy.max_header:
                self.abort(
                    raw_response(431, "Request Header Fields Too Large", "bfl-mock proxy: request head too large")
                )
            return
        head, rest = bytes(self.buf[:end]), bytes(self.buf[end + 4 :])
        self.buf = bytearray()
        self._disarm()
        try:
            line = head.split(b"\r\n", 1)[0].decode("ascii")
            method, target, version = line.split(" ")
        except (UnicodeDecodeError, ValueError):
            self.abort(raw_response(400, "Bad Request", "bfl-mock proxy: malformed request line"))
            return
        if not version.startswith("HTTP/1."):
            self.abort(raw_response(505, "HTTP Version Not Supported", "bfl-mock proxy: HTTP/1.x only"))
            return
        if method == "CONNECT":
            self._connect(target, rest)
        elif target.lower().startswith("http://"):
            self._absolute(head, rest, target)
        else:
            self.abort(raw_response(400, "Bad Request", NOT_A_PROXY_REQUEST))

    # ---------------------------------------------------------------- CONNECT
    def _connect(self, target: str, rest: bytes) -> None:
        parsed = split_authority(target, 443)
        if parsed is None:
            self.abort(raw_response(400, "Bad Request", f"bfl-mock proxy: malformed CONNECT target {target[:200]!r}"))
            return
        host, port = parsed
        if self.proxy.passes_through(host):
            self.task = asyncio.ensure_future(self._pipe(host, port, rest))
            return
        if not is_cert_host(host) or port != 443:
            self.proxy.count("refused")
            self.abort(raw_response(403, "Forbidden", refused_detail(f"{host}:{port}" if is_cert_host(host) else host)))
            return
        if rest:  # TLS bytes before our 200: no client does this
            self.abort(raw_response(400, "Bad Request", "bfl-mock proxy: data sent before the CONNECT answer"))
            return
        assert self.transport is not None
        self.transport.pause_reading()  # the ClientHello must reach TLS, not this protocol (start_tls resumes)
        self.transport.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        self.state = "tls"
        self.task = asyncio.ensure_future(self._tls())

    async def _tls(self) -> None:
        proxy, transport = self.proxy, self.transport
        assert proxy.loop is not None and transport is not None
        timeout = proxy.options.handshake_timeout
        try:
            ctx = proxy.context()
            tls = await asyncio.wait_for(
                proxy.loop.start_tls(transport, self, ctx, server_side=True, ssl_handshake_timeout=timeout),
                timeout + 1,
            )
        except Exception:  # bad TLS, a timeout, the peer gone: whatever it is, this connection ends
            proxy.count("handshake_failures")
            self.abort(None)
            return
        if self.state != "tls" or tls is None:  # closed or evicted during the handshake
            if tls is not None:
                tls.close()
            return
        self._handover(tls, self.early)

    def _handover(self, transport: Any, data: list[bytes]) -> None:
        self._leave()
        self.state = "http"
        proto = self.proxy.http_protocol()
        transport.set_protocol(proto)
        proto.connection_made(transport)
        for chunk in data:
            proto.data_received(chunk)

    # ---------------------------------------------------------------- absolute-form HTTP
    def _absolute(self, head: bytes, rest: bytes, target: str) -> None:
        after = target[len("http://") :]
        slash = after.find("/")
        authority, path = (after, "/") if slash < 0 else (after[:slash], after[slash:])
        parsed = split_authority(authority, 80)
        if parsed is None:
            self.abort(raw_response(400, "Bad Request", "bfl-mock proxy: malformed absolute URL"))
            return
        host, port = parsed
        if not is_cert_host(host) or port != 80:
            self.proxy.count("refused")
            detail = refused_detail(host)
            if self.proxy.passes_through(host):
                detail = f"bfl-mock proxy: {host}: pass-through tunnels HTTPS (CONNECT) only; nothing was sent"
            self.abort(raw_response(403, "Forbidden", detail))
            return
        first, _, others = head.partition(b"\r\n")
        method = first.split(b" ", 1)[0]
        rewritten = method + b" " + path.encode("ascii") + b" " + first.rsplit(b" ", 1)[1]
        assert self.transport is not None
        self._handover(self.transport, [rewritten + b"\r\n" + others + b"\r\n\r\n" + rest])

    # ---------------------------------------------------------------- pass-through (explicit hosts only)
    async def _pipe(self, host: str, port: int, rest: bytes) -> None:
        proxy, transport = self.proxy, self.transport
        assert proxy.loop is not None and transport is not None
        self.state = "connecting"
        transport.pause_reading()
        try:
            upstream, _ = await asyncio.wait_for(
                proxy.loop.create_connection(lambda: _Pipe(transport), host, port), proxy.options.connect_timeout
            )
        except (OSError, asyncio.TimeoutError) as e:
            self.abort(raw_response(502, "Bad Gateway", f"bfl-mock proxy: pass-through to {host}:{port} failed: {e}"))
            return
        if self.state == "closed":
            upstream.close()
            return
        self._leave()
        self.upstream = upstream
        self.state = "pipe"
        transport.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        if rest:
            upstream.write(rest)
        transport.resume_reading()

    # ---------------------------------------------------------------- closing
    def _head_timeout(self) -> None:
        self.timer = None
        if self.state == "head":
            self.abort(raw_response(408, "Request Timeout", "bfl-mock proxy: request head not received in time"))

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _leave(self) -> None:
        self._disarm()
        self.proxy.pending.pop(self, None)

    def abort(self, response: bytes | None) -> None:
        self._leave()
        self.state = "closed"
        close_with(self.transport, response)


class _Pipe(asyncio.Protocol):
    """The upstream side of a pass-through tunnel."""

    def __init__(self, client: asyncio.Transport) -> None:
        self.client = client

    def data_received(self, data: bytes) -> None:
        self.client.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.close()


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(1024)
    return sock


class ThreadedProxy:
    """``InterceptingProxy`` on its own event loop in a daemon thread (used by ``bfl-mock serve`` and tests)."""

    def __init__(
        self,
        app: Any,
        settings: Settings,
        ca: LocalCA,
        options: ProxyOptions | None = None,
        *,
        sock: socket.socket | None = None,
    ) -> None:
        self.proxy = InterceptingProxy(app, settings, ca, options)
        self._sock = sock
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.proxy.port

    @property
    def url(self) -> str:
        host = self.proxy.options.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def start(self) -> ThreadedProxy:
        def run() -> None:
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self.proxy.start(self._sock))
            except BaseException as e:  # surfaced by start()
                self._error = e
                self._ready.set()
                return
            self._ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="bfl-mock-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(30) or self._error is not None:
            raise RuntimeError(f"the proxy did not start: {self._error!r}") from self._error
        return self

    def call(self, fn: Callable[[], Any]) -> None:
        self._loop.call_soon_threadsafe(fn)

    def stop(self) -> None:
        if self._thread is None:
            return
        done = threading.Event()

        def shutdown() -> None:
            self.proxy.close()
            self._loop.call_later(0.05, self._loop.stop)  # let the closing transports flush
            done.set()

        self._loop.call_soon_threadsafe(shutdown)
        done.wait(10)
        self._thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> ThreadedProxy:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
