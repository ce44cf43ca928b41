"""Tasks and the store that keeps them: bounded by count and by bytes, finished tasks forgotten after
``retention_seconds`` (oldest first, and earlier when a new task needs the room), active tasks never.

The store is plain data with no lock and no image work: the backend calls it under its lock and is told,
through ``on_drop``, when a task goes, so that it can let go of what else it holds for it (cached images,
the account's active set).
"""

from __future__ import annotations

import concurrent.futures as cf
import random
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from mock_server.core.blobs import Signer, new_blob_path
from mock_server.core.config import Progression, Settings
from mock_server.core.endpoints import Endpoint, Quote
from mock_server.core.endpoints import family as families
from mock_server.core.errors import TASK_NOT_FOUND, TaskNotFound, store_full
from mock_server.core.redact import JOURNAL, control_summary, key_fingerprint
from mock_server.core.redact import redact_secret as _redact
from mock_server.core.rules import Outcome
from mock_server.core.status import TERMINAL, TaskStatus


@dataclass(slots=True)  # 10,000s of tasks: no per-instance __dict__
class Task:
    """One submitted request: what it asked for, the outcome decided for it, and where it stands.

    ``status`` moves from Pending to one final status exactly once (``BflBackend._finish``); ``lost`` is the
    final "Task not found". Fields after ``status`` change as the task advances; the backend's lock guards
    every write except the image fields a render thread sets (``image_error``, ``md5``).
    """

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

    @property
    def public_status(self) -> str:
        """The status as get_result and the listings name it ("Task not found" once lost)."""
        return TaskStatus.TASK_NOT_FOUND if self.lost else self.status

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
            "status": self.public_status,
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
            "status": self.public_status,
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


class TaskStore:
    """The tasks by id, oldest first, within ``max_tasks`` and ``max_task_bytes``.

    Not thread-safe by itself: every method runs under the backend's lock. It reads ``settings`` on each
    call. ``on_drop(task)`` runs for every task it forgets (also under the lock), never on ``clear``.
    """

    def __init__(self, settings: Settings, on_drop: Callable[[Task], None]) -> None:
        self.settings = settings
        self.on_drop = on_drop
        self._tasks: OrderedDict[str, Task] = OrderedDict()
        self.finished: OrderedDict[str, float] = OrderedDict()  # finished tasks by end time, oldest first
        self.blobs: dict[str, str] = {}  # delivery path -> task id
        self.watched: set[str] = set()  # Pending tasks with a webhook_url (the scheduler finishes them)
        self.nbytes = 0  # what the tasks hold together (Task.nbytes)

    def clear(self) -> None:
        self._tasks.clear()
        self.finished.clear()
        self.blobs.clear()
        self.watched.clear()
        self.nbytes = 0

    # -- reading (a Mapping's reads: ``backend.tasks`` is this store)
    def get(self, task_id: str) -> Task | None:
        return self._tasks.get(task_id)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._tasks

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[str]:
        return iter(self._tasks)

    def values(self) -> list[Task]:
        """A copy: callers may finish (and so drop) tasks while they go through it."""
        return list(self._tasks.values())

    def items(self) -> list[tuple[str, Task]]:
        return list(self._tasks.items())

    def holds(self, task: Task) -> bool:
        """Whether ``task`` is still this store's (not forgotten by a reset or an eviction meanwhile)."""
        return self._tasks.get(task.id) is task

    def lookup(self, task_id: str, now: float) -> Task:
        """The task, or TaskNotFound (also once it is past its retention: it is forgotten then)."""
        task = self._tasks.get(task_id)
        if task is None:
            raise TaskNotFound(task_id)
        if task.finished_at is not None and now >= task.finished_at + self.settings.retention_seconds and task.terminal:
            self.drop(task_id)
            raise TaskNotFound(task_id)
        return task

    def stats(self) -> dict[str, int]:
        return {
            "tasks": len(self._tasks),
            "active": sum(1 for t in self._tasks.values() if not t.terminal),
            "finished": len(self.finished),
            "task_bytes": self.nbytes,
        }

    def drop_key(self, api_key: str) -> list[str]:
        """Forget every task of ``api_key``; their ids."""
        dropped = [tid for tid, t in self._tasks.items() if t.api_key == api_key]
        for tid in dropped:
            self.drop(tid)
        return dropped

    def by_blob(self, path: str) -> Task | None:
        task_id = self.blobs.get(path)
        return self._tasks.get(task_id) if task_id else None

    # -- writing
    def admit(self, nbytes: int, now: float) -> None:
        """Make room for a new task of ``nbytes`` (oldest finished tasks go first, active ones never) or raise
        the 429 the store answers when it is full of active tasks."""
        settings = self.settings
        if len(self._tasks) >= settings.max_tasks:
            self.evict(now, force=len(self._tasks) - settings.max_tasks + 1)
            if len(self._tasks) >= settings.max_tasks:
                raise store_full()
        budget = settings.max_task_bytes
        while self.finished and self.nbytes + nbytes > budget:
            self.evict(now, force=1)
        if self.nbytes + nbytes > budget:
            raise store_full()

    def add(self, task: Task) -> None:
        self._tasks[task.id] = task
        self.nbytes += task.nbytes
        if task.webhook_url is not None:
            self.watched.add(task.id)

    def publish(self, task: Task, end: float, *, rng: random.Random, signer: Signer, ttl: float) -> None:
        """A Ready task's result: one signed delivery link per artefact (the sample, then any further one
        beside it), valid ``ttl`` seconds from ``end``; its paths lead here (``by_blob``)."""
        family, fmt = task.endpoint.family, task.output_format
        sample = families.artefacts(family, fmt)[0]
        paths = families.blob_paths(family, fmt, new_blob_path(rng, sample.extension))
        task.blob_path = paths[0][1]
        urls = {}
        for artefact, path in paths:
            self.blobs[path] = task.id
            urls[artefact.name] = signer.url(task.delivery_origin, path, end + ttl, artefact.media_type)
        task.result = {
            "sample": urls.pop(sample.name),
            "prompt": task.prompt,
            "seed": task.seed,
            "start_time": task.created_at,
            "end_time": end,
            "duration": end - task.created_at,
            **urls,
        }

    def finish(self, task: Task, end: float) -> None:
        """``task`` is final: it counts toward retention from ``end``."""
        self.watched.discard(task.id)
        self.finished[task.id] = end

    def release_inputs(self, task: Task) -> None:
        """The task's check is done: its images as sent no longer count in the byte budget."""
        if task.input_bytes and self.holds(task):
            self.nbytes -= task.input_bytes
            task.nbytes -= task.input_bytes
        task.input_bytes = 0

    def drop(self, task_id: str) -> None:
        task = self._tasks.pop(task_id, None)
        self.finished.pop(task_id, None)
        if task is None:
            return
        self.nbytes -= task.nbytes
        if task.blob_path:
            for _, path in families.blob_paths(task.endpoint.family, task.output_format, task.blob_path):
                self.blobs.pop(path, None)
        self.watched.discard(task_id)
        self.on_drop(task)

    def evict(self, now: float, force: int = 0) -> None:
        """Forget finished tasks past their retention, and ``force`` more of the oldest finished ones."""
        retention = self.settings.retention_seconds
        while self.finished:
            tid, end = next(iter(self.finished.items()))
            if force > 0:
                force -= 1
            elif now < end + retention:
                break
            self.drop(tid)


