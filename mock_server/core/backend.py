"""The fake's state and behaviour, with no HTTP in it (moto's ``<Svc>Backend`` pattern).

Handlers parse requests, call these methods, and render what they return or raise. Time comes from
the injected ``Clock``; image work runs on a small thread pool, never on the caller's thread, and a
caller that must wait for it gets ``WaitFor(future)`` (the async front end awaits it, the sync one
blocks on it), so no lock is ever held while waiting.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import logging
import math
import os
import random
import threading
import traceback
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mock_server.core import imaging, previews
from mock_server.core.accounts import Account, Accounts, TokenBuckets, check_key
from mock_server.core.blobs import Signer, md5_b64, new_blob_path
from mock_server.core.clock import Clock
from mock_server.core.config import Progression, Settings
from mock_server.core.egress import EgressPolicy, FetchPool, TargetRefused, TooLarge
from mock_server.core.endpoints import CANNY_FINETUNED, Endpoint, Quote, Rendered
from mock_server.core.endpoints import family as families
from mock_server.core.endpoints.flux3_video import poll_view
from mock_server.core.errors import (
    DEFAULT_ERROR,
    DEFAULT_REASONS,
    FINETUNE_NOT_FOUND,
    INSUFFICIENT_CREDITS,
    INVALID_IMAGE,
    RATE_LIMITED_DETAIL,
    STORE_FULL,
    TASK_NOT_FOUND,
    ApiError,
    AzureError,
    ErrorLog,
    TaskNotFound,
    WaitFor,
    blob_not_found,
)
from mock_server.core.finetunes import FinetuneRegistry
from mock_server.core.moderation import Moderator
from mock_server.core.redact import control_summary, key_fingerprint
from mock_server.core.redact import redact_secret as _redact
from mock_server.core.rules import Outcome, RequestContext, RuleSet
from mock_server.core.status import TERMINAL, TaskStatus

log = logging.getLogger("bfl_mock")


@dataclass(frozen=True)
class Unrendered:
    """A Ready task's checked inputs, kept (in the result store) until its first download renders them."""

    checked: Any


@dataclass(slots=True)  # 10,000s of tasks: no per-instance __dict__
class Task:
    id: str
    api_key: str
    created_at: float
    prompt: str
    seed: int
    output_format: str
    endpoint: Endpoint
    params: dict[str, Any]
    outcome: Outcome
    progression: Progression
    delivery_origin: str
    webhook_url: str | None = None
    webhook_secret: str | None = None
    status: str = TaskStatus.PENDING
    polls: int = 0
    progress: float | None = None
    not_found_polls: int = 0
    lost: bool = False  # final status "Task not found"
    finished_at: float | None = None
    result: dict[str, Any] | None = None
    details: dict[str, Any] | None = None
    image_job: cf.Future[None] | None = None  # the input check (and, with lazy_render=false, the render)
    blob_path: str | None = None
    md5: str | None = None
    blob_headers: list[tuple[str, str]] | None = None  # built once by the HTTP layer (fixed per blob)
    forced: Outcome | None = None  # complete()/fail() from the control API
    webhook_opts: dict[str, Any] = field(default_factory=dict)  # per-request webhook faults / profile
    hold_until: float | None = None  # "early" webhook fault: get_result shows Pending until then
    rule_id: int | None = None
    scenario: str | None = None  # the X-Mock-Scenario the request named
    events: list[tuple[float, str]] = field(default_factory=list)
    image_error: str | None = None  # why the input image could not be used (admin only, never public)
    quote: Quote | None = None  # its price and megapixels, as the submit answer may show them
    nbytes: int = 0  # what this task holds (prompt, key, params, images until decided): the task store's budget
    input_bytes: int = 0  # of which its input images as sent, until its check is done (queued or running)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL or self.lost

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "result": self.result,
            "progress": self.progress,
            "details": self.details,
            "preview": None,
        }

    def brief(self) -> dict[str, Any]:
        """A list row: what the dashboard's task table shows (no parameters or images; the key only redacted
        and as its fingerprint)."""
        return {
            "id": self.id,
            "endpoint": self.endpoint.name,
            "status": TaskStatus.TASK_NOT_FOUND if self.lost else self.status,
            "progress": self.progress,
            "key_id": key_fingerprint(self.api_key),
            "api_key": _redact(self.api_key),
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "polls": self.polls,
            "rule": self.rule_id,
            "scenario": self.scenario,
            "webhook": self.webhook_url is not None,
            "image_error": self.image_error,
        }

    def summary(self) -> dict[str, Any]:
        return {
            **self.view(),
            "status": TaskStatus.TASK_NOT_FOUND if self.lost else self.status,
            "api_key": _redact(self.api_key),
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "polls": self.polls,
            "progression": str(self.progression),
            "outcome": self.outcome.to_dict(),
            "endpoint": self.endpoint.name,
            "finetune_id": self.params.get("finetune_id"),
            "webhook_url": self.webhook_url,
            "params": self.params,
            "rule": self.rule_id,
            "scenario": self.scenario,
            "key_id": key_fingerprint(self.api_key),
            "events": [{"at": t, "event": e} for t, e in self.events],
            "image_error": self.image_error,
        }


def not_found_view(task_id: str) -> dict[str, Any]:
    return {"id": task_id, "status": TASK_NOT_FOUND, "result": None, "progress": None, "details": None, "preview": None}


