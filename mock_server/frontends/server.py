"""Servers on a loopback port in a background thread.

``ThreadedServer`` runs any ASGI app under uvicorn (binds port 0 and reads the real port back, waits on a
ready event, re-raises start-up errors); ``bind_socket`` is its socket, which ``bfl-mock serve`` uses too.
``LiveServer`` serves a ``BflMock`` that can be swapped between tests without restarting
(pytest-httpserver's pattern): the ``bfl_server`` fixture, tests, benchmarks. ``WebhookReceiver`` is a small
recording receiver for testing webhooks and ``send-webhook``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import threading
from dataclasses import dataclass, field
from typing import Any


def bind_socket(host: str, port: int, *, backlog: int = 2048) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (0: any free port; ``getsockname()`` says which). It
    listens at once, so connections queue before the server runs and a printed URL works immediately.
    Raises ``OSError`` (``EADDRINUSE`` ...) with nothing left open."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


class ThreadedServer:
    def __init__(self, app: Any = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(self.host, self.host)
        return (
            f"http://[{host}]:{self.port}" if ":" in host and not host.startswith("[") else f"http://{host}:{self.port}"
        )

    def build_app(self) -> Any:
        return self.app

    def build_config(self, app: Any) -> Any:
        import uvicorn

        return uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")

    def start(self) -> ThreadedServer:
        import uvicorn

        sock = bind_socket(self.host, self.port)
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(self.build_config(self.build_app()))

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve(sock))
            except BaseException as e:  # surfaced by start()/stop()
                self._error = e
                self._ready.set()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()
                sock.close()

        self._thread = threading.Thread(target=run, name=f"{type(self).__name__}-{self.port}", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            raise RuntimeError(f"{type(self).__name__} did not start: {self._error!r}")
        return self

    async def _serve(self, sock: socket.socket) -> None:
        server = self._server
        config = server.config
        if not config.loaded:
            config.load()
        server.lifespan = config.lifespan_class(config)
        await server.startup(sockets=[sock])  # no signal handlers: this is not the main thread
        self._ready.set()
        await server.main_loop()
        await server.shutdown(sockets=[sock])

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._error is not None:
            raise self._error

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class LiveServer(ThreadedServer):
    def __init__(self, mock: Any, *, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve ``mock`` (a ``BflMock``; the fixtures swap it between tests)."""
        super().__init__(host=host, port=port)
        self.mock = mock

    def build_app(self) -> Any:
        from mock_server.frontends.asgi import create_app

        return create_app(_Proxy(self), close_on_shutdown=False)

    def build_config(self, app: Any) -> Any:
        from mock_server.frontends.netguard import uvicorn_config

        return uvicorn_config(app, self.mock.settings, log_level="warning", lifespan="on")

    def start(self) -> LiveServer:
        super().start()
        self.mock.bound_port = self.port  # webhooks never call the fake itself
        self.mock.bound_host = self.host
        return self

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            self.mock.close()


class _Proxy:
    """Forwards to whatever mock the server currently holds (swapped per test)."""

    def __init__(self, server: LiveServer) -> None:
        self._server = server

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server.mock, name)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver(ThreadedServer):
    """A loopback webhook receiver that records every request.

    ``statuses`` are answered in order (the last one repeats); ``hang`` makes it never answer (the sender's
    timeout fires); with ``secret`` set it checks the ``bfl`` or ``hmac`` authentication and answers 401
    when it does not verify, like a careful receiver would.
    """

    statuses: list[int] = field(default_factory=lambda: [200])
    secret: str | None = None
    profile: str = "bfl"
    hang: bool = False
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(host="127.0.0.1", port=0)
        self._cond = threading.Condition()
        self._release = threading.Event()

    def build_app(self) -> Any:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                return
            body = b""
            while True:
                msg = await receive()
                body += msg.get("body", b"")
                if not msg.get("more_body"):
                    break
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            with self._cond:
                n = len(self.received)
                status = self.statuses[min(n, len(self.statuses) - 1)]
                if self.secret is not None and not self.verify(headers, body):
                    status = 401
                self.received.append(Received(scope["path"], headers, body, status))
                self._cond.notify_all()
            if self.hang:
                await asyncio.get_running_loop().run_in_executor(None, self._release.wait, 30)
            await send(
                {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]}
            )
            await send({"type": "http.response.body", "body": json.dumps({"received": n + 1}).encode()})

        return app

    def verify(self, headers: dict[str, str], body: bytes) -> bool:
        assert self.secret is not None
        if self.profile == "hmac":
            expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
            return hmac.compare_digest(headers.get("x-bfl-signature", ""), expected)
        return hmac.compare_digest(headers.get("x-webhook-secret", ""), self.secret)

    def wait(self, count: int, timeout: float = 5.0) -> list[Received]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.received) >= count, timeout=timeout):
                raise TimeoutError(f"receiver got {len(self.received)} of {count} requests within {timeout}s")
            return list(self.received)

    def stop(self) -> None:
        self._release.set()
        super().stop()
