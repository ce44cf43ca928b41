"""The fake's state and behaviour, with no HTTP in it (moto's ``<Svc>Backend`` pattern).

Handlers parse requests, call these methods, and render what they return or raise. ``BflBackend`` is
the orchestrator: the tasks live in a ``TaskStore`` (``tasks.py``), when a task is due and how it ends
are pure functions (``lifecycle.py``), and image work runs on ``Media``'s thread pools (``media.py``;
small input checks run where the submit does, see there). Time comes from the injected ``Clock``.
"""

from __future__ import annotations

import logging
import os
import random
import threading
from collections.abc import Callable
from typing import Any

from mock_server.core import admission, lifecycle
from mock_server.core.accounts import Accounts, TokenBuckets, check_key
from mock_server.core.blobs import Signer
from mock_server.core.clock import Clock
from mock_server.core.config import Settings
from mock_server.core.egress import EgressPolicy
from mock_server.core.endpoints import CANNY_FINETUNED, Endpoint
from mock_server.core.endpoints import family as families
from mock_server.core.endpoints.flux3_video import poll_view, settle_result
from mock_server.core.errors import (
    DEFAULT_ERROR,
    ApiError,
    AzureError,
    ErrorLog,
    TaskNotFound,
    WaitFor,
    blob_not_found,
    conflict,
)
from mock_server.core.finetunes import FinetuneRegistry
from mock_server.core.media import Media
from mock_server.core.moderation import Moderator
from mock_server.core.rules import Outcome, RuleSet
from mock_server.core.status import TERMINAL, TaskStatus
from mock_server.core.tasks import Task, TaskStore, new_task, not_found_view, sizes

log = logging.getLogger("bfl_mock")