class BflBackend:
    def __init__(self, settings: Settings | None = None, *, clock: Clock | None = None) -> None:
        self.settings = settings or Settings()
        self.clock = clock or Clock(frozen=self.settings.frozen_clock, start=self.settings.clock_start)
        self._lock = threading.RLock()
        self._executor: cf.ThreadPoolExecutor | None = None
        self.rules = RuleSet()
        self.moderator = Moderator()
        self.finetunes = FinetuneRegistry(strict=self.settings.strict_finetunes)
        from mock_server.core.store import BytesLRU, ResultStore, SizedLRU

        self.results = ResultStore(self.settings.result_memory_bytes)
        self.images = BytesLRU(self.settings.image_cache_bytes)
        self.previews = SizedLRU(8 * 1024 * 1024)  # dashboard thumbnails: (bytes, content type)
        self.kept_inputs = SizedLRU(self.settings.keep_inputs_bytes)  # input images as sent, for the dashboard
        self.egress = EgressPolicy(self.settings)  # where the fake may connect (webhooks, image URLs)
        self.fetches = FetchPool(self.settings.fetch_workers, self.settings.fetch_per_host)  # image URLs
        self.on_finished: list[Callable[[Task], None]] = []  # webhooks subscribe here
        self.errors = ErrorLog(self.settings.max_errors)  # unexpected server-side exceptions (plugin raises)
        self._configured_rules = self.settings.rules
        self._backlog: deque[cf.Future[Any]] = deque()  # queued renders, oldest first (survives reset)
        self._backlog_bytes = 0
        self.reset()

    # ------------------------------------------------------------------ lifecycle of the fake
    def reset(self) -> None:
        """Forget every task, account, rule added at run time and finetune change."""
        with self._lock:
            seed = self.settings.seed
            self.rng = random.Random(seed if seed is not None else int.from_bytes(os.urandom(16), "big"))
            self.signer = Signer(self.rng.getrandbits(256).to_bytes(32, "big"))
            self.tasks: OrderedDict[str, Task] = OrderedDict()
            self._finished: OrderedDict[str, float] = OrderedDict()
            self._blobs: dict[str, str] = {}
            self._encoding: dict[str, cf.Future[bytes]] = {}
            self._unrendered: OrderedDict[str, int] = OrderedDict()  # Ready tasks' kept inputs, oldest first
            self._unrendered_bytes = 0
            self.accounts = Accounts(self.settings)  # credits and active tasks per key, LRU
            self.buckets = TokenBuckets(self.settings)  # get_result rate limit per key / client, LRU
            self._task_bytes = 0
            self._watched: set[str] = set()  # Pending tasks with a webhook_url
            self.rules.clear()
            for r in self._configured_rules:
                self.rules.add(r)
            self.finetunes.reset()
            self.moderator.reset()
            self.results.clear()
            self.images.clear()
            self.previews.clear()
            self.kept_inputs.clear()
            self.errors.clear()
            self._encoding.clear()
        self.clock.reset()

    def reset_key(self, api_key: str) -> list[str]:
        """Forget one key's tasks and account (``--isolate-keys``: a worker resets only its own state)."""
        with self._lock:
            dropped = [tid for tid, t in self.tasks.items() if t.api_key == api_key]
            for tid in dropped:
                self._drop(tid)
            self.accounts.forget(api_key)
            self.buckets.forget(f"key:{api_key}")
            self.finetunes.reset_key(api_key)
            return dropped

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        self.fetches.shutdown()
        self.results.clear()

    @property
    def executor(self) -> cf.ThreadPoolExecutor:
        if self._executor is None:
            with self._lock:
                if self._executor is None:
                    imaging.single_threaded_opencv()
                    self._executor = cf.ThreadPoolExecutor(
                        max_workers=max(1, self.settings.render_workers), thread_name_prefix="bfl-mock-render"
                    )
        return self._executor

    # ------------------------------------------------------------------ accounts
    def account(self, key: str) -> Account:
        return self.accounts.get(key)

    def _account_if_any(self, key: str) -> Account | None:
        return self.accounts.find(key)

    def check_key(self, key: str | None) -> str:
        return check_key(self.settings, key)

    def credits(self, key: str) -> float:
        """A read creates nothing: an unknown key has the starting balance."""
        with self._lock:
            acc = self._account_if_any(key)
            return self.settings.credits if acc is None else acc.credits

    def set_credits(self, key: str, credits: float) -> None:
        with self._lock:
            self.account(key).credits = float(credits)

    # ------------------------------------------------------------------ submit
    def decide(
        self, *, api_key: str, params: dict[str, Any], scenario: str | None, endpoint: Endpoint | None = None
    ) -> tuple[Outcome, int | None]:
        ctx = RequestContext(
            prompt=params.get("prompt") or "",
            endpoint=(endpoint or CANNY_FINETUNED).name,
            finetune_id=params.get("finetune_id") or "",
            seed=params.get("seed"),
            api_key=api_key,
            scenario=scenario,
        )
        outcome, rule = self.rules.decide(ctx)
        if outcome is None:
            reasons = self.moderator.reasons(ctx.prompt, int(params.get("safety_tolerance", 2)))
            outcome = Outcome(status=TaskStatus.REQUEST_MODERATED, reasons=tuple(reasons)) if reasons else Outcome()
        return outcome, (rule.id if rule else None)

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
            raise ApiError(
                outcome.http_status,
                outcome.detail if outcome.detail is not None else TaskStatus.ERROR,
                dict(outcome.headers),
            )
        quote = self.quote(endpoint, params)  # may read input image headers: outside the lock
        now = self.clock.now()
        with self._lock:
            self._evict(now)
            if endpoint.requires_finetune and not self.finetunes.usable(params["finetune_id"], api_key):
                raise ApiError(400, FINETUNE_NOT_FOUND)  # finetunes are scoped to the key's account
            acc = self.account(api_key)
            cost = quote.cost
            if acc.credits < cost:
                raise ApiError(402, INSUFFICIENT_CREDITS)
            self._check_active(acc, endpoint, now)
            # input images count while the task holds them as sent: until its check is done (then they are gone,
            # or kept as checked inputs under lazy_render_bytes / result_memory_bytes)
            held = _image_bytes(params, endpoint.family.image_fields) if outcome.status == TaskStatus.READY else 0
            nbytes = _task_bytes(api_key, params, endpoint.family.image_fields) + held
            if len(self.tasks) >= self.settings.max_tasks:
                self._evict(now, force=len(self.tasks) - self.settings.max_tasks + 1)
                if len(self.tasks) >= self.settings.max_tasks:
                    raise ApiError(429, STORE_FULL, {"Retry-After": "1"})
            budget = self.settings.max_task_bytes
            if self._task_bytes + nbytes > budget:  # oldest finished tasks go first, active ones never
                while self._finished and self._task_bytes + nbytes > budget:
                    self._evict(now, force=1)
                if self._task_bytes + nbytes > budget:
                    raise ApiError(429, STORE_FULL, {"Retry-After": "1"})
            task_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
            seed = params.get("seed")
            if seed is None:
                seed = self.rng.randrange(0, 2**32)
            fmt = params.get("output_format") or "jpeg"
            fmt = getattr(fmt, "value", fmt)
            task = Task(
                id=task_id,
                api_key=api_key,
                created_at=now,
                prompt=params.get("prompt") or "",
                seed=int(seed),
                output_format=fmt,
                endpoint=endpoint,
                params=_public_params(params, endpoint.family.image_fields, images),
                outcome=outcome,
                progression=outcome.progression or self.settings.progression,
                delivery_origin=delivery_origin,
                webhook_url=None if params.get("webhook_url") is None else str(params["webhook_url"]),
                webhook_secret=params.get("webhook_secret"),
                not_found_polls=outcome.not_found_polls,
                rule_id=rule_id,
                scenario=scenario,
                webhook_opts=dict(webhook_opts or {}),
                nbytes=nbytes,
                input_bytes=held,
                quote=quote,
            )
            task.events.append((now, "submitted"))
            self._task_bytes += nbytes
            acc.credits -= cost
            acc.submitted += 1
            acc.active.add(task_id)
            self.tasks[task_id] = task
            if task.webhook_url is not None:
                self._watched.add(task_id)
        if self.settings.keep_inputs_bytes:  # kept for inspection (admin API, dashboard): newest first, bounded
            sources = {f: params[f] for f in endpoint.family.image_fields if isinstance(params.get(f), str)}
            if sources:
                self.kept_inputs.put(task.id, sources, sum(len(v) for v in sources.values()))
        if outcome.status == TaskStatus.READY:
            inputs, size = endpoint.family.render_inputs(params)
            with self._lock:
                self._backlog_bytes += size
            task.image_job = self._image_job(task, inputs, params)
            del inputs  # the queued job holds the only reference: released as soon as the check is done
            with self._lock:
                self._backlog.append(task.image_job)
            task.image_job.add_done_callback(functools.partial(self._prepared_cb, task, size))
        return task

    def _check_active(self, acc: Account, endpoint: Endpoint, now: float) -> None:
        """429 when the key has ``active_task_limit`` active tasks, or its endpoint's own limit of active tasks
        of that endpoint (``active_limits``; flux-kontext-max: 6). 0 turns every limit off."""
        limit = self.settings.active_task_limit
        if not limit:
            return
        own = self.settings.for_endpoint(endpoint.name, "active_limits")
        own_limit = int(own) if own is not None else endpoint.active_limit

        def over() -> bool:
            if len(acc.active) >= limit:
                return True
            if own_limit is None:
                return False
            mine = sum(1 for tid in acc.active if (t := self.tasks.get(tid)) is not None and t.endpoint is endpoint)
            return mine >= own_limit

        if over():
            self._refresh_active(acc, now)  # only when it could refuse: some may have finished by now
            if over():
                raise ApiError(429, RATE_LIMITED_DETAIL, {"Retry-After": "1"})

    def cost_fields(self, endpoint: Endpoint) -> str:
        """Whether the submit answer has ``cost``/``input_mp``/``output_mp``: "absent", "null" or "values"."""
        return self.settings.for_endpoint(endpoint.name, "submit_cost_fields") or endpoint.cost_fields

    def quote(self, endpoint: Endpoint, params: dict[str, Any]) -> Quote:
        """The submit's price in credits (the ``prices`` setting, else the endpoint's) and megapixels."""
        flat = self.settings.for_endpoint(endpoint.name, "prices")
        values = self.cost_fields(endpoint) == "values"
        quote = endpoint.quote(params, self.settings.cost_per_request, megapixels=values)
        return quote if flat is None else Quote(float(flat), quote.input_mp, quote.output_mp)

    def check_capacity(self) -> None:
        """Backpressure: while queued renders hold more than ``render_backlog_bytes`` of control images,
        a new submit waits (WaitFor) for the oldest one, so memory stays bounded and nothing is refused."""
        with self._lock:
            while self._backlog and self._backlog[0].done():
                self._backlog.popleft()
            if self._backlog_bytes > self.settings.render_backlog_bytes and self._backlog:
                raise WaitFor(self._backlog[0])

    # ------------------------------------------------------------------ image work (worker threads)
    def input_image(self, task_id: str, field: str) -> bytes | None:
        """An input image of a task as its bytes (decoded from base64), or None (not kept, a URL, unusable)."""
        kept = self.kept_inputs.get(task_id)
        value = kept.get(field) if isinstance(kept, dict) else None
        if not isinstance(value, str) or value.strip().lower().startswith(("http://", "https://")):
            return None
        try:
            return imaging.decode_base64(value)
        except imaging.InvalidImage:
            return None

    def preview(self, task: Task, name: str, max_side: int, result: bytes | None = None) -> cf.Future[Any]:
        """A thumbnail of one of ``task``'s images, made on a render thread: an input field (as kept),
        one of its family's previews (canny's ``edges``) or ``result`` (its encoded bytes given; by its media
        type). The future's result is (bytes, content type), or it raises LookupError."""
        key = f"{task.id}/{name}/{max_side}"
        cached = self.previews.get(key)
        if cached is not None:
            done: cf.Future[Any] = cf.Future()
            done.set_result(cached)
            return done

        def job() -> tuple[bytes, str]:
            family = task.endpoint.family
            try:
                if name == "result" and result is not None:
                    media = families.output_media_type(family, task.output_format)
                    out = previews.of_result(result, media, max_side, self.settings.max_image_pixels)
                elif name in family.image_fields:
                    data = self.input_image(task.id, name)
                    if data is None:
                        raise LookupError(f"{name} was not sent, is no longer kept (keep_inputs_bytes) or is a URL")
                    out = previews.thumbnail(data, max_side, self.settings.max_image_pixels)
                elif any(p.name == name for p in families.previews(family, task.params or {})):
                    kept, cap = functools.partial(self.input_image, task.id), self.settings.max_image_pixels
                    out = families.preview(family, name, task.params or {}, kept, max_side=max_side, max_pixels=cap)
                else:
                    raise LookupError(f"{task.endpoint.name} tasks have no image {name!r}")
            except imaging.InvalidImage as e:
                raise LookupError(f"{name} is not a usable image: {e.reason}") from None
            self.previews.put(key, out, len(out[0]))
            return out

        return self._job(job)

    def _job(self, fn: Callable[..., Any], *args: Any) -> cf.Future[Any]:
        """Image work on a render thread, under this fake's decode limits (``max_jpeg_scans``). The arguments
        pass into ``fn`` and nowhere else, so nothing here keeps them (input images) alive once it returns."""
        box = [args]
        max_scans = self.settings.max_jpeg_scans

        def run() -> Any:
            with imaging.limits(max_scans):
                return fn(*box.pop())

        return self.executor.submit(run)

    def _prepare_job(self, task: Task, inputs: Any, fetched: dict[str, cf.Future[bytes]] | None = None) -> None:
        """Before the task can finish: get and check its input images (what decides Ready or Error). The
        pixel work waits for the first download (``lazy_render``), or is done here with it off. ``fetched``:
        the task's image URLs, already fetched on the fetch pool (``_image_job``).

        A rejected input keeps nothing alive: only the reason is kept (``image_error``), and what the job
        raises has no frame that still holds the images (the traceback of an exception holds every frame's
        locals: a 21 MB undecodable image would otherwise live as long as the task)."""
        try:
            self._prepare(task, inputs, fetched)
            return
        except imaging.InvalidImage as e:
            task.image_error = e.reason
            failure: Exception = imaging.InvalidImage(e.reason)
        except Exception as e:  # a bug, or a task forgotten meanwhile: the error as raised, minus its frames' locals
            if e.__traceback__ is not None:
                traceback.clear_frames(e.__traceback__.tb_next)
            failure = e
        del inputs
        if task.input_bytes >= 1_000_000:  # hand the freed buffers of a large rejected input back to the OS
            imaging.release_native_memory(task.input_bytes)
        raise failure

    def _release_inputs(self, task: Task) -> None:
        """(Under the lock.) The task's check is done: its images as sent no longer count in the task budget."""
        if task.input_bytes and self.tasks.get(task.id) is task:
            self._task_bytes -= task.input_bytes
            task.nbytes -= task.input_bytes
        task.input_bytes = 0

    def _prepare(self, task: Task, inputs: Any, fetched: dict[str, cf.Future[bytes]] | None) -> None:
        settings = self.settings
        family = task.endpoint.family
        fetch = self._fetch_image if fetched is None else functools.partial(self._prefetched, fetched)
        checked, nbytes = family.check(inputs, max_pixels=settings.max_image_pixels, fetch=fetch)
        del inputs
        out = None if settings.lazy_render else self._render(task, checked)
        overflow: list[Task] = []
        with self._lock:  # a reset (or eviction) while this ran: keep nothing for a forgotten task
            if self.tasks.get(task.id) is not task:
                raise LookupError("task forgotten while its images were checked")
            if out is None:
                self.results.put(task.id, Unrendered(checked), nbytes)
                self._unrendered[task.id] = nbytes
                self._unrendered_bytes += nbytes
                while self._unrendered_bytes > settings.lazy_render_bytes and self._unrendered:
                    oldest, size = self._unrendered.popitem(last=False)
                    self._unrendered_bytes -= size
                    if (t := self.tasks.get(oldest)) is not None:
                        overflow.append(t)
            else:
                self.results.put(task.id, out.intermediate, out.intermediate_bytes)
                self.images.put(task.id, out.data)
        if out is not None:
            task.md5 = md5_b64(out.data)
        for t in overflow:  # beyond lazy_render_bytes of kept inputs: the oldest become compact intermediates
            self._job(self._render_kept, t)

    def _forget_unrendered(self, task_id: str) -> None:
        """(Under the lock.) The task's checked inputs no longer count toward ``lazy_render_bytes``."""
        size = self._unrendered.pop(task_id, None)
        if size is not None:
            self._unrendered_bytes -= size

    def _render_kept(self, task: Task) -> None:
        """Render a Ready task's kept inputs into its compact intermediate now (not for a download)."""
        kept = self.results.get(task.id)
        if not isinstance(kept, Unrendered):
            return
        try:
            out = self._render(task, kept.checked)
        except imaging.InvalidImage as e:
            task.image_error = f"render failed: {e.reason}"
            return
        except Exception as e:  # a bug in rendering: recorded once; the download will try again
            self.errors.append(e)
            return
        with self._lock:
            if self.tasks.get(task.id) is task and isinstance(self.results.get(task.id), Unrendered):
                self.results.put(task.id, out.intermediate, out.intermediate_bytes)
                task.events.append((self.clock.now(), "rendered"))

    def _render(self, task: Task, checked: Any) -> Rendered[Any]:
        settings = self.settings
        return task.endpoint.family.render(
            checked,
            seed=task.seed,
            output_format=task.output_format,
            max_pixels=settings.max_image_pixels,
            jpeg_quality=settings.jpeg_quality,
        )

    def _fetch_image(self, url: str, budget: int | None = None) -> bytes:
        """An input image given as a URL, under the egress policy (never the fake itself, never a host
        outside ``webhook_allow``); anything that fails ends the task as an unusable input does. ``budget``:
        what is left of the task's ``max_body_bytes`` for all its image URLs together."""
        limit = self.settings.max_body_bytes
        try:
            return self.egress.fetch(
                url,
                timeout=self.settings.webhook_timeout_seconds,
                max_bytes=limit if budget is None else budget,
                min_rate=self.settings.fetch_min_bytes_per_second,
            )
        except TooLarge as e:
            if budget is not None and budget < limit:
                raise imaging.InvalidImage(f"input image URLs over {limit} bytes in all") from None
            raise imaging.InvalidImage(f"input image URL not fetched: {e}") from None
        except (TargetRefused, OSError, ValueError) as e:
            raise imaging.InvalidImage(f"input image URL not fetched: {e}") from None

    # -- image URLs are fetched on their own pool (docs/security.md), then checked on a render thread -------
    def _image_job(self, task: Task, inputs: Any, params: dict[str, Any]) -> cf.Future[None]:
        """The task's image job: its image URLs fetched first on ``self.fetches`` (a slow image host holds a
        fetch thread, never a render thread), one after another so that the task's ``max_body_bytes`` bounds
        what its URLs bring in all, then the check on the render pool."""
        box = [inputs]
        del inputs  # the job is the only holder: released once the check is done
        urls = sorted(
            {
                v.strip()
                for f in task.endpoint.family.image_fields
                if isinstance(v := params.get(f), str) and v.strip().lower().startswith(("http://", "https://"))
            }
        )
        if not urls:
            return self._job(self._prepare_job, task, box.pop())
        outer: cf.Future[None] = cf.Future()
        fetched: dict[str, cf.Future[bytes]] = {}
        budget = [self.settings.max_body_bytes]

        def settle(inner: cf.Future[None]) -> None:
            try:
                if inner.cancelled():
                    outer.cancel()
                elif (exc := inner.exception()) is not None:
                    outer.set_exception(exc)
                else:
                    outer.set_result(None)
            except cf.InvalidStateError:
                pass

        def check() -> None:
            try:
                inner = self._job(self._prepare_job, task, box.pop(), fetched)
            except RuntimeError:  # closed meanwhile
                outer.cancel()
                return
            inner.add_done_callback(settle)

        def next_url(done: cf.Future[bytes] | None = None) -> None:
            if done is not None:
                if done.cancelled() or done.exception() is not None:  # the check meets this failure first
                    for url in urls[len(fetched) :]:
                        fetched[url] = done
                    check()
                    return
                budget[0] -= len(done.result())
            if len(fetched) == len(urls):
                check()
                return
            url = urls[len(fetched)]
            fetched[url] = fut = self.fetches.submit(url, functools.partial(self._fetch_image, url, budget[0]))
            fut.add_done_callback(next_url)

        next_url()
        return outer

    @staticmethod
    def _prefetched(fetched: dict[str, cf.Future[bytes]], url: str) -> bytes:
        fut = fetched.get(url.strip())
        if fut is None or fut.cancelled():
            raise imaging.InvalidImage("input image URL not fetched: the fake is shutting down")
        return fut.result()

    def _encode_job(self, task: Task) -> bytes:
        """A result's bytes when the encoded cache has none: rendered from the checked inputs on the first
        download, encoded again from the kept intermediate after that."""
        kept = self.results.get(task.id)
        if kept is None:
            raise LookupError("result gone")
        if isinstance(kept, Unrendered):
            out = self._render(task, kept.checked)
            with self._lock:
                self._forget_unrendered(task.id)
                if self.tasks.get(task.id) is task:
                    self.results.put(task.id, out.intermediate, out.intermediate_bytes)
                    task.events.append((self.clock.now(), "rendered"))
            return out.data
        return task.endpoint.family.rerender(
            kept, seed=task.seed, output_format=task.output_format, jpeg_quality=self.settings.jpeg_quality
        )

    def _artefact_job(self, task: Task, name: str) -> bytes:
        """A further artefact's bytes, from the kept intermediate (rendered first if it has not been yet)."""
        kept = self.results.get(task.id)
        if kept is None or isinstance(kept, Unrendered):
            self._encode_job(task)  # the first download of any artefact renders (LookupError: gone)
            kept = self.results.get(task.id)
            if kept is None or isinstance(kept, Unrendered):
                raise LookupError("result gone")
        return families.artefact(task.endpoint.family, name, kept, seed=task.seed, output_format=task.output_format)

    def _prepared_cb(self, task: Task, size: int, fut: cf.Future[None]) -> None:
        self._prepared(task, size, fut)

    def _prepared(self, task: Task, size: int = 0, fut: cf.Future[None] | None = None) -> None:
        with self._lock:
            self._backlog_bytes -= size
            self._release_inputs(task)
        fut = fut or task.image_job
        if fut is not None and not fut.cancelled():
            exc = fut.exception()
            if exc is not None and not isinstance(exc, (imaging.InvalidImage, LookupError)):
                log.error("image work for task %s failed", task.id, exc_info=exc)
                self.errors.append(exc)
        if task.webhook_url is not None:  # somebody may be waiting for it without polling
            with self._lock:
                try:
                    self._advance(task, self.clock.now(), task.polls)
                except WaitFor:
                    pass

    # ------------------------------------------------------------------ lifecycle
    def _due(self, task: Task, now: float, polls: int) -> tuple[bool, float]:
        """Whether ``task`` is finished at ``now`` after ``polls`` polls, and its end time."""
        if task.forced is not None:
            return True, task.finished_at or now
        p = task.progression
        if p.mode == "time":
            end = task.created_at + p.seconds
            return now >= end, end
        if p.mode == "polls":
            if polls >= p.polls:
                return True, now
            if polls == 0 and task.webhook_url is not None:  # nobody polls: finish on the clock
                end = task.created_at + p.after
                return now >= end, end
        return False, now

    def _progress(self, task: Task, now: float, polls: int) -> float | None:
        if polls <= 1:
            return None
        p = task.progression
        if p.mode == "time":
            # reaches 1.0 at 90% of the run and stays there until Ready, as recorded (dossier P1)
            frac = (now - task.created_at) / (0.9 * p.seconds) if p.seconds > 0 else 1.0
        elif p.mode == "polls":
            frac = (polls - 1) / max(1, p.polls - 1)
        else:
            frac = (polls - 1) / 10
        step = min(1.0, max(0.1, math.floor(frac * 10 + 1e-9) / 10))
        return max(step, task.progress or 0.0)

    def _finish(self, task: Task, end: float) -> None:
        outcome = task.forced or task.outcome
        status = outcome.status
        fut = task.image_job
        task.finished_at = end
        task.progress = None
        early = {**(outcome.webhook or {}), **task.webhook_opts}.get("early")
        if early:
            task.hold_until = end + float(early)
        self._release_inputs(task)  # decided (a forced outcome may not wait for the check)
        if status == TaskStatus.READY:
            usable = fut is not None
            try:
                if fut is not None:
                    fut.result(timeout=0)
            except imaging.InvalidImage:
                usable = False
            except Exception as e:  # a bug in image work: the task ends in Error, the error is recorded once
                usable = False
                task.image_error = f"internal: {type(e).__name__}: {e}"
                if not isinstance(e, LookupError):
                    self.errors.append(e)
            if not usable:
                status = TaskStatus.ERROR
                outcome = Outcome(status=TaskStatus.ERROR, error=INVALID_IMAGE)
            else:
                family, fmt = task.endpoint.family, task.output_format
                expires = end + self.settings.delivery_ttl_seconds
                sample = families.artefacts(family, fmt)[0]
                paths = families.blob_paths(family, fmt, new_blob_path(self.rng, sample.extension))
                task.blob_path = paths[0][1]
                urls = {}  # one signed link per artefact: the sample, then any further one (beside it)
                for artefact, path in paths:
                    self._blobs[path] = task.id
                    urls[artefact.name] = self.signer.url(task.delivery_origin, path, expires, artefact.media_type)
                task.result = {
                    "sample": urls.pop(sample.name),
                    "prompt": task.prompt,
                    "seed": task.seed,
                    "start_time": task.created_at,
                    "end_time": end,
                    "duration": end - task.created_at,
                    **urls,
                }
        if status != TaskStatus.READY:
            self.results.delete(task.id)  # checked inputs nobody will download
            self._forget_unrendered(task.id)
        if status == TaskStatus.ERROR:
            task.details = {"error": outcome.error or DEFAULT_ERROR}
        elif status in (TaskStatus.REQUEST_MODERATED, TaskStatus.CONTENT_MODERATED):
            reasons = outcome.reasons if outcome.reasons is not None else DEFAULT_REASONS[status]
            task.details = {"Moderation Reasons": list(reasons)}
        if status == TaskStatus.TASK_NOT_FOUND:
            task.lost = True
        else:
            task.status = status
        task.events.append((end, f"finished: {status}"))
        acc = self._account_if_any(task.api_key)
        if acc is not None:
            acc.active.discard(task.id)
        self._watched.discard(task.id)
        self._finished[task.id] = end
        for cb in list(self.on_finished):
            try:
                cb(task)
            except Exception as e:  # a listener must never break the API
                log.exception("on_finished listener failed")
                self.errors.append(e)

    def _needs_render_wait(self, task: Task) -> cf.Future[Any] | None:
        outcome = task.forced or task.outcome
        if outcome.status == TaskStatus.READY and task.image_job is not None and not task.image_job.done():
            return task.image_job
        return None

    def _advance(self, task: Task, now: float, polls: int) -> None:
        """Move a Pending task forward to ``now``; raise WaitFor if finishing needs the render first.

        Whatever else goes wrong in one task's lifecycle ends that task in Error (recorded once), so a
        poll, a listing or the scheduler never fails, or fails again, because of it.
        """
        try:
            self._advance_unguarded(task, now, polls)
        except WaitFor:
            raise
        except Exception as e:
            self._fail_internally(task, e)

    def _advance_unguarded(self, task: Task, now: float, polls: int) -> None:
        if task.terminal:
            return
        due, end = self._due(task, now, polls)
        if due:
            fut = self._needs_render_wait(task)
            if fut is not None:
                raise WaitFor(fut)
            self._finish(task, end)

    def _refresh_active(self, acc: Account, now: float) -> None:
        for tid in list(acc.active):
            task = self.tasks.get(tid)
            if task is None:
                acc.active.discard(tid)
                continue
            try:
                self._advance(task, now, task.polls)
            except WaitFor:
                pass  # its image is still rendering: still active

    def _lookup(self, task_id: str, now: float) -> Task:
        task = self.tasks.get(task_id)
        if task is None:
            raise TaskNotFound(task_id)
        if task.finished_at is not None and now >= task.finished_at + self.settings.retention_seconds and task.terminal:
            self._drop(task_id)
            raise TaskNotFound(task_id)
        return task

    def poll(self, task_id: str, *, viewer: str | None = None) -> dict[str, Any]:
        """The body of GET /v1/get_result for ``task_id`` (raises TaskNotFound / WaitFor).

        With ``isolate_keys``, a poll that sends an ``x-key`` (``viewer``) sees only that key's tasks.
        """
        now = self.clock.now()
        with self._lock:
            task = self._lookup(task_id, now)
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
                    task.progress = self._progress(task, now, polls)
                if task.lost:
                    task.polls = polls
                    raise TaskNotFound(task_id)
            task.polls = polls
            if task.hold_until is not None and now < task.hold_until:  # "early" webhook fault
                return {**task.view(), "status": TaskStatus.PENDING, "result": None, "details": None, "progress": 1.0}
            return poll_view(task.endpoint.family, task.view(), task.quote.cost if task.quote else None)

    def tick(self) -> float | None:
        """Finish due tasks that somebody waits for without polling (webhooks); evict expired ones.

        Returns the clock time of the next such event, if any.
        """
        now = self.clock.now()
        nxt: float | None = None
        with self._lock:
            self._evict(now)
            for tid in list(self._watched):
                task = self.tasks.get(tid)
                if task is None or task.terminal:
                    self._watched.discard(tid)
                    continue
                try:
                    self._advance(task, now, task.polls)
                except WaitFor:
                    continue  # _prepared ticks again
                if not task.terminal:
                    due_at = self.next_due(task)
                    if due_at is not None:
                        nxt = due_at if nxt is None else min(nxt, due_at)
        return nxt

    def _fail_internally(self, task: Task, exc: BaseException) -> None:
        """A task whose lifecycle raised: it ends in Error with the internal message; recorded once."""
        log.error("bfl-mock: task %s failed internally: %s: %s", task.id, type(exc).__name__, exc)
        self.errors.append(exc)
        self._watched.discard(task.id)
        if task.terminal:
            return
        task.forced = Outcome(status=TaskStatus.ERROR, error=DEFAULT_ERROR)
        task.image_job = None
        try:
            self._finish(task, self.clock.now())
        except Exception:  # even finishing failed: mark it final so nothing retries it forever
            task.status, task.details, task.finished_at = TaskStatus.ERROR, {"error": DEFAULT_ERROR}, self.clock.now()
            self._finished[task.id] = task.finished_at

    def next_due(self, task: Task) -> float | None:
        p = task.progression
        if p.mode == "time":
            return task.created_at + p.seconds
        if p.mode == "polls" and task.polls == 0 and task.webhook_url is not None:
            return task.created_at + p.after
        return None

    # ------------------------------------------------------------------ control (Python / admin API)
    def get_task(self, task_id: str) -> Task:
        with self._lock:
            return self._lookup(task_id, self.clock.now())

    def force(self, task_id: str, outcome: Outcome) -> Task:
        """Finish a Pending task now with ``outcome`` (complete / fail / moderate from the control API).

        Raises WaitFor while the task's image is still rendering: the caller waits (the admin API awaits it
        off the event loop; ``BflMock.complete`` blocks its own thread) and calls again.
        """
        with self._lock:
            task = self._lookup(task_id, self.clock.now())
            if task.terminal:
                raise ApiError(409, f"task {task_id} is already {task.status}")
            if outcome.status == TaskStatus.READY and task.image_job is not None and not task.image_job.done():
                raise WaitFor(task.image_job)  # nothing changed yet: asking again after the wait is safe
            task.forced = outcome
            self._finish(task, self.clock.now())
            return task

    def list_tasks(self, *, status: str | None = None, api_key: str | None = None) -> list[Task]:
        now = self.clock.now()
        with self._lock:
            out = []
            for t in list(self.tasks.values()):
                try:
                    self._advance(t, now, t.polls)
                except WaitFor:
                    pass
                if status is not None and ((TaskStatus.TASK_NOT_FOUND if t.lost else t.status) != status):
                    continue
                if api_key is not None and t.api_key != api_key:
                    continue
                out.append(t)
            return out

    # ------------------------------------------------------------------ rate limits (get_result)
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
            task_id = self._blobs.get(path)
            task = self.tasks.get(task_id) if task_id else None
            if task is None:
                raise blob_not_found()
        artefact = families.artefact_at(task.endpoint.family, task.output_format, path)
        return task, self.result_bytes(task, artefact.name)

    def result_bytes(self, task: Task, artefact: str = families.SAMPLE) -> bytes:
        """A Ready task's encoded result, or another of its artefacts (raises AzureError when it is gone,
        WaitFor while it renders)."""
        main = artefact == families.SAMPLE
        key = task.id if main else f"{task.id}/{artefact}"
        with self._lock:
            data = self.images.get(key)
            if data is None:
                fut = self._encoding.get(key)
                if fut is None:
                    job = self._job(self._encode_job, task) if main else self._job(self._artefact_job, task, artefact)
                    fut = self._encoding[key] = job
                if not fut.done():
                    raise WaitFor(fut)
                self._encoding.pop(key, None)
                try:
                    data = fut.result()
                except LookupError:
                    raise blob_not_found() from None
                except imaging.InvalidImage as e:  # checked before it finished, corrupt past its checksums
                    task.image_error = f"render on download failed: {e.reason}"
                    raise blob_not_found() from None
                except Exception as e:  # a bug in rendering: recorded once, the download is a 404 (never a 500)
                    task.image_error = f"internal: {type(e).__name__}: {e}"
                    self.errors.append(e)
                    raise blob_not_found() from None
                self.images.put(key, data)
        if main and task.md5 is None:
            task.md5 = md5_b64(data)
        return data

    def blob_task(self, path: str) -> Task | None:
        """The task whose result lives at a delivery path (for its download latency), if any."""
        task_id = self._blobs.get(path)
        return self.tasks.get(task_id) if task_id else None

    # ------------------------------------------------------------------ eviction
    def _drop(self, task_id: str) -> None:
        task = self.tasks.pop(task_id, None)
        self._finished.pop(task_id, None)
        if task is None:
            return
        self._task_bytes -= task.nbytes
        self._encoding.pop(task_id, None)
        if task.blob_path:
            for artefact, path in families.blob_paths(task.endpoint.family, task.output_format, task.blob_path):
                self._blobs.pop(path, None)
                if artefact.name != families.SAMPLE:
                    self._encoding.pop(f"{task_id}/{artefact.name}", None)
                    self.images.pop(f"{task_id}/{artefact.name}")
        self.results.delete(task_id)
        self._forget_unrendered(task_id)
        self.kept_inputs.pop(task_id)
        self.images.pop(task_id)
        acc = self._account_if_any(task.api_key)
        if acc is not None:
            acc.active.discard(task_id)
        self._watched.discard(task_id)

    def _evict(self, now: float, force: int = 0) -> None:
        retention = self.settings.retention_seconds
        while self._finished:
            tid, end = next(iter(self._finished.items()))
            if force > 0:
                force -= 1
            elif now < end + retention:
                break
            self._drop(tid)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            active = sum(1 for t in self.tasks.values() if not t.terminal)
            return {
                "tasks": len(self.tasks),
                "active": active,
                "finished": len(self._finished),
                "results": self.results.stats(),
                "image_cache_bytes": self.images.size,
                "task_bytes": self._task_bytes,
                "accounts": len(self.accounts),
                "ratelimit_buckets": len(self.buckets),
                "errors": self.errors.total,
            }


def _task_bytes(api_key: str, params: dict[str, Any], image_fields: tuple[str, ...]) -> int:
    """What a task keeps (its key, prompt and the other parameters; images only as summaries)."""
    size = 600 + len(api_key)
    for k, v in params.items():
        if k not in image_fields and isinstance(v, str):
            size += len(k) + len(v)
    return size


def _image_bytes(params: dict[str, Any], image_fields: tuple[str, ...]) -> int:
    """The input images a task holds until it is decided (as sent: base64 text, or a URL)."""
    return sum(len(v) for f in image_fields if isinstance(v := params.get(f), str))


def _public_params(
    params: dict[str, Any], image_fields: tuple[str, ...], images: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The request as kept for inspection: images reduced to their size and hash, secret redacted."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        if k in image_fields and isinstance(v, str):
            out[k] = (images or {}).get(k) or control_summary(v)
        elif k == "webhook_secret":
            out[k] = _redact(v)
        elif hasattr(v, "value"):
            out[k] = v.value
        elif k == "webhook_url" and v is not None:
            out[k] = str(v)
        else:
            out[k] = v
    return out


__all__ = ["TERMINAL", "AzureError", "BflBackend", "Task", "TaskNotFound", "WaitFor", "not_found_view"]
