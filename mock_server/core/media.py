"""Image work: input checks, renders and thumbnails on a small thread pool, image URLs on the fetch pool,
and the bounded stores that keep what they make.

Image work runs on the render pool, with two exceptions that change where it runs, never what it decides: a
submit with small inputs has them checked on its own thread (``inline_check_bytes``, ``inline_check_pixels``),
and a caller that would only block on a queued job runs it itself (``Job.run_here``: the in-process path).
A submit queues its task's image job (``start``), and a caller that must wait for image work (a download
while the result renders, a submit while the backlog is full) gets ``WaitFor(future)``. What a job makes
goes into the stores (``results``: checked inputs or compact intermediates, spilled to disk beyond a budget;
``images``: encoded outputs; ``previews``; ``kept_inputs``), each bounded by bytes. With ``lazy_render``
(the default) the pixel work waits for the first download.

Jobs run without the backend's lock and take it only to publish what they made, after checking that the
task is still the store's (a reset or an eviction may have forgotten it meanwhile).
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import logging
import threading
import traceback
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mock_server.core import imaging, previews
from mock_server.core.blobs import Signer, md5_b64
from mock_server.core.clock import Clock
from mock_server.core.config import Settings
from mock_server.core.egress import EgressPolicy, FetchPool, TargetRefused, TooLarge
from mock_server.core.endpoints import Rendered
from mock_server.core.endpoints import family as families
from mock_server.core.endpoints.flux3_video import reads_own_links
from mock_server.core.errors import AzureError, ErrorLog, WaitFor, blob_not_found
from mock_server.core.store import BytesLRU, ResultStore, SizedLRU
from mock_server.core.tasks import Task, TaskStore

log = logging.getLogger("bfl_mock")


@dataclass(frozen=True)
class Unrendered:
    """A Ready task's checked inputs, kept (in the result store) until its first download renders them."""

    checked: Any


def _is_url(value: str) -> bool:
    return value.strip().lower().startswith(("http://", "https://"))


