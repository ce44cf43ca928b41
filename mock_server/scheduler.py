"""The one background scheduler: a thread with its own event loop that finishes due tasks nobody polls
(``BflBackend.tick``) and runs due webhook attempts (``WebhookDispatcher.launch_due``).

It starts on the first task that needs it (a webhook task) and wakes when the clock jumps or a delivery is
queued; otherwise it sleeps until the next due moment on the clock (at most 0.25 s of real time). Nothing
here is on a request's path: API answers never wait for it.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from mock_server.core.backend import BflBackend
from mock_server.webhooks.dispatcher import WebhookDispatcher

log = logging.getLogger("bfl_mock")
IDLE_SECONDS = 0.25  # the longest real wait between two looks at a running clock


class Scheduler:
    def __init__(self, backend: BflBackend, dispatcher: WebhookDispatcher) -> None:
        self.backend = backend
        self.dispatcher = dispatcher
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._closing = False
        self._started = threading.Event()
        dispatcher.attach(self.ensure_started, self.wake)
        backend.clock.subscribe(self.wake)

    def ensure_started(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._closing = False
            self._started.clear()
            self._thread = threading.Thread(target=self._run, name="bfl-mock-scheduler", daemon=True)
            self._thread.start()
        self._started.wait(5)

    def wake(self) -> None:
        loop, event = self._loop, self._event
        if loop is not None and event is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # the loop closed meanwhile
                pass

    def close(self) -> None:
        self._closing = True
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            self._loop = None
            loop.close()

    async def _main(self) -> None:
        self._event = asyncio.Event()
        self.dispatcher.start_loop()
        self._started.set()
        clock = self.backend.clock
        while not self._closing:
            try:
                nxt = self.backend.tick()
            except Exception as e:  # the scheduler survives anything (the backend isolates tasks already)
                log.exception("bfl-mock: lifecycle tick failed")
                self.backend.errors.append(e)
                nxt = None
            due = self.dispatcher.launch_due(clock.now())
            if due is not None:
                nxt = due if nxt is None else min(nxt, due)
            wait = IDLE_SECONDS
            if nxt is not None:
                real = clock.real_seconds_until(nxt)
                if real is not None:
                    wait = min(wait, real)
            self._event.clear()
            try:
                await asyncio.wait_for(self._event.wait(), timeout=max(wait, 0.001))
            except asyncio.TimeoutError:
                pass
        await self.dispatcher.stop_loop()