def new_task(
    rng: random.Random,
    now: float,
    api_key: str,
    params: dict[str, Any],
    endpoint: Endpoint,
    outcome: Outcome,
    *,
    images: dict[str, dict[str, Any]] | None,
    progression: Progression,
    delivery_origin: str,
    rule_id: int | None,
    scenario: str | None,
    webhook_opts: dict[str, Any],
    quote: Quote,
    held: int,
    nbytes: int,
) -> Task:
    """A Pending task for a validated request (``params``), its id (and seed, unless the request set one)
    drawn from ``rng``. ``held``: the bytes of its input images as sent, of its ``nbytes`` in all."""
    task_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    seed = params.get("seed")
    if seed is None:
        seed = rng.randrange(0, 2**32)
    fmt = params.get("output_format") or "jpeg"
    webhook_url = params.get("webhook_url")
    task = Task(
        id=task_id,
        api_key=api_key,
        created_at=now,
        prompt=params.get("prompt") or "",
        seed=int(seed),
        output_format=getattr(fmt, "value", fmt),
        endpoint=endpoint,
        params=public_params(params, endpoint.family.image_fields, images),
        outcome=outcome,
        progression=progression,
        delivery_origin=delivery_origin,
        webhook_url=None if webhook_url is None else str(webhook_url),
        webhook_secret=params.get("webhook_secret"),
        not_found_polls=outcome.not_found_polls,
        rule_id=rule_id,
        scenario=scenario,
        webhook_opts=webhook_opts,
        nbytes=nbytes,
        input_bytes=held,
        quote=quote,
    )
    task.events.append((now, "submitted"))
    return task


def task_bytes(api_key: str, params: dict[str, Any], image_fields: tuple[str, ...]) -> int:
    """What a task keeps (its key, prompt and the other parameters; images only as summaries)."""
    size = 600 + len(api_key)
    for k, v in params.items():
        if k not in image_fields and isinstance(v, str):
            size += len(k) + len(v)
    return size


def sizes(api_key: str, params: dict[str, Any], image_fields: tuple[str, ...], ready: bool) -> tuple[int, int]:
    """A new task's (held, nbytes): its input images count while it holds them as sent (until its check is
    done; then they are gone, or kept as checked inputs under lazy_render_bytes / result_memory_bytes), and
    only for a task that will be checked (``ready``: its outcome is Ready); ``nbytes`` is all it holds."""
    held = image_bytes(params, image_fields) if ready else 0
    return held, task_bytes(api_key, params, image_fields) + held


def image_bytes(params: dict[str, Any], image_fields: tuple[str, ...]) -> int:
    """The input images a task holds until it is decided (as sent: base64 text, or a URL)."""
    return sum(len(v) for f in image_fields if isinstance(v := params.get(f), str))


def public_params(
    params: dict[str, Any], image_fields: tuple[str, ...], images: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The request as kept for inspection: images reduced to their size and hash, secret redacted."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        if k in image_fields and isinstance(v, str):
            out[k] = (images or {}).get(k) or control_summary(v)
        elif k in image_fields and isinstance(v, (list, tuple)):  # FLUX 3's keyframes: images or [s, image]
            out[k] = JOURNAL.image_value(v)
        elif k == "webhook_secret":
            out[k] = _redact(v)
        elif hasattr(v, "value"):
            out[k] = v.value
        elif k == "webhook_url" and v is not None:
            out[k] = str(v)
        else:
            out[k] = v
    return out
