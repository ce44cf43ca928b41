"""Webhook delivery: configurable, observable, on the fake clock, never on the request path.

When a task with a ``webhook_url`` reaches a final state, a notification is built from the selected
profile (``schemas/webhook_profiles.json``) and POSTed by a background worker (its own thread and event
loop) with a per-attempt timeout. Connection errors, timeouts, 5xx, 408 and 429 are retried after the
``webhook_backoff`` delays (fake-clock seconds); a 2xx ends it. Every attempt is journaled (secrets
redacted) and ``wait_for`` lets tests block until a delivery settles instead of polling.

Faults (rule outcome ``webhook: {...}`` or header ``X-Mock-Webhook-Fault``): ``drop``, ``duplicate``,
``delay=S`` (extra seconds before the first attempt), ``early=S`` (notify while get_result still shows
Pending for S seconds), ``bad-secret`` (wrong secret / signature).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mock_server.errors import ConfigError
from mock_server.journal import redact_secret
from mock_server.schemas import load_schema

if TYPE_CHECKING:
    from mock_server.backend import Task
    from mock_server.http import HttpRequest, HttpResponse
    from mock_server.mock import BflMock

log = logging.getLogger("bfl_mock.webhooks")
RETRY_STATUSES = frozenset({408, 429})
MAX_IN_FLIGHT = 64  # concurrent webhook requests
USER_AGENT = "bfl-mock-webhooks/0.1"


def load_profiles(schema_dir: str | None = None) -> dict[str, dict[str, Any]]:
    return load_schema("webhook_profiles", schema_dir)["profiles"]


def parse_fault_header(value: str | None) -> dict[str, Any]:
    """``drop`` / ``duplicate`` / ``delay=5`` / ``early=2`` / ``bad-secret``, comma-separated."""
    out: dict[str, Any] = {}
    if not value:
        return out
    for part in value.split(","):
        name, _, arg = part.strip().partition("=")
        name = name.strip().lower().replace("_", "-")
        if name in ("drop", "duplicate", "bad-secret", "bad-signature"):
            out[name.replace("bad-signature", "bad-secret")] = True
        elif name in ("delay", "early"):
            try:
                out[name] = float(arg or 1.0)
            except ValueError:
                raise ConfigError(f"X-Mock-Webhook-Fault: {name} takes seconds, not {arg!r}") from None
        elif name == "profile":
            out["profile"] = arg
        elif name:
            raise ConfigError(f"unknown webhook fault {name!r} (drop, duplicate, delay=S, early=S, bad-secret)")
    return out


def build_notification(
    profile: dict[str, Any],
    *,
    task_id: str,
    status: str,
    result: Any,
    details: Any,
    secret: str | None,
    now: float,
    forge: bool = False,
) -> tuple[bytes, dict[str, str]]:
    """The body and headers a profile sends for a finished task."""
    body: dict[str, Any] = {profile["id_field"]: task_id, "status": profile.get("status_map", {}).get(status, status)}
    include = profile.get("include", [])
    if "result" in include:
        body["result"] = result
    error = None
    if isinstance(details, dict):
        error = details.get("error") or (", ".join(details.get("Moderation Reasons", [])) or None)
    if "error" in include and status != "Ready":
        body["error"] = error or status
    if "details" in include:
        body["details"] = details
    if "timestamp" in include:
        body["timestamp"] = int(now)
    raw = json.dumps(body, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    auth = profile.get("auth", {})
    if secret is not None:
        used = (secret + "-forged") if forge else secret
        if auth.get("scheme") == "raw-secret":
            headers[auth["header"]] = used
        elif auth.get("scheme") == "hmac-sha256":
            digest = hmac.new(used.encode(), raw, hashlib.sha256).hexdigest()
            headers[auth["header"]] = auth.get("prefix", "") + digest
    return raw, headers


class DeliveryError(Exception):
    """A retryable transport failure (connection refused/reset, timeout, malformed answer)."""


async def post_once(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST ``body`` to ``url`` on a fresh connection (``Connection: close``); return the status code.

    A deliberately small HTTP/1.1 client: one request per connection, nothing pooled, TLS for https. The
    whole exchange (connect, send, status line and headers) is bounded by ``timeout``.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = f"[{host}]" if ":" in host else host
    if parts.port:
        host_header += f":{parts.port}"
    lines = [f"POST {target} HTTP/1.1", f"Host: {host_header}", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    async def exchange() -> int:
        ssl_ctx = True if parts.scheme == "https" else None
        reader, writer = await asyncio.open_connection(host, port, ssl=ssl_ctx)
        try:
            writer.write(request)
            await writer.drain()
            status_line = await reader.readline()
            fields = status_line.split(b" ", 2)
            if len(fields) < 2 or not fields[0].startswith(b"HTTP/") or not fields[1].isdigit():
                raise DeliveryError(f"malformed response: {status_line[:80]!r}")
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass  # headers; the body is not needed
            return int(fields[1])
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (OSError, asyncio.IncompleteReadError):
                pass

    try:
        return await asyncio.wait_for(exchange(), timeout)
    except asyncio.TimeoutError:
        raise TimeoutError(f"no answer within {timeout}s") from None
    except (OSError, asyncio.IncompleteReadError) as e:
        raise DeliveryError(f"{type(e).__name__}: {e}") from None


@dataclass
class Attempt:
    number: int
    at: float  # fake clock
    status: int | None = None
    error: str | None = None
    latency_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "at": self.at,
            "status": self.status,
            "error": self.error,
            "latency_ms": round(self.latency_ms, 3),
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
    def __init__(self, mock: BflMock) -> None:
        self.mock = mock
        self.settings = mock.settings
        self.profiles = load_profiles(self.settings.schema_dir)
        if self.settings.webhook_profile not in self.profiles:
            raise ConfigError(
                f"unknown webhook profile {self.settings.webhook_profile!r} (known: {sorted(self.profiles)})"
            )
        self.deliveries: list[Delivery] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._closing = False
        self._started = threading.Event()
        self._waiter: Any = None
        mock.backend.on_finished.append(self._on_finished)
        mock.clock.subscribe(self.wake)

    # ------------------------------------------------------------------ public
    def wait_for(self, task_id: str, timeout: float = 5.0, *, attempts: int | None = None) -> Delivery:
        """Block until the delivery for ``task_id`` settles (or has ``attempts`` attempts); real seconds."""
        self.wake()

        def ready() -> Delivery | None:
            for d in self.deliveries:
                if d.task_id == task_id and (d.final if attempts is None else len(d.attempts) >= attempts or d.final):
                    return d
            return None

        with self._cond:
            found = self._cond.wait_for(ready, timeout=timeout)
        if not found:
            states = [
                (d.state, [(a.status, a.error) for a in d.attempts]) for d in self.deliveries if d.task_id == task_id
            ]
            raise TimeoutError(f"no settled webhook delivery for task {task_id} within {timeout}s (seen: {states})")
        return found

    async def async_wait_for(self, task_id: str, timeout: float = 5.0, *, attempts: int | None = None) -> Delivery:
        return await asyncio.to_thread(self.wait_for, task_id, timeout, attempts=attempts)

    def for_task(self, task_id: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.task_id == task_id]

    def reset(self, task_ids: list[str] | None = None) -> None:
        with self._cond:
            if task_ids is None:
                self.deliveries.clear()
            else:
                gone = set(task_ids)
                self.deliveries[:] = [d for d in self.deliveries if d.task_id not in gone]

    def close(self) -> None:
        self._closing = True
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._waiter is not None:
            self._waiter.shutdown(wait=False, cancel_futures=True)
            self._waiter = None

    def wake(self) -> None:
        loop, ev = self._loop, self._wake
        if loop is not None and ev is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(ev.set)
            except RuntimeError:
                pass

    def ensure_started(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._cond:
            if self._thread is not None and self._thread.is_alive():
                return
            self._closing = False
            self._started.clear()
            self._thread = threading.Thread(target=self._run, name="bfl-mock-webhooks", daemon=True)
            self._thread.start()
        self._started.wait(5)

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
        now = self.mock.clock.now()
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
        if opts.get("drop"):
            d.state = "dropped"
        elif not self._allowed(task.webhook_url):
            d.state = "blocked"
            log.warning("webhook to %s blocked by --webhook-allow", task.webhook_url)
        log.info("webhook for task %s -> %s (%s, %s)", task.id, task.webhook_url, profile_name, d.state)
        with self._cond:
            self.deliveries.append(d)
            self._cond.notify_all()
        if d.state == "pending":
            self.ensure_started()
            self.wake()

    def _allowed(self, url: str) -> bool:
        allow = self.settings.webhook_allow
        if not allow:
            return True
        host = (urlsplit(url).hostname or "").lower()
        for entry in allow:
            entry = entry.lower()
            if entry == "loopback" and (host in ("localhost", "::1") or host.startswith("127.")):
                return True
            if host == entry or (entry.startswith(".") and host.endswith(entry)):
                return True
        return False

    # ------------------------------------------------------------------ the worker
    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            self._loop = None
            loop.close()

    async def _main(self) -> None:
        self._wake = asyncio.Event()
        # Deliveries wait for a slot here, so waiting never counts against the receiver's timeout.
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._started.set()
        inflight: set[asyncio.Task[None]] = set()
        while not self._closing:
            clock = self.mock.clock
            nxt = self.mock.backend.tick()
            now = clock.now()
            with self._cond:
                pending = [d for d in self.deliveries if d.state == "pending" and not d.in_flight]
            for d in pending:
                if d.next_at <= now:
                    d.in_flight = True
                    t = asyncio.create_task(self._attempt(d))
                    inflight.add(t)
                    t.add_done_callback(inflight.discard)
                else:
                    nxt = d.next_at if nxt is None else min(nxt, d.next_at)
            wait = 0.25
            if nxt is not None:
                real = clock.real_seconds_until(nxt)
                if real is not None:
                    wait = min(wait, real)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=max(wait, 0.001))
            except asyncio.TimeoutError:
                pass
        for t in list(inflight):
            t.cancel()

    async def _attempt(self, d: Delivery) -> None:
        number = len(d.attempts) + 1
        retry = False
        async with self._slots:
            attempt = Attempt(number, self.mock.clock.now())
            start = time.perf_counter()
            try:
                for _ in range(d.copies):
                    attempt.status = await post_once(d.url, d.body, d.headers, self.settings.webhook_timeout_seconds)
                retry = attempt.status >= 500 or attempt.status in RETRY_STATUSES
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
            elif retry and number <= len(backoff):
                d.next_at = self.mock.clock.now() + backoff[number - 1]
            else:
                d.state = "failed"
            self._cond.notify_all()
        log.info("webhook %s attempt %d -> %s %s", d.url, number, attempt.status, attempt.error or "")
        self.wake()

    # ------------------------------------------------------------------ admin API
    def admin(self, req: HttpRequest, rest: list[str]) -> HttpResponse:
        from mock_server.errors import ApiError
        from mock_server.http import HttpResponse

        if rest == [] and req.method == "GET":
            task_id = req.query("task_id")
            scope = req.headers.get("x-mock-key")
            own = {t.id for t in self.mock.tasks(api_key=scope)} if scope else None
            items = [
                d
                for d in self.deliveries
                if (task_id is None or d.task_id == task_id) and (own is None or d.task_id in own)
            ]
            return HttpResponse.json(200, {"webhooks": [d.to_dict() for d in items]})
        if rest == [] and req.method == "DELETE":
            self.reset()
            return HttpResponse.json(200, {"cleared": True})
        if rest == ["wait"] and req.method == "GET":
            task_id = req.query("task_id")
            if not task_id:
                raise ApiError(400, "bfl-mock admin API: task_id is required")
            try:
                timeout = min(30.0, float(req.query("timeout") or 5.0))
                attempts = int(req.query("attempts")) if req.query("attempts") else None
            except ValueError:
                raise ApiError(400, "bfl-mock admin API: timeout and attempts are numbers") from None
            from mock_server.backend import WaitFor

            fut = getattr(req, "_webhook_wait", None)
            if fut is None:  # wait off the event loop; the front end awaits the future and asks again
                if self._waiter is None:
                    import concurrent.futures as cf

                    self._waiter = cf.ThreadPoolExecutor(max_workers=4, thread_name_prefix="bfl-mock-wait")
                fut = self._waiter.submit(self.wait_for, task_id, timeout, attempts=attempts)
                req._webhook_wait = fut  # type: ignore[attr-defined]
            if not fut.done():
                raise WaitFor(fut)
            try:
                d = fut.result()
            except TimeoutError as e:
                raise ApiError(408, str(e)) from None
            return HttpResponse.json(200, d.to_dict())
        raise ApiError(404, "Not Found")
