"""Connection guards for the uvicorn front end: slow, idle or oversized clients cannot hold the server.

uvicorn closes idle keep-alive connections, but a connection that never completes its headers (slowloris),
or sends its body a byte a minute, is kept forever, and with httptools request headers have no size limit.
``guarded_protocol(settings)`` wraps uvicorn's HTTP protocol class with:

* a header deadline (``header_timeout_seconds``): a request's headers must be complete that long after
  its first byte (or after the connection opened); then 408 and close;
* a body deadline (``body_timeout_seconds``) from the end of the headers; then 408 and close;
* a header size cap (``max_header_bytes``): 431 ``Request Header Fields Too Large`` and close;
* a connection cap (``max_connections``): beyond it the *oldest connections still waiting for headers*
  are closed, so new clients keep being served during a slowloris attack instead of being refused;
* absolute-form request lines (``GET http://name/path HTTP/1.1``): the name in the request line is the
  request's ``Host`` (RFC 9112, 3.2.2), so the admin API's Host check sees the name the client asked for.

All of these are real-time network limits (not the fake clock): they protect the process, not the model.
The deadlines are checked by one sweep per server (an eighth of the shortest limit apart), not by a timer
per request.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from typing import Any

from mock_server.core.config import Settings
from mock_server.core.errors import HEADERS_TOO_LARGE, REQUEST_TIMEOUT


def raw_response(status: int, reason: str, detail: str) -> bytes:
    body = json.dumps({"detail": detail}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


TIMEOUT_408 = raw_response(408, "Request Timeout", REQUEST_TIMEOUT)
TOO_LARGE_431 = raw_response(431, "Request Header Fields Too Large", HEADERS_TOO_LARGE)


def close_with(transport: Any, response: bytes | None) -> None:
    """Write a last answer (if any) and close the connection; a peer that is already gone is no error."""
    if transport is None or transport.is_closing():
        return
    if response is not None:
        try:
            transport.write(response)
        except Exception:  # the peer is gone already
            pass
    transport.close()


def base_protocol() -> type:
    try:
        import httptools  # noqa: F401
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        return HttpToolsProtocol
    except ImportError:  # pragma: no cover - without the [fast] extra
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol


def guarded_protocol(settings: Settings, base: type | None = None) -> type:
    """A uvicorn HTTP protocol class enforcing the settings' connection limits (one registry per server)."""
    base = base or base_protocol()
    connections: OrderedDict[Any, None] = OrderedDict()  # oldest first
    header_timeout = settings.header_timeout_seconds
    body_timeout = settings.body_timeout_seconds
    max_header = settings.max_header_bytes
    max_conn = max(1, settings.max_connections)
    # Deadlines, not a timer per request: arming and cancelling a loop timer for every keep-alive request
    # was a measurable part of serving a poll. One sweep per ``tick`` (an eighth of the shortest limit, 20 ms
    # to 1 s) closes what is overdue, so a limit fires at most an eighth late.
    limits = [t for t in (header_timeout, body_timeout) if t > 0]
    tick = min(1.0, max(0.02, min(limits) / 8)) if limits else 1.0
    sweeper: list[asyncio.TimerHandle | None] = [None]  # this server's one sweep timer, while any deadline runs

    def sweep(loop: asyncio.AbstractEventLoop) -> None:
        sweeper[0] = None
        now, running = loop.time(), False
        for proto in list(connections):
            deadline = proto._bfl_deadline
            if deadline is None:
                continue
            if deadline <= now:
                proto._bfl_expired()
            else:
                running = True
        if running:
            sweeper[0] = loop.call_later(tick, sweep, loop)

    class GuardedProtocol(base):  # type: ignore[misc, valid-type]
        _bfl_deadline: float | None = None  # loop time
        _bfl_cycle: Any = None
        _bfl_header_bytes = 0
        _bfl_body_cycle: Any = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            connections[self] = None
            self._bfl_arm(header_timeout)
            excess = len(connections) - max_conn
            if excess > 0:
                for proto in list(connections):
                    if excess <= 0:
                        break
                    if proto is not self and proto._bfl_waiting():
                        proto._bfl_abort(None)
                        excess -= 1
                if excess > 0:  # every other connection is serving a request: this one waits its turn no more
                    self._bfl_abort(None)

        def connection_lost(self, exc: Exception | None) -> None:
            connections.pop(self, None)
            self._bfl_disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._bfl_deadline is None and self._bfl_waiting():
                self._bfl_arm(header_timeout)  # the first bytes of a (next) request: its headers are due
            super().data_received(data)
            cycle = self.cycle
            if cycle is not None and cycle is not self._bfl_cycle:  # a new request's headers are complete
                self._bfl_cycle = cycle
                self._bfl_header_bytes = 0
                self._bfl_disarm()
            elif self._bfl_waiting():
                self._bfl_header_bytes += len(data)
                if self._bfl_header_bytes > max_header:
                    self._bfl_abort(TOO_LARGE_431)
                    return
            if cycle is not None and not cycle.response_complete:
                if cycle.more_body and self._bfl_body_cycle is not cycle:
                    self._bfl_body_cycle = cycle
                    self._bfl_arm(body_timeout)
                elif not cycle.more_body and self._bfl_body_cycle is cycle:
                    self._bfl_body_cycle = None
                    self._bfl_disarm()

        def on_headers_complete(self) -> None:
            url = getattr(self, "url", None)  # httptools: the request target as sent
            if isinstance(url, bytes) and url[:1] not in (b"/", b"*") and b"://" in url[:12]:
                authority = url.split(b"://", 1)[1]
                for stop in (b"/", b"?", b"#"):
                    authority = authority.split(stop, 1)[0]
                authority = authority.rpartition(b"@")[2]
                self.headers[:] = [(n, v) for n, v in self.headers if n != b"host"] + [(b"host", authority)]
            super().on_headers_complete()

        # -- helpers
        def _bfl_waiting(self) -> bool:
            """Not serving a request: between requests or in the middle of a request's headers (a request
            answered early, e.g. 413, whose body is still arriving, is not waiting for headers)."""
            cycle = self.cycle
            return cycle is None or (cycle.response_complete and not cycle.more_body)

        def _bfl_arm(self, seconds: float) -> None:
            if seconds > 0:
                self._bfl_deadline = self.loop.time() + seconds
                if sweeper[0] is None:
                    sweeper[0] = self.loop.call_later(tick, sweep, self.loop)
            else:
                self._bfl_deadline = None

        def _bfl_disarm(self) -> None:
            self._bfl_deadline = None

        def _bfl_expired(self) -> None:
            self._bfl_deadline = None
            cycle = self.cycle
            waiting_body = cycle is not None and not cycle.response_complete and cycle.more_body
            if self._bfl_waiting() or waiting_body:
                self._bfl_abort(TIMEOUT_408)

        def _bfl_abort(self, response: bytes | None) -> None:
            self._bfl_disarm()
            connections.pop(self, None)
            close_with(self.transport, response)

    GuardedProtocol.__name__ = f"Guarded{base.__name__}"
    return GuardedProtocol


def uvicorn_config(app: Any, settings: Settings, **kw: Any) -> Any:
    """A ``uvicorn.Config`` with the guards, keep-alive timeout and no ``server`` header (the real API sends
    none; downloads carry Azure's own)."""
    import uvicorn

    return uvicorn.Config(
        app,
        http=guarded_protocol(settings),
        timeout_keep_alive=max(1, int(settings.keepalive_timeout_seconds)),
        server_header=False,
        access_log=False,
        **kw,
    )


def raise_fd_limit() -> int:
    """Raise the soft open-file limit to the hard one (connections are file descriptors); return it."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        return int(soft)
    except (ImportError, ValueError, OSError):  # pragma: no cover - not POSIX
        return -1
