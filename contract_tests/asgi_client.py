"""A synchronous client for an ASGI app (the FastAPI oracles), on an event loop of its own.

The oracles are called through httpx's own ``ASGITransport`` rather than ``starlette.testclient``: the test
client warns (``StarletteDeprecationWarning``) when only ``httpx`` is installed, and the kit needs nothing of
it but a request and an answer.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx


class AsgiClient:
    """``post`` / ``request`` like ``httpx.Client``, answered by ``app`` in-process (500 on an app error)."""

    def __init__(self, app: Any, name: str, base_url: str = "http://oracle") -> None:
        self.name = name
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"bfl-oracle-{name}", daemon=True)
        self._thread.start()
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self._client = self._run(self._make(transport, base_url))

    @staticmethod
    async def _make(transport: httpx.ASGITransport, base_url: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=transport, base_url=base_url)

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=120)

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        response: httpx.Response = self._run(self._client.request(method, url, **kw))
        return response

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)

    def close(self) -> None:
        self._run(self._client.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __repr__(self) -> str:  # what a failure report shows of the fixture
        return f"<oracle {self.name}>"
