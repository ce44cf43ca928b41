"""A live fake on a loopback port in a background thread (``bfl_server`` fixture, tests, benchmarks).

Binds port 0 and reads the real port back, waits on a ready event, and can swap the ``BflMock`` it
serves between tests without restarting (pytest-httpserver's pattern).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

from mock_server.mock import BflMock


class LiveServer:
    def __init__(self, mock: BflMock | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.mock = mock or BflMock()
        self.host = host
        self.port = port
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> LiveServer:
        import uvicorn

        from mock_server.asgi import create_app

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        app = create_app(_Proxy(self), close_on_shutdown=False)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  (not the main thread)

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

        self._thread = threading.Thread(target=run, name="bfl-mock-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            raise RuntimeError(f"bfl-mock live server did not start: {self._error!r}")
        return self

    async def _serve(self, sock: socket.socket) -> None:
        server = self._server
        config = server.config
        if not config.loaded:
            config.load()
        server.lifespan = config.lifespan_class(config)
        await server.startup(sockets=[sock])
        self._ready.set()
        await server.main_loop()
        await server.shutdown(sockets=[sock])

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.mock.close()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class _Proxy:
    """Forwards to whatever mock the server currently holds (swapped per test)."""

    def __init__(self, server: LiveServer) -> None:
        self._server = server

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server.mock, name)