class BflBackend:
    """One fake's state: tasks, accounts, rate limits, rules, finetunes and image work, behind plain methods
    that return data or raise the real API's errors (``ApiError``, ``TaskNotFound``, ``AzureError``), or
    ``WaitFor(future)`` when the caller must wait for image work and then call again.

    **The lock.** ``self._lock`` is one re-entrant lock for all of this fake's mutable state: the task
    store, the accounts and rate buckets, and ``Media``'s bookkeeping (backlog, kept inputs, downloads
    waiting for a render). The rules for holding it:

    * hold it for bookkeeping only: never while decoding, rendering, fetching or waiting on a future. A
      caller that needs image work gets ``WaitFor(future)``, waits without the lock, and asks again;
    * image jobs run without it and take it only to publish what they made, after checking that their
      task is still the store's (``TaskStore.holds``): a reset or an eviction may have forgotten it;
    * it is re-entrant because code that holds it reaches code that takes it: a download's render is
      queued under it and the render pool is created lazily under it (``Media.executor``), and the
      ``on_finished`` listeners (the webhook dispatcher) run under it and may call the backend again;
    * the caches (``media.results``, ``media.images``, ...) and the ``Clock`` have locks of their own and
      may be read without it.
    """

    def __init__(self, settings: Settings | None = None, *, clock: Clock | None = None) -> None:
        self.settings = settings or Settings()
        self.clock = clock or Clock(frozen=self.settings.frozen_clock, start=self.settings.clock_start)
        self._lock = threading.RLock()  # see the class docstring
        self.rules = RuleSet()
        self.moderator = Moderator()
        self.finetunes = FinetuneRegistry(strict=self.settings.strict_finetunes)
        self.egress = EgressPolicy(self.settings)  # where the fake may connect (webhooks, image URLs)
        self.on_finished: list[Callable[[Task], None]] = []  # webhooks subscribe here
        self.errors = ErrorLog(self.settings.max_errors)  # unexpected server-side exceptions (plugin raises)
        self._configured_rules = self.settings.rules
        self.tasks = TaskStore(self.settings, self._forget)
        self.admission = admission.Admission(self.settings, self.tasks, self.finetunes, self._advance_if_ready)
        self.media = Media(
            self.settings,
            lock=self._lock,
            tasks=self.tasks,
            clock=self.clock,
            errors=self.errors,
            egress=self.egress,
            on_checked=self._checked,
        )
        self.media.own_link = lambda url: self.media.read_own_link(url, self.signer)  # the signer of now
        self.reset()

    # ------------------------------------------------------------------ lifecycle of the fake
    def reset(self) -> None:
        """Forget every task, account, rule added at run time and finetune change."""
        with self._lock:
            seed = self.settings.seed
            self.rng = random.Random(seed if seed is not None else int.from_bytes(os.urandom(16), "big"))
            self.signer = Signer(self.rng.getrandbits(256).to_bytes(32, "big"))
            self.tasks.clear()
            self.media.reset()
            self.accounts = Accounts(self.settings)  # credits and active tasks per key, LRU
            self.buckets = TokenBuckets(self.settings)  # get_result rate limit per key / client, LRU
            self.rules.clear()
            for r in self._configured_rules:
                self.rules.add(r)
            self.finetunes.reset()
            self.moderator.reset()
            self.errors.clear()
        self.clock.reset()

    def reset_key(self, api_key: str) -> list[str]:
        """Forget one key's tasks and account (``--isolate-keys``: a worker resets only its own state)."""
        with self._lock:
            dropped = self.tasks.drop_key(api_key)
            self.accounts.forget(api_key)
            self.buckets.forget(f"key:{api_key}")
            self.finetunes.reset_key(api_key)
            return dropped

    def close(self) -> None:
        self.media.close()

    def _forget(self, task: Task) -> None:
        """(Under the lock, from the task store.) ``task`` is gone: let go of what else is kept for it."""
        self.media.forget(task)
        admission.release(self.accounts, task)

    # ------------------------------------------------------------------ accounts
    def check_key(self, key: str | None) -> str:
        return check_key(self.settings, key)

    def credits(self, key: str) -> float:
        """A read creates nothing: an unknown key has the starting balance."""
        with self._lock:
            acc = self.accounts.find(key)
            return self.settings.credits if acc is None else acc.credits

    def set_credits(self, key: str, credits: float) -> None:
        with self._lock:
            self.accounts.get(key).credits = float(credits)

    # ------------------------------------------------------------------ submit
    def decide(
        self, *, api_key: str, params: dict[str, Any], scenario: str | None, endpoint: Endpoint | None = None
    ) -> tuple[Outcome, int | None]:
        """The outcome a request gets and the id of the rule that chose it: ``lifecycle.decide``."""
        name = (endpoint or CANNY_FINETUNED).name
        return lifecycle.decide(
            self.rules, self.moderator, api_key=api_key, params=params, scenario=scenario, endpoint=name
        )

    def submit(
        self,
        *,
        api_key: str,
        params: dict[str, Any],
        delivery_origin: str,
        outcome: Outcome | None = None,
        rule_id: int | None = None,
        scenario: str | None = None,
        webhook_opts: dict[str, Any] | None = None,
        images: dict[str, dict[str, Any]] | None = None,
        endpoint: Endpoint | None = None,
    ) -> Task:
        """Accept a validated request (``params`` = the model's python dump) for ``endpoint`` (its price,
        limit, finetune rule and family) or raise the real API error. ``images`` are the summaries the
        caller already made of the image fields (else they are made here)."""
        endpoint = endpoint or CANNY_FINETUNED  # callers of the first version named no endpoint
        if outcome is None:
            outcome, rule_id = self.decide(api_key=api_key, params=params, scenario=scenario, endpoint=endpoint)
        if outcome.http_status is not None:
            detail = outcome.detail if outcome.detail is not None else TaskStatus.ERROR
            raise ApiError(outcome.http_status, detail, dict(outcome.headers))
        quote = admission.quote(self.settings, endpoint, params)  # may read input image headers: outside the lock
        ready = outcome.status == TaskStatus.READY
        held, nbytes = sizes(api_key, params, endpoint.family.image_fields, ready)
        now = self.clock.now()
        with self._lock:
            acc = self.admission.admit(self.accounts, api_key, endpoint, params, quote, now)
            self.tasks.admit(nbytes, now)
            task = new_task(
                self.rng, now, api_key, params, endpoint, outcome, images=images, delivery_origin=delivery_origin,
                progression=outcome.progression or self.settings.progression, rule_id=rule_id, scenario=scenario,
                webhook_opts=dict(webhook_opts or {}), quote=quote, held=held, nbytes=nbytes,
            )  # fmt: skip
            acc.credits -= quote.cost
            acc.active.add(task.id)
            self.tasks.add(task)
        self.media.keep_inputs(task, params)
        if ready:
            self.media.start(task, params)
        return task

    def cost_fields(self, endpoint: Endpoint) -> str:
        """Whether the submit answer has ``cost``/``input_mp``/``output_mp``: ``admission.cost_fields``."""
        return admission.cost_fields(self.settings, endpoint)

    def check_capacity(self) -> None:
        """Backpressure before a submit (WaitFor while the render backlog is full): ``Media.check_capacity``."""
        self.media.check_capacity()

    def _checked(self, task: Task) -> None:
        """A task's image job is done: a webhook task nobody polls may be due now."""
        if task.webhook_url is not None:
            with self._lock:
                self._advance_if_ready(task, self.clock.now())

    # ------------------------------------------------------------------ lifecycle
    def _advance(self, task: Task, now: float, polls: int) -> None:
        """(Under the lock.) Move a Pending task forward to ``now``; raise WaitFor if finishing needs its image
        check first. Whatever else goes wrong in one task's lifecycle ends that task in Error (recorded
        once), so a poll, a listing or the scheduler never fails, or fails again, because of it."""
        try:
            if task.terminal:
                return
            due, end = lifecycle.due(task, now, polls)
            if due:
                fut = lifecycle.render_wait(task)
                if fut is not None:
                    raise WaitFor(fut)
                self._finish(task, end)
        except WaitFor:
            raise
        except Exception as e:
            self._fail_internally(task, e)

    def _advance_if_ready(self, task: Task, now: float) -> bool:
        """(Under the lock.) ``_advance`` without a poll; False when it must wait for the task's image check."""
        try:
            self._advance(task, now, task.polls)
        except WaitFor:
            return False
        return True

    def _finish(self, task: Task, end: float) -> None:
        """(Under the lock.) End ``task`` at ``end`` with its resolved outcome; tell the listeners."""
        task.finished_at = end
        task.progress = None
        task.hold_until = lifecycle.hold_until(task, task.forced or task.outcome, end)
        self.tasks.release_inputs(task)  # decided (a forced outcome may not wait for the check)
        resolved = lifecycle.resolve(task)
        if resolved.image_error is not None:
            task.image_error = resolved.image_error
        if resolved.unexpected is not None:
            self.errors.append(resolved.unexpected)
        status = resolved.outcome.status
        if status == TaskStatus.READY:
            self.tasks.publish(task, end, rng=self.rng, signer=self.signer, ttl=self.settings.delivery_ttl_seconds)
            settle_result(task, self.media.results.get)  # FLUX 3: result.duration is the clip's length
        else:
            self.media.discard_result(task.id)
        task.details = lifecycle.details(resolved.outcome)
        if status == TaskStatus.TASK_NOT_FOUND:
            task.lost = True
        else:
            task.status = status
        task.events.append((end, f"finished: {status}"))
        admission.release(self.accounts, task)
        self.tasks.finish(task, end)
        for cb in list(self.on_finished):
            try:
                cb(task)
            except Exception as e:  # a listener must never break the API
                log.exception("on_finished listener failed")
                self.errors.append(e)

    def _fail_internally(self, task: Task, exc: BaseException) -> None:
        """A task whose lifecycle raised: it ends in Error with the internal message; recorded once."""
        log.error("bfl-mock: task %s failed internally: %s: %s", task.id, type(exc).__name__, exc)
        self.errors.append(exc)
        self.tasks.watched.discard(task.id)
        if task.terminal:
            return
        task.forced = Outcome(status=TaskStatus.ERROR, error=DEFAULT_ERROR)
        task.image_job = None
        try:
            self._finish(task, self.clock.now())
        except Exception:  # even finishing failed: mark it final so nothing retries it forever
            task.status, task.details, task.finished_at = TaskStatus.ERROR, {"error": DEFAULT_ERROR}, self.clock.now()
            self.tasks.finish(task, task.finished_at)

    def poll(self, task_id: str, *, viewer: str | None = None) -> dict[str, Any]:
        """The body of GET /v1/get_result for ``task_id`` (raises TaskNotFound / WaitFor).

        With ``isolate_keys``, a poll that sends an ``x-key`` (``viewer``) sees only that key's tasks.
        """
        now = self.clock.now()
        with self._lock:
            task = self.tasks.lookup(task_id, now)
            if self.settings.isolate_keys and viewer is not None and viewer != task.api_key:
                raise TaskNotFound(task_id)
            if task.not_found_polls > 0:
                task.not_found_polls -= 1
                task.events.append((now, "poll: transient 404"))
                raise TaskNotFound(task_id)
            if task.lost:
                raise TaskNotFound(task_id)
            polls = task.polls + 1
            if not task.terminal:
                self._advance(task, now, polls)  # may raise WaitFor before counting the poll
                if not task.terminal:
                    task.progress = lifecycle.progress(task, now, polls)
                if task.lost:
                    task.polls = polls
                    raise TaskNotFound(task_id)
            task.polls = polls
            if task.hold_until is not None and now < task.hold_until:  # "early" webhook fault
                return lifecycle.held_view(task)
            return poll_view(task.endpoint.family, task.view(), task.quote.cost if task.quote else None)

    def tick(self) -> float | None:
        """Finish due tasks that somebody waits for without polling (webhooks); evict expired ones.

        Returns the clock time of the next such event, if any.
        """
        now = self.clock.now()
        nxt: float | None = None
        with self._lock:
            self.tasks.evict(now)
            for tid in list(self.tasks.watched):
                task = self.tasks.get(tid)
                if task is None or task.terminal:
                    self.tasks.watched.discard(tid)
                    continue
                if not self._advance_if_ready(task, now):
                    continue  # _checked advances it once its check is done
                if not task.terminal:
                    due_at = lifecycle.next_due(task)
                    if due_at is not None:
                        nxt = due_at if nxt is None else min(nxt, due_at)
        return nxt

    # ------------------------------------------------------------------ control (Python / admin API)
    def get_task(self, task_id: str) -> Task:
        with self._lock:
            return self.tasks.lookup(task_id, self.clock.now())

    def force(self, task_id: str, outcome: Outcome) -> Task:
        """Finish a Pending task now with ``outcome`` (complete / fail / moderate from the control API).

        Raises WaitFor while the task's image is still rendering: the caller waits (the admin API awaits it
        off the event loop; ``BflMock.complete`` blocks its own thread) and calls again.
        """
        with self._lock:
            task = self.tasks.lookup(task_id, self.clock.now())
            if task.terminal:
                raise conflict(f"task {task_id} is already {task.status}")
            if outcome.status == TaskStatus.READY and task.image_job is not None and not task.image_job.done():
                raise WaitFor(task.image_job)  # nothing changed yet: asking again after the wait is safe
            task.forced = outcome
            self._finish(task, self.clock.now())
            return task

    def list_tasks(self, *, status: str | None = None, api_key: str | None = None) -> list[Task]:
        now = self.clock.now()
        with self._lock:
            out = []
            for t in self.tasks.values():
                self._advance_if_ready(t, now)
                if status is not None and t.public_status != status:
                    continue
                if api_key is not None and t.api_key != api_key:
                    continue
                out.append(t)
            return out

    def ratelimit(self, key: str | None, client: str) -> list[tuple[str, str]]:
        """Spend one get_result token of the request's API key (or, keyless, of its client address): the rate
        headers, or ApiError 429. Keys and addresses have separate buckets (``key:`` / ``ip:``), so a poll
        that sends an address as its ``x-key`` cannot drain that address's bucket."""
        with self._lock:
            return self.buckets.take(f"key:{key}" if key else f"ip:{client}", self.clock.now())

    # ------------------------------------------------------------------ delivery
    def blob(self, path: str, query_string: str) -> tuple[Task, bytes]:
        """A result's task and encoded bytes for a signed delivery path (raises AzureError, or WaitFor
        while the image is encoded again after the cache dropped it)."""
        self.signer.verify(path, query_string, self.clock.now())
        with self._lock:
            task = self.tasks.by_blob(path)
            if task is None:
                raise blob_not_found()
        artefact = families.artefact_at(task.endpoint.family, task.output_format, path)
        return task, self.media.result_bytes(task, artefact.name)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                **self.tasks.stats(),
                **self.media.stats(),
                "accounts": len(self.accounts),
                "ratelimit_buckets": len(self.buckets),
                "errors": self.errors.total,
            }


__all__ = ["TERMINAL", "AzureError", "BflBackend", "Task", "TaskNotFound", "WaitFor", "not_found_view"]
