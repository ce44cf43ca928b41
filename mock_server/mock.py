"""``BflMock``: one fake, with everything a test or a server needs to control it.

It ties the backend (state), the HTTP surface, the admin API, the request journal and the webhook
dispatcher together; the pytest fixtures, ``bfl-mock serve`` and the admin API all drive this object.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from mock_server.core.backend import BflBackend, Task, WaitFor
from mock_server.core.clock import Clock
from mock_server.core.config import Settings
from mock_server.core.endpoints import ENDPOINTS, Endpoint
from mock_server.core.endpoints.additions_2026 import configured
from mock_server.core.errors import DEFAULT_ERROR, ApiError, ConfigError
from mock_server.core.finetunes import FinetuneRegistry
from mock_server.core.moderation import Moderator
from mock_server.core.rules import Outcome, Rule, RuleSet, moderation_outcome
from mock_server.core.status import TaskStatus
from mock_server.http.app import MockHTTP
from mock_server.http.journal import Journal
from mock_server.http.services import Services
from mock_server.http.types import Deferred, HttpRequest, HttpResponse
from mock_server.scheduler import Scheduler
from mock_server.webhooks.dispatcher import WebhookDispatcher


class BflMock:
    """The composition root: it builds the layers bottom-up and passes each its collaborators (nothing below
    calls back into this object)."""

    # --- where clients reach this fake (set by the bfl_mock/bfl_server fixtures and ``mock_bfl``) ---
    #: The origin clients call: ``https://api.bfl.ai`` in-process, ``http://127.0.0.1:<port>`` when served.
    url: str = ""
    #: The same value, under the name client libraries take (``base_url=``, ``api_base=``).
    base_url: str = ""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        endpoints: Sequence[Endpoint] | None = None,
        **overrides: Any,
    ) -> None:
        settings = settings or Settings()
        if overrides:
            settings = settings.replace(**overrides)
        self.settings = settings
        self.endpoints = configured(tuple(ENDPOINTS if endpoints is None else endpoints), settings)
        unknown = settings.endpoint_names() - {e.name for e in self.endpoints}
        if unknown:
            raise ConfigError(f"settings name endpoints this fake does not serve: {', '.join(sorted(unknown))}")
        self.backend = BflBackend(settings, clock=clock)
        self.clock = self.backend.clock
        self.journal = Journal(settings.journal_size, settings.journal_bytes)
        self._extra: dict[str, Any] = {}  # config-file / marker sections, applied again on reset
        self.webhooks = WebhookDispatcher(self.backend)
        self.scheduler = Scheduler(self.backend, self.webhooks)
        self.http = MockHTTP(
            Services(
                backend=self.backend,
                journal=self.journal,
                webhooks=self.webhooks,
                endpoints=self.endpoints,
                reset=lambda api_key: self.reset(api_key=api_key),
            )
        )

    @property
    def bound_port(self) -> int | None:
        """The port of the server serving this fake (webhooks never call it)."""
        return self.backend.egress.bound_port

    @bound_port.setter
    def bound_port(self, port: int | None) -> None:
        self.backend.egress.bound_port = port

    @property
    def bound_host(self) -> str | None:
        return self.backend.egress.bound_host

    @bound_host.setter
    def bound_host(self, host: str | None) -> None:
        self.backend.egress.bound_host = host

    # ------------------------------------------------------------------ serving
    def serve(self, req: HttpRequest) -> HttpResponse:
        """Answer one request, blocking on background work (the in-process path)."""
        start = time.perf_counter()
        answer = self.http.handle(req)
        while isinstance(answer, Deferred):
            run_here = getattr(answer.future, "run_here", None)
            if run_here is not None:  # a queued render-pool job: this thread would only wait, so it runs it
                run_here()
            try:
                answer.future.result()
            except Exception:  # the continuation renders what went wrong
                pass
            answer = self.http.resume(req, answer)
        if answer.delay:
            self.clock.sleep(answer.delay)
        self._journal(req, answer, start)
        return answer

    async def serve_async(self, req: HttpRequest) -> HttpResponse:
        """Answer one request, awaiting background work off the event loop (the ASGI path)."""
        start = time.perf_counter()
        answer = self.http.handle(req)
        while isinstance(answer, Deferred):
            try:
                await asyncio.wrap_future(answer.future)
            except Exception:  # the continuation renders what went wrong
                pass
            answer = self.http.resume(req, answer)
        if answer.delay:
            await self.clock.asleep(answer.delay)
        self._journal(req, answer, start)
        return answer

    def _journal(self, req: HttpRequest, resp: HttpResponse, start: float) -> None:
        if req.route is not None and not req.route.journal:  # the admin API, /health
            return
        headers = resp.headers
        if headers and headers[0][0] == "content-type":  # HttpResponse.json puts it first
            ctype = headers[0][1]
        else:
            ctype = next((val for k, val in headers if k.lower() == "content-type"), "")
        raw = None
        if ctype == "application/json" and len(resp.body) < 65536:
            raw = resp.body if resp.status != 422 else _redacted_json(resp.body)
        self.journal.add(self.clock.now(), req, resp.status, raw, (time.perf_counter() - start) * 1000)

    # ------------------------------------------------------------------ control surface
    def reset(self, api_key: str | None = None) -> None:
        """Back to a fresh fake: tasks, accounts, rules, scenarios, finetunes, moderation, clock, journal,
        webhooks, as a new fake with the same settings and configuration would be.

        With ``api_key``, only that key's tasks, account, journal entries and webhooks (rules stay).
        """
        if api_key is not None:
            self.webhooks.reset(self.backend.reset_key(api_key))
            self.journal.clear(api_key)
            return
        self.webhooks.reset()
        self.backend.reset()  # tasks, accounts, rules, scenarios, finetunes, moderation, clock
        self.journal.clear()
        if self._extra:
            self.configure(self._extra, remember=False)

    def configure(self, extra: dict[str, Any], *, remember: bool = True) -> None:
        """Apply config-file sections (scenarios, rules, finetunes, credits, moderation); ``reset()``
        restores them, so a reset fake is the configured fake, not a bare one."""
        from mock_server.configfile import apply_extra

        apply_extra(self, extra)
        if remember:
            self._extra = {k: v for k, v in {**self._extra, **extra}.items() if v is not None}

    def close(self) -> None:
        """Stop the scheduler and render threads; remove spilled results."""
        self.scheduler.close()
        self.http.close()
        self.backend.close()

    @property
    def rules(self) -> RuleSet:
        """The rules, in order: ``.list()``, ``.add(dict)``, ``.remove(id)``, ``.clear()``."""
        return self.backend.rules

    def add_rule(
        self,
        match: dict[str, Any] | None = None,
        outcome: dict[str, Any] | str | None = None,
        *,
        name: str = "",
        times: int | None = None,
        first: bool = False,
    ) -> Rule:
        """``mock.add_rule({"prompt_contains": "cat"}, {"status": "Error", "error": "boom"})``"""
        return self.rules.add(
            {"match": match or {}, "outcome": outcome or {}, "name": name, "times": times}, first=first
        )

    def scenario(self, name: str, outcome: Any) -> Outcome:
        """Define a named scenario usable with ``X-Mock-Scenario: name`` and in rules."""
        return self.rules.define_scenario(name, outcome)

    @property
    def requests(self) -> Journal:
        """The request journal: ``.filter(method=, path=, status=, task_id=, api_key=, limit=)``, ``.last``,
        ``len()``, iteration. Secrets are redacted, images kept as length and SHA-256."""
        return self.journal

    @property
    def moderator(self) -> Moderator:
        """Word-list moderation: ``.set([{"reason", "threshold", "words"}])``, ``.reasons(prompt, tolerance)``."""
        return self.backend.moderator

    @property
    def finetunes(self) -> FinetuneRegistry:
        """The finetune registry: ``.add(id, **details)`` (every account), ``.add_for(key, id, details)``,
        ``.get(id, api_key=)``, ``.ids(api_key=)``, ``.delete(id, api_key=)``, ``.auto_registered``."""
        return self.backend.finetunes

    def tasks(self, *, status: str | None = None, api_key: str | None = None) -> list[Task]:
        """Tasks, oldest first, optionally with one status or of one key (``Task.summary()`` is a dict)."""
        return self.backend.list_tasks(status=status, api_key=api_key)

    def task(self, task_id: str) -> Task:
        """One task (raises ``TaskNotFound``)."""
        return self.backend.get_task(task_id)

    def complete(self, task_id: str) -> Task:
        """Finish a Pending task as Ready now (waits for its image if it is still rendering)."""
        return self._force(task_id, Outcome())

    def fail(self, task_id: str, error: str = DEFAULT_ERROR) -> Task:
        """Finish a Pending task as Error with ``error`` now."""
        return self._force(task_id, Outcome(status=TaskStatus.ERROR, error=error))

    def moderate(
        self, task_id: str, status: str = TaskStatus.CONTENT_MODERATED, reasons: list[str] | None = None
    ) -> Task:
        """Finish a Pending task as Request/Content Moderated now, with ``reasons``."""
        return self._force(task_id, moderation_outcome(status, reasons))

    def _force(self, task_id: str, outcome: Outcome) -> Task:
        while True:
            try:
                return self.backend.force(task_id, outcome)
            except WaitFor as w:  # this caller's own thread waits; the admin API awaits instead
                try:
                    w.future.result()
                except Exception:
                    pass

    def set_credits(self, api_key: str, credits: float) -> None:
        """Set a key's balance (402 ``Insufficient credits`` once a submit costs more)."""
        self.backend.set_credits(api_key, credits)

    def credits(self, api_key: str) -> float:
        """A key's balance (an unknown key has the starting balance, ``credits`` setting)."""
        return self.backend.credits(api_key)

    def check(self) -> None:
        """Re-raise the first unexpected exception the fake hit while serving (the plugin calls this)."""
        err = self.backend.errors.pop_first()
        if err is not None:
            raise err

    def __enter__(self) -> BflMock:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _redacted_json(body: bytes) -> bytes:
    """A 422 echoes the request (``input``): journal it without its secrets."""
    import json

    from mock_server.http.journal import redact_response

    try:
        return json.dumps(redact_response(json.loads(body)), separators=(",", ":")).encode()
    except ValueError:
        return b""


__all__ = ["ApiError", "BflMock"]