class Media:
    """A fake's image work and image stores. ``lock`` is the backend's (see ``BflBackend``), ``egress`` where
    image URLs may be fetched from; ``on_checked(task)`` runs once a task's image job is done (the backend
    finishes a webhook task that nobody polls)."""

    def __init__(
        self,
        settings: Settings,
        *,
        lock: threading.RLock,
        tasks: TaskStore,
        clock: Clock,
        errors: ErrorLog,
        egress: EgressPolicy,
        on_checked: Callable[[Task], None],
    ) -> None:
        self.settings = settings
        self._lock = lock
        self.tasks = tasks
        self.clock = clock
        self.errors = errors
        self.on_checked = on_checked
        # an input URL that is one of the fake's own delivery links -> its bytes (None: fetch it); the backend's
        self.own_link: Callable[[str], bytes | None] = lambda url: None
        self._executor: cf.ThreadPoolExecutor | None = None
        self.results = ResultStore(settings.result_memory_bytes)
        self.images = BytesLRU(settings.image_cache_bytes)
        self.previews = SizedLRU(8 * 1024 * 1024)  # dashboard thumbnails: (bytes, content type)
        self.kept_inputs = SizedLRU(settings.keep_inputs_bytes)  # input images as sent, for the dashboard
        self.egress = egress
        self.fetches = FetchPool(settings.fetch_workers, settings.fetch_per_host)  # image URLs
        self._backlog: deque[cf.Future[Any]] = deque()  # queued checks, oldest first (survives reset)
        self._backlog_bytes = 0
        self._encoding: dict[str, cf.Future[bytes]] = {}  # downloads waiting for a render, by task id
        self._unrendered: OrderedDict[str, int] = OrderedDict()  # Ready tasks' kept inputs, oldest first
        self._unrendered_bytes = 0

    def reset(self) -> None:
        """(Under the lock.) Forget every task's images; queued jobs run on, and keep nothing (see above)."""
        self._encoding.clear()
        self._unrendered.clear()
        self._unrendered_bytes = 0
        self.results.clear()
        self.images.clear()
        self.previews.clear()
        self.kept_inputs.clear()

    def forget(self, task: Task) -> None:
        """(Under the lock.) A task is gone: drop what is kept for it."""
        task_id = task.id
        for key in _artefact_keys(task):
            self._encoding.pop(key, None)
            self.images.pop(key)
        self.results.delete(task_id)
        self._forget_unrendered(task_id)
        self.kept_inputs.pop(task_id)

    def discard_result(self, task_id: str) -> None:
        """(Under the lock.) A task finished other than Ready: its checked inputs will never be downloaded."""
        self.results.delete(task_id)
        self._forget_unrendered(task_id)

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

    def stats(self) -> dict[str, Any]:
        return {"results": self.results.stats(), "image_cache_bytes": self.images.size}

    # ------------------------------------------------------------------ a submit's image job
    def check_capacity(self) -> None:
        """Backpressure: while queued checks hold more than ``render_backlog_bytes`` of input images, a new
        submit waits (WaitFor) for the oldest one, so memory stays bounded and nothing is refused."""
        with self._lock:
            while self._backlog and self._backlog[0].done():
                self._backlog.popleft()
            if self._backlog_bytes > self.settings.render_backlog_bytes and self._backlog:
                raise WaitFor(self._backlog[0])

    def keep_inputs(self, task: Task, params: dict[str, Any]) -> None:
        """Keep the task's input images as sent, for inspection (admin API, dashboard): newest first, bounded."""
        if not self.settings.keep_inputs_bytes:
            return
        sources = {f: v for f in task.endpoint.family.image_fields if isinstance(v := _first_image(params.get(f)), str)}
        if sources:
            self.kept_inputs.put(task.id, sources, sum(len(v) for v in sources.values()))

    def start(self, task: Task, params: dict[str, Any]) -> None:
        """Start a task's image job (called without the lock): ``task.image_job`` is set when this returns. Small
        inputs are checked here and now (``_inline``: a header read and a small decode cost less than the hand-off
        to a render thread); the rest is queued on the render pool."""
        inputs, size = task.endpoint.family.render_inputs(params)
        urls = sorted(
            {v.strip() for f in task.endpoint.family.image_fields if isinstance(v := params.get(f), str) and _is_url(v)}
        )
        if not urls and self._inline(task, params, size):
            done = self._check_inline(task, inputs)
            if done is not None:
                task.image_job = done
                self._checked(task, 0, done)
                return
        with self._lock:
            self._backlog_bytes += size
        task.image_job = self._image_job(task, inputs, urls)
        del inputs  # the queued job holds the only reference: released as soon as the check is done
        with self._lock:
            self._backlog.append(task.image_job)
        task.image_job.add_done_callback(functools.partial(self._checked, task, size))

    def _inline(self, task: Task, params: dict[str, Any], size: int) -> bool:
        """Whether a task's check (its inputs given inline: no URL) may run on the request's thread: small
        inputs, the pixel work left to the first download (``lazy_render``), a family whose check decodes images
        only."""
        settings = self.settings
        if size > settings.inline_check_bytes or not settings.lazy_render:
            return False
        return families.checks_inline(task.endpoint.family, params)

    def _check_inline(self, task: Task, inputs: Any) -> cf.Future[None] | None:
        """The check, run here: its done future, or None when an image is over ``inline_check_pixels`` (not
        decoded here: the caller queues the check on the render pool, which decides it from the start)."""
        done: cf.Future[None] = cf.Future()
        box = [inputs]  # the error kept with the task holds this frame: not the inputs (see _prepare_job)
        del inputs
        try:
            with imaging.limits(self.settings.max_jpeg_scans, inline_pixels=self.settings.inline_check_pixels):
                self._prepare_job(task, box.pop())
        except imaging.Offload:
            return None
        except Exception as e:
            done.set_exception(e)
        else:
            done.set_result(None)
        return done

    def _checked(self, task: Task, size: int, fut: cf.Future[None]) -> None:
        with self._lock:
            self._backlog_bytes -= size
            self.tasks.release_inputs(task)
        if not fut.cancelled():
            exc = fut.exception()
            if exc is not None and not isinstance(exc, (imaging.InvalidImage, LookupError)):
                log.error("image work for task %s failed", task.id, exc_info=exc)
                self.errors.append(exc)
        self.on_checked(task)

    def _job(self, fn: Callable[..., Any], *args: Any) -> Job:
        """Image work on a render thread, under this fake's decode limits (``max_jpeg_scans``). The arguments
        pass into ``fn`` and nowhere else, so nothing here keeps them (input images) alive once it returns."""
        box = [args]
        max_scans = self.settings.max_jpeg_scans

        def run() -> Any:
            with imaging.limits(max_scans):
                return fn(*box.pop())

        job = Job(run)
        queued = self.executor.submit(job.run_here)
        queued.add_done_callback(job.dropped)  # the pool shut down with it queued: cancelled
        return job

    # -- image URLs are fetched on their own pool (docs/security.md), then checked on a render thread -------
    def _image_job(self, task: Task, inputs: Any, urls: list[str]) -> cf.Future[None]:
        """The task's image job: its image URLs fetched first on ``self.fetches`` (a slow image host holds a
        fetch thread, never a render thread), then the check on the render pool. ``urls``: its image fields'
        URLs, each once, sorted."""
        if not urls:
            return self._job(self._prepare_job, task, inputs)
        box = [inputs]
        del inputs  # the job is the only holder: released once the check is done
        outer: cf.Future[None] = cf.Future()

        def check(fetched: dict[str, cf.Future[bytes]]) -> None:
            try:
                inner = self._job(self._prepare_job, task, box.pop(), fetched)
            except RuntimeError:  # closed meanwhile
                outer.cancel()
                return
            inner.add_done_callback(functools.partial(_settle, outer))

        self._fetch_all(urls, check)
        return outer

    def _fetch_all(self, urls: list[str], then: Callable[[dict[str, cf.Future[bytes]]], None]) -> None:
        """Fetch ``urls`` one after another (so that the task's ``max_body_bytes`` bounds what they bring in
        all), then call ``then`` with their futures; after a failure the rest are not fetched (the check meets
        that failure first)."""
        fetched: dict[str, cf.Future[bytes]] = {}
        budget = [self.settings.max_body_bytes]

        def next_url(done: cf.Future[bytes] | None = None) -> None:
            if done is not None:
                if done.cancelled() or done.exception() is not None:
                    for url in urls[len(fetched) :]:
                        fetched[url] = done
                    then(fetched)
                    return
                budget[0] -= len(done.result())
            if len(fetched) == len(urls):
                then(fetched)
                return
            url = urls[len(fetched)]
            fetched[url] = fut = self.fetches.submit(url, functools.partial(self._fetch_image, url, budget[0]))
            fut.add_done_callback(next_url)

        next_url()

    def _fetch_image(self, url: str, budget: int | None = None) -> bytes:
        """An input image given as a URL, under the egress policy (never the fake itself, never a host
        outside ``webhook_allow``); anything that fails ends the task as an unusable input does. ``budget``:
        what is left of the task's ``max_body_bytes`` for all its image URLs together. The fake's own delivery
        links to FLUX 3 artefacts are read without a request (``own_link``)."""
        own = self.own_link(url)
        if own is not None:
            return own
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

    def _prepare(self, task: Task, inputs: Any, fetched: dict[str, cf.Future[bytes]] | None) -> None:
        settings = self.settings
        fetch = self._fetch_image if fetched is None else functools.partial(_prefetched, fetched)
        checked, nbytes = task.endpoint.family.check(inputs, max_pixels=settings.max_image_pixels, fetch=fetch)
        del inputs
        out = None if settings.lazy_render else self._render(task, checked)
        with self._lock:  # a reset (or eviction) while this ran: keep nothing for a forgotten task
            if not self.tasks.holds(task):
                raise LookupError("task forgotten while its images were checked")
            if out is None:
                overflow = self._keep_unrendered(task, checked, nbytes)
            else:
                overflow = []
                self.results.put(task.id, out.intermediate, out.intermediate_bytes)
                self.images.put(task.id, out.data)
        if out is not None:
            task.md5 = md5_b64(out.data)
        for t in overflow:  # beyond lazy_render_bytes of kept inputs: the oldest become compact intermediates
            self._job(self._render_kept, t)

    def _keep_unrendered(self, task: Task, checked: Any, nbytes: int) -> list[Task]:
        """(Under the lock.) Keep a task's checked inputs for its first download; the tasks whose kept inputs
        are now beyond ``lazy_render_bytes`` (oldest first) are returned, to be rendered now."""
        self.results.put(task.id, Unrendered(checked), nbytes)
        self._unrendered[task.id] = nbytes
        self._unrendered_bytes += nbytes
        overflow: list[Task] = []
        while self._unrendered_bytes > self.settings.lazy_render_bytes and self._unrendered:
            oldest, size = self._unrendered.popitem(last=False)
            self._unrendered_bytes -= size
            if (t := self.tasks.get(oldest)) is not None:
                overflow.append(t)
        return overflow

    def _forget_unrendered(self, task_id: str) -> None:
        """(Under the lock.) The task's checked inputs no longer count toward ``lazy_render_bytes``."""
        size = self._unrendered.pop(task_id, None)
        if size is not None:
            self._unrendered_bytes -= size

    # ------------------------------------------------------------------ renders
    def _render(self, task: Task, checked: Any) -> Rendered[Any]:
        settings = self.settings
        return task.endpoint.family.render(
            checked,
            seed=task.seed,
            output_format=task.output_format,
            max_pixels=settings.max_image_pixels,
            jpeg_quality=settings.jpeg_quality,
        )

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
            if self.tasks.holds(task) and isinstance(self.results.get(task.id), Unrendered):
                self.results.put(task.id, out.intermediate, out.intermediate_bytes)
                task.events.append((self.clock.now(), "rendered"))

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
                if self.tasks.holds(task):
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

    def read_own_link(self, url: str, signer: Signer) -> bytes | None:
        """(Fetch threads; the backend's ``own_link``.) An input URL that is one of this fake's own delivery
        links to a FLUX 3 artefact (a draft's ``draft_cache``, a clip): its bytes, read here without a request
        (the fake never fetches from itself); an expired or altered link is an unusable input. None for any
        other URL (the egress policy)."""
        url = url.strip()
        parts = urlsplit(url)
        with self._lock:
            task = self.tasks.by_blob(parts.path)
        if task is None or not reads_own_links(task.endpoint.family) or not url.startswith(task.delivery_origin + "/"):
            return None
        try:
            signer.verify(parts.path, parts.query, self.clock.now())
            name = families.artefact_at(task.endpoint.family, task.output_format, parts.path).name
            while True:
                try:
                    return self.result_bytes(task, name)
                except WaitFor as w:  # rendering: wait on this fetch thread, then read it
                    cf.wait([w.future])
        except AzureError as e:
            reason = f"a delivery link of this server that is expired or altered ({e.code})"
            raise imaging.InvalidImage(reason) from None

    def result_bytes(self, task: Task, artefact: str = families.SAMPLE) -> bytes:
        """A Ready task's encoded result, or another of its artefacts (raises AzureError when it is gone,
        WaitFor while it renders)."""
        main = artefact == families.SAMPLE
        key = task.id if main else f"{task.id}/{artefact}"
        with self._lock:
            data = self.images.get(key)
            if data is None:
                data = self._encoded(task, key, artefact)
                self.images.put(key, data)
        if main and task.md5 is None:
            task.md5 = md5_b64(data)
        return data

    def _encoded(self, task: Task, key: str, artefact: str) -> bytes:
        """(Under the lock.) The result of the encode job for ``key``, started on the first call (WaitFor
        until it is done)."""
        fut = self._encoding.get(key)
        if fut is None:
            main = artefact == families.SAMPLE
            job = self._job(self._encode_job, task) if main else self._job(self._artefact_job, task, artefact)
            fut = self._encoding[key] = job
        if not fut.done():
            raise WaitFor(fut)
        self._encoding.pop(key, None)
        try:
            return fut.result()
        except LookupError:
            raise blob_not_found() from None
        except imaging.InvalidImage as e:  # checked before it finished, corrupt past its checksums
            task.image_error = f"render on download failed: {e.reason}"
            raise blob_not_found() from None
        except Exception as e:  # a bug in rendering: recorded once, the download is a 404 (never a 500)
            task.image_error = f"internal: {type(e).__name__}: {e}"
            self.errors.append(e)
            raise blob_not_found() from None

    # ------------------------------------------------------------------ thumbnails (admin API, dashboard)
    def input_image(self, task_id: str, field: str) -> bytes | None:
        """An input image of a task as its bytes (decoded from base64), or None (not kept, a URL, unusable)."""
        kept = self.kept_inputs.get(task_id)
        value = kept.get(field) if isinstance(kept, dict) else None
        if not isinstance(value, str) or _is_url(value):
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
            try:
                out = self._thumbnail(task, name, max_side, result)
            except imaging.InvalidImage as e:
                raise LookupError(f"{name} is not a usable image: {e.reason}") from None
            self.previews.put(key, out, len(out[0]))
            return out

        return self._job(job)

    def _thumbnail(self, task: Task, name: str, max_side: int, result: bytes | None) -> tuple[bytes, str]:
        family, max_pixels = task.endpoint.family, self.settings.max_image_pixels
        if name == "result" and result is not None:
            media = families.output_media_type(family, task.output_format)
            return previews.of_result(result, media, max_side, max_pixels)
        if name in family.image_fields:
            data = self.input_image(task.id, name)
            if data is None:
                raise LookupError(f"{name} was not sent, is no longer kept (keep_inputs_bytes) or is a URL")
            listed = families.dashboard(family, task.params or {}, task.output_format)
            media = next((p.media_type for p in listed if p.name == name), "image/*")
            if media.startswith(("video/", "audio/")):  # an input video as it is, for the player (kept bytes)
                return data, media
            return previews.thumbnail(data, max_side, max_pixels)
        if any(p.name == name for p in families.previews(family, task.params or {})):
            kept = functools.partial(self.input_image, task.id)
            return families.preview(family, name, task.params or {}, kept, max_side=max_side, max_pixels=max_pixels)
        raise LookupError(f"{task.endpoint.name} tasks have no image {name!r}")


