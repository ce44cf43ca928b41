"""Webhook delivery: configurable, observable, on the fake clock, never on the request path.

When a task with a ``webhook_url`` reaches a final state, a notification is built from the selected
profile (``schemas/webhook_profiles.json``) and POSTed from the scheduler's thread and event loop
(``mock_server/scheduler.py``) with a per-attempt timeout, at most ``webhook_per_host`` at once per host.
Connection errors, timeouts, 5xx, 408 and 429 are retried after the ``webhook_backoff`` delays (fake-clock
seconds); a 2xx ends it. Every attempt is journaled (secrets
redacted) and ``wait_for`` lets tests block until a delivery settles instead of polling.

Faults (rule outcome ``webhook: {...}`` or header ``X-Mock-Webhook-Fault``): ``drop``, ``duplicate``,
``delay=S`` (extra seconds before the first attempt), ``early=S`` (notify while get_result still shows
Pending for S seconds), ``bad-secret`` (wrong secret / signature).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mock_server.core import lifecycle
from mock_server.core.errors import ConfigError, InvalidSecret
from mock_server.core.redact import redact_secret
from mock_server.webhooks.client import DeliveryError, TargetRefused, post_once
from mock_server.webhooks.notify import build_notification, load_profiles

if TYPE_CHECKING:
    from mock_server.core.backend import BflBackend, Task

log = logging.getLogger("bfl_mock.webhooks")
RETRY_STATUSES = frozenset({408, 429})
MAX_IN_FLIGHT = 64  # concurrent webhook requests


@dataclass
class Attempt:
    number: int
    at: float  # fake clock
    status: int | None = None
    error: str | None = None
    latency_ms: float = 0.0
    answer: str | None = None  # the start of the receiver's answer (its first 1 KiB)

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "at": self.at,
            "status": self.status,
            "error": self.error,
            "latency_ms": round(self.latency_ms, 3),
            "answer": self.answer,
        }


_ids = itertools.count(1)


@dataclass
class Delivery:
    task_id: str
    url: str
    profile: str
    body: bytes
    headers: dict[str, str]
    created_at: float
    next_at: float
    secret_header: str | None = None
    copies: int = 1  # duplicate fault: 2
    state: str = "pending"  # pending | delivered | failed | dropped | blocked
    attempts: list[Attempt] = field(default_factory=list)
    id: int = field(default_factory=lambda: next(_ids))
    in_flight: bool = False

    @property
    def final(self) -> bool:
        return self.state != "pending"

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def to_dict(self) -> dict[str, Any]:
        headers = {k: (redact_secret(v) if k == self.secret_header else v) for k, v in self.headers.items()}
        return {
            "id": self.id,
            "task_id": self.task_id,
            "url": self.url,
            "profile": self.profile,
            "state": self.state,
            "headers": headers,
            "body": self.json,
            "created_at": self.created_at,
            "attempts": [a.to_dict() for a in self.attempts],
        }


class WebhookDispatcher:
    """Builds a delivery for every finished task with a ``webhook_url`` and runs its attempts.

    It runs nothing by itself: the ``Scheduler`` (one thread and event loop for the lifecycle and the
    webhooks) calls ``launch_due`` and is reached through the ``start``/``wake`` callbacks it attaches.
    """

    def __init__(self, backend: BflBackend) -> None:
        self.backend = backend
        self.settings = backend.settings
        self.clock = backend.clock
        self.egress = backend.egress  # shared with input-image fetches
        self.profiles = load_profiles(self.settings.schema_dir)
        if self.settings.webhook_profile not in self.profiles:
            raise ConfigError(
                f"unknown webhook profile {self.settings.webhook_profile!r}; known: {', '.join(sorted(self.profiles))}"
            )
        self.deliveries: list[Delivery] = []
        self._finals = 0  # settled deliveries in the journal (bounded by webhook_journal_size)
        self._cond = threading.Condition()
        self._host_slots: dict[str, asyncio.Semaphore] = {}
        self._inflight: set[asyncio.Task[None]] = set()
        self._start: Callable[[], None] = lambda: None
        self._wake: Callable[[], None] = lambda: None
        backend.on_finished.append(self._on_finished)

    def attach(self, start: Callable[[], None], wake: Callable[[], None]) -> None:
        """The scheduler's callbacks: start its thread, wake its loop."""
        self._start, self._wake = start, wake

    # ------------------------------------------------------------------ public
    def wait_for(
        self, task_id: str, timeout: float = 5.0, *, attempts: int | None = None, advance: bool = True
    ) -> Delivery:
        """Block until the delivery for ``task_id`` settles (or has ``attempts`` attempts); ``timeout`` is
        real seconds.

        On a frozen clock (the plugin's default) nothing due later can happen by itself, so with ``advance``
        the clock is moved to the next moment that matters (the task finishing, a retry's backoff) whenever
        nothing else is under way. A wait that cannot end says at once what to do instead of timing out.
        """
        self.wake()
        deadline = time.monotonic() + timeout

        def ready() -> Delivery | None:
            for d in self.deliveries:
                if d.task_id == task_id and (d.final if attempts is None else len(d.attempts) >= attempts or d.final):
                    return d
            return None

        while True:
            with self._cond:
                found = ready()
                if found is not None:
                    return found
                due = self._frozen_due(task_id) if advance else None
                if due is None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(min(remaining, 0.05))
                    continue
            clock = self.clock
            if due > clock.now():
                clock.advance(due - clock.now())
            else:
                with self._cond:
                    self._cond.wait(0.01)
            if time.monotonic() > deadline:
                break
        states = [(d.state, [(a.status, a.error) for a in d.attempts]) for d in self.deliveries if d.task_id == task_id]
        raise TimeoutError(
            f"no settled webhook delivery for task {task_id} within {timeout}s (seen: {states}); {self._hint(task_id)}"
        )

    def _frozen_due(self, task_id: str) -> float | None:
        """On a frozen clock with nothing in flight: the clock time at which this task's webhook can move on."""
        clock = self.clock
        if not clock.frozen:
            return None
        mine = [d for d in self.deliveries if d.task_id == task_id]
        if any(d.in_flight for d in mine):
            return None
        pending = [d.next_at for d in mine if d.state == "pending"]
        if pending:
            return min(pending)
        if mine:
            return None
        task = self.backend.tasks.get(task_id)
        if task is None:
            return None  # unknown here: the wait times out and says so
        if task.webhook_url is None:
            raise LookupError(f"task {task_id} has no webhook_url: there is no webhook to wait for")
        if task.terminal:
            return None
        due = lifecycle.next_due(task)
        if due is None:
            raise LookupError(
                f"task {task_id} is Pending with progression {task.progression} and the clock is frozen: nothing "
                "will finish it by itself. Complete it (bfl_mock.complete(task_id)) or poll it"
            )
        return due

    def _hint(self, task_id: str) -> str:
        if task_id not in self.backend.tasks:
            return "no such task (never submitted here, or reset / evicted)"
        clock = self.clock
        if clock.frozen:
            return (
                f"the clock is frozen at {clock.now()}: advance it (bfl_mock.clock.advance(seconds)) or poll the "
                "task until it finishes"
            )
        return "is the receiver answering, and is its host allowed (webhook_allow)?"

    async def async_wait_for(
        self, task_id: str, timeout: float = 5.0, *, attempts: int | None = None, advance: bool = True
    ) -> Delivery:
        """``wait_for`` for async tests."""
        return await asyncio.to_thread(self.wait_for, task_id, timeout, attempts=attempts, advance=advance)

    def for_task(self, task_id: str) -> list[Delivery]:
        """Every delivery journaled for a task (``.state``, ``.attempts``, ``.json``, ``.to_dict()``)."""
        return [d for d in self.deliveries if d.task_id == task_id]

    def reset(self, task_ids: list[str] | None = None) -> None:
        with self._cond:
            if task_ids is None:
                self.deliveries.clear()
            else:
                gone = set(task_ids)
                self.deliveries[:] = [d for d in self.deliveries if d.task_id not in gone]
            self._finals = sum(1 for d in self.deliveries if d.final)

    def wake(self) -> None:
        self._wake()

    def ensure_started(self) -> None:
        self._start()

    # ------------------------------------------------------------------ building deliveries
    def _on_finished(self, task: Task) -> None:
        if task.webhook_url is None or task.lost:
            return
        opts = {**(task.outcome.webhook or {}), **getattr(task, "webhook_opts", {})}
        profile_name = opts.get("profile") or self.settings.webhook_profile
        profile = self.profiles.get(profile_name)
        if profile is None:
            log.error("unknown webhook profile %r; using %r", profile_name, self.settings.webhook_profile)
            profile_name, profile = self.settings.webhook_profile, self.profiles[self.settings.webhook_profile]
        now = self.clock.now()
        error = None
        try:
            body, headers = build_notification(
                profile,
                task_id=task.id,
                status=task.status,
                result=task.result,
                details=task.details,
                secret=task.webhook_secret,
                now=now,
                forge=bool(opts.get("bad-secret")),
            )
        except InvalidSecret as e:
            body, headers, error = b"null", {}, str(e)
        d = Delivery(
            task.id,
            task.webhook_url,
            profile_name,
            body,
            headers,
            now,
            now + float(opts.get("delay", 0.0)),
            secret_header=profile.get("auth", {}).get("header"),
            copies=2 if opts.get("duplicate") else 1,
        )
        if error is not None:
            d.state = "failed"
            d.attempts.append(Attempt(1, now, error=error))
        elif opts.get("drop"):
            d.state = "dropped"
        elif not self._allowed(task.webhook_url):
            d.state = "blocked"
            log.warning("webhook to %s blocked by --webhook-allow", _clip_url(task.webhook_url))
        log.info("webhook for task %s -> %s (%s, %s)", task.id, _clip_url(task.webhook_url), profile_name, d.state)
        with self._cond:
            self.deliveries.append(d)
            if d.final:
                self._settled()
            self._cond.notify_all()
        if d.state == "pending":
            self.ensure_started()
            self.wake()

    def _settled(self) -> None:
        """A delivery became final: keep at most ``webhook_journal_size`` settled ones (pending never go)."""
        self._finals += 1
        excess = self._finals - max(1, self.settings.webhook_journal_size)
        if excess > 0:
            keep = []
            for d in self.deliveries:
                if excess > 0 and d.final:
                    excess -= 1
                    self._finals -= 1
                    continue
                keep.append(d)
            self.deliveries[:] = keep

    def _allowed(self, url: str) -> bool:
        return self.egress.allowed(url)

    def check_target(self, host: str, port: int, addresses: list[str]) -> None:
        self.egress.check(host, port, addresses)

    # ------------------------------------------------------------------ run by the scheduler's loop
    def start_loop(self) -> None:
        """Called in the scheduler's event loop before the first ``launch_due``."""
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)  # waiting for a slot never counts against a timeout
        self._host_slots = {}
        self._inflight = set()

    def launch_due(self, now: float) -> float | None:
        """Start every attempt due at ``now``; return the clock time of the next one, if any."""
        nxt: float | None = None
        with self._cond:
            pending = [d for d in self.deliveries if d.state == "pending" and not d.in_flight]
        for d in pending:
            if d.next_at <= now:
                d.in_flight = True
                t = asyncio.create_task(self._attempt(d))
                self._inflight.add(t)
                t.add_done_callback(self._inflight.discard)
            else:
                nxt = d.next_at if nxt is None else min(nxt, d.next_at)
        return nxt

    async def stop_loop(self) -> None:
        """Cancel attempts in flight and let them finish cancelling (no pending task is destroyed)."""
        for t in list(self._inflight):
            t.cancel()
        if self._inflight:
            await asyncio.wait(list(self._inflight), timeout=2)

    def _host_slot(self, url: str) -> asyncio.Semaphore:
        """At most ``webhook_per_host`` deliveries in flight to one host:port, so a receiver that never
        answers holds a few slots, not all of them."""
        parts = urlsplit(url)
        key = f"{parts.hostname}:{parts.port}"
        slot = self._host_slots.get(key)
        if slot is None:
            if len(self._host_slots) > 1000:  # forget idle hosts
                for k in [k for k, sem in self._host_slots.items() if not sem.locked()]:
                    del self._host_slots[k]
            slot = self._host_slots[key] = asyncio.Semaphore(max(1, self.settings.webhook_per_host))
        return slot

    async def _attempt(self, d: Delivery) -> None:
        number = len(d.attempts) + 1
        retry = False
        blocked = False
        try:
            host_slot = self._host_slot(d.url)
        except ValueError:
            host_slot = asyncio.Semaphore(1)
        async with host_slot, self._slots:
            attempt = Attempt(number, self.clock.now())
            start = time.perf_counter()
            try:
                for _ in range(d.copies):
                    reply = await post_once(
                        d.url, d.body, d.headers, self.settings.webhook_timeout_seconds, self.check_target
                    )
                    attempt.status, attempt.answer = reply.status, reply.body.decode("utf-8", "replace")
                status = attempt.status
                retry = status is not None and (status >= 500 or status in RETRY_STATUSES)
            except TargetRefused as e:
                attempt.error = f"blocked: {e}"
                blocked = True
            except TimeoutError as e:
                attempt.error = f"timeout: {e}"
                retry = True
            except DeliveryError as e:
                attempt.error = str(e)
                retry = True
            except Exception as e:  # a bad URL the client refuses etc.: final
                attempt.error = f"{type(e).__name__}: {e}"
            attempt.latency_ms = (time.perf_counter() - start) * 1000
        backoff = self.settings.webhook_backoff
        with self._cond:
            d.attempts.append(attempt)
            d.in_flight = False
            if attempt.status is not None and 200 <= attempt.status < 300:
                d.state = "delivered"
            elif blocked:
                d.state = "blocked"
            elif retry and number <= len(backoff):
                d.next_at = self.clock.now() + backoff[number - 1]
            else:
                d.state = "failed"
            if d.final:
                self._settled()
            self._cond.notify_all()
        log.info("webhook %s attempt %d -> %s %s", _clip_url(d.url), number, attempt.status, attempt.error or "")
        self.wake()


def _clip_url(url: str) -> str:
    """A URL for logs: no userinfo (it may hold credentials), no query (tokens), at most 200 chars."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return f"{parts.scheme}://{netloc}{parts.path}"[:200]