class Job(cf.Future[Any]):
    """A render-pool job's future that whoever gets to it first runs: a pool thread, or a caller that would
    otherwise block until it is done (``run_here``; the in-process path: the test's thread does the work
    instead of waiting for a thread hand-off). It runs once either way, with the same result."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__()
        self._fn: Callable[[], Any] | None = fn
        self._claim = threading.Lock()

    def run_here(self) -> None:
        """Run the job on this thread unless it is running or done already (then return at once)."""
        if not self._claim.acquire(blocking=False):
            return
        fn, self._fn = self._fn, None
        if fn is None or not self.set_running_or_notify_cancel():
            return
        try:
            result = fn()
        except BaseException as e:  # as ThreadPoolExecutor's work item does: the waiter sees it
            self.set_exception(e)
            if not isinstance(e, Exception):  # KeyboardInterrupt on the caller's thread goes on up
                raise
        else:
            self.set_result(result)

    def dropped(self, queued: cf.Future[Any]) -> None:
        if queued.cancelled() and self._claim.acquire(blocking=False):
            self._fn = None
            self.cancel()


def _artefact_keys(task: Task) -> list[str]:
    """The keys of a task's encoded artefacts in ``images`` (the sample's is the task id)."""
    if not task.blob_path:
        return [task.id]
    paths = families.blob_paths(task.endpoint.family, task.output_format, task.blob_path)
    return [task.id if a.name == families.SAMPLE else f"{task.id}/{a.name}" for a, _ in paths]


def _settle(outer: cf.Future[None], inner: cf.Future[None]) -> None:
    """Pass ``inner``'s end to ``outer`` (unless ``outer`` ended already)."""
    try:
        if inner.cancelled():
            outer.cancel()
        elif (exc := inner.exception()) is not None:
            outer.set_exception(exc)
        else:
            outer.set_result(None)
    except cf.InvalidStateError:
        pass


def _prefetched(fetched: dict[str, cf.Future[bytes]], url: str) -> bytes:
    fut = fetched.get(url.strip())
    if fut is None or fut.cancelled():
        raise imaging.InvalidImage("input image URL not fetched: the fake is shutting down")
    return fut.result()


def _first_image(value: Any) -> Any:
    """An image field's value, or the first image of a list of them (FLUX 3's keyframes: images, or
    ``[seconds, image]`` pairs): what the dashboard shows of the field."""
    if isinstance(value, (list, tuple)) and value:
        first = value[0]
        return first[1] if isinstance(first, (list, tuple)) and len(first) == 2 else first
    return value
