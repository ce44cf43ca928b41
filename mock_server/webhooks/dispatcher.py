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
import ipaddress
import itertools
import json
import logging
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mock_server.core.errors import ConfigError
from mock_server.core.redact import redact_secret
from mock_server.core.rules import webhook_options
from mock_server.core.schemas import load_schema

if TYPE_CHECKING:
    from mock_server.core.backend import Task
    from mock_server.http.app import HttpRequest, HttpResponse
    from mock_server.mock import BflMock

log = logging.getLogger("bfl_mock.webhooks")
RETRY_STATUSES = frozenset({408, 429})
MAX_IN_FLIGHT = 64  # concurrent webhook requests
USER_AGENT = "bfl-mock-webhooks/0.1"  # the admin API refuses requests carrying it (the fake calling itself)
_HEADER_VALUE = re.compile(r"^[\t\x20-\x7e]*$")


class TargetRefused(Exception):
    """The webhook URL is not one the fake will call (allow-list, its own address, loopback on a shared fake)."""


def valid_header_value(value: str) -> bool:
    """Visible ASCII, space and tab only: no CR/LF (header injection), no NUL, nothing an HTTP client
    would refuse to encode (httpx encodes header values as ASCII)."""
    return bool(_HEADER_VALUE.match(value))


def _is_loopback_name(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost")


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def is_loopback(host: str) -> bool:
    """A loopback address literal (127.0.0.0/8, ::1, ::ffff:127.x) or ``localhost``; never a name like
    ``127.attacker.example``."""
    if _is_loopback_name(host.lower()):
        return True
    ip = _ip(host)
    return ip is not None and ip.is_loopback


def load_profiles(schema_dir: str | None = None) -> dict[str, dict[str, Any]]:
    return load_schema("webhook_profiles", schema_dir)["profiles"]


def parse_fault_header(value: str | None) -> dict[str, Any]:
    """``drop`` / ``duplicate`` / ``delay=5`` / ``early=2`` / ``bad-secret``, comma-separated."""
    raw: dict[str, Any] = {}
    if not value:
        return raw
    for part in value.split(","):
        name, sep, arg = part.strip().partition("=")
        name = name.strip()
        if not name:
            continue
        if name.lower().replace("_", "-") in ("delay", "early", "profile"):
            raw[name] = arg if sep else ("" if name.lower() == "profile" else 1.0)
        else:
            raw[name] = True
    return webhook_options(raw, "X-Mock-Webhook-Fault")


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
            if not valid_header_value(used):  # never raw header bytes: no injection, no encoding crash
                raise InvalidSecret(INVALID_SECRET)
            headers[auth["header"]] = used
        elif auth.get("scheme") == "hmac-sha256":
            digest = hmac.new(used.encode(), raw, hashlib.sha256).hexdigest()
            headers[auth["header"]] = auth.get("prefix", "") + digest
    return raw, headers


INVALID_SECRET = "webhook_secret is not a valid HTTP header value (control characters, CR/LF or non-ASCII): not sent"


class InvalidSecret(ValueError):
    """The secret cannot travel in a header: the delivery fails at once, without a request."""


class DeliveryError(Exception):
    """A retryable transport failure (connection refused/reset, timeout, malformed answer)."""


async def post_once(
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    check: Any = None,
) -> int:
    """POST ``body`` to ``url`` on a fresh connection (``Connection: close``); return the status code.

    A deliberately small HTTP/1.1 client: one request per connection, nothing pooled, TLS for https. The
    whole exchange (resolve, connect, send, status line and headers) is bounded by ``timeout``. The host is
    resolved first and ``check(host, port, addresses)`` may refuse it (TargetRefused); the connection then
    goes to a checked address, so a name cannot resolve to something else in between.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    for k, v in headers.items():
        if not valid_header_value(v) or not valid_header_value(k):
            raise InvalidSecret(f"header {k!r} has a value that cannot be sent")
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
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = [str(info[4][0]) for info in infos]
        if check is not None:
            check(host, port, addresses)
        if not addresses:
            raise DeliveryError(f"{host} did not resolve")
        reader, writer = await asyncio.open_connection(
            addresses[0], port, ssl=ssl_ctx, server_hostname=host if ssl_ctx else None
        )
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
    except socket.gaierror as e:
        raise DeliveryError(f"cannot resolve {host}: {e}") from None
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
        self._finals = 0  # settled deliveries in the journal (bounded by webhook_journal_size)
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._closing = False
        self._started = threading.Event()
        self._waiter: Any = None
        self._host_slots: dict[str, asyncio.Semaphore] = {}
        mock.backend.on_finished.append(self._on_finished)
        mock.clock.subscribe(self.wake)

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
            clock = self.mock.clock
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
        clock = self.mock.clock
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
        task = self.mock.backend.tasks.get(task_id)
        if task is None:
            return None  # unknown here: the wait times out and says so
        if task.webhook_url is None:
            raise LookupError(f"task {task_id} has no webhook_url: there is no webhook to wait for")
        if task.terminal:
            return None
        due = self.mock.backend.next_due(task)
        if due is None:
            raise LookupError(
                f"task {task_id} is Pending with progression {task.progression} and the clock is frozen: nothing "
                "will finish it by itself. Complete it (bfl_mock.complete(task_id)) or poll it"
            )
        return due

    def _hint(self, task_id: str) -> str:
        if task_id not in self.mock.backend.tasks:
            return "no such task (never submitted here, or reset / evicted)"
        clock = self.mock.clock
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
        """The allow-list by name (``webhook_allow``); addresses are checked again after resolving."""
        allow = self.settings.webhook_allow
        if not allow:
            return True
        host = (urlsplit(url).hostname or "").lower()
        for entry in allow:
            entry = entry.lower()
            if entry == "loopback" and is_loopback(host):
                return True
            if host == entry or (entry.startswith(".") and host.endswith(entry)):
                return True
        return False

    def check_target(self, host: str, port: int, addresses: list[str]) -> None:
        """Refuse targets the fake must never call, by resolved address (raises TargetRefused).

        * the fake itself (its own port on a loopback or unspecified address): its admin API trusts
          loopback callers, so a webhook must never become an admin call;
        * with ``webhook_allow`` naming ``loopback``: every address must be loopback;
        * with no allow-list on a server bound beyond loopback (a shared fake): loopback and link-local
          addresses (this host's own services, cloud metadata) are refused; list them to allow them.
        """
        ips = [ip for ip in (_ip(a) for a in addresses) if ip is not None]
        own_port = getattr(self.mock, "bound_port", None)
        if own_port is not None and port == own_port and any(ip.is_loopback or ip.is_unspecified for ip in ips):
            raise TargetRefused(f"{host}:{port} is bfl-mock itself")
        allow = [e.lower() for e in self.settings.webhook_allow]
        named = host.lower() in allow or any(e.startswith(".") and host.lower().endswith(e) for e in allow)
        if "loopback" in allow and not named and not all(ip.is_loopback for ip in ips):
            raise TargetRefused(f"{host} resolves to {addresses}, not only loopback addresses")
        bound = getattr(self.mock, "bound_host", None) or self.settings.host
        if not allow and not is_loopback(bound):
            bad = [str(ip) for ip in ips if ip.is_loopback or ip.is_link_local or ip.is_unspecified]
            if bad:
                raise TargetRefused(
                    f"{host} resolves to {bad}: a fake bound to {bound} does not call loopback or "
                    "link-local addresses unless webhook_allow lists them"
                )

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
        self._host_slots = {}
        self._started.set()
        inflight: set[asyncio.Task[None]] = set()
        while not self._closing:
            clock = self.mock.clock
            try:
                nxt = self.mock.backend.tick()
            except Exception as e:  # the scheduler survives anything (the backend isolates tasks already)
                log.exception("bfl-mock: lifecycle tick failed")
                self.mock.backend.errors.append(e)
                nxt = None
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
        if inflight:  # let them finish cancelling, so closing the loop destroys no pending task
            await asyncio.wait(list(inflight), timeout=2)

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
            attempt = Attempt(number, self.mock.clock.now())
            start = time.perf_counter()
            try:
                for _ in range(d.copies):
                    attempt.status = await post_once(
                        d.url, d.body, d.headers, self.settings.webhook_timeout_seconds, self.check_target
                    )
                retry = attempt.status >= 500 or attempt.status in RETRY_STATUSES
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
                d.next_at = self.mock.clock.now() + backoff[number - 1]
            else:
                d.state = "failed"
            if d.final:
                self._settled()
            self._cond.notify_all()
        log.info("webhook %s attempt %d -> %s %s", _clip_url(d.url), number, attempt.status, attempt.error or "")
        self.wake()

    # ------------------------------------------------------------------ admin API
    def admin(self, req: HttpRequest, rest: list[str]) -> HttpResponse:
        from mock_server.core.errors import ApiError
        from mock_server.http.app import HttpResponse

        scope = req.headers.get("x-mock-key")
        own = {t.id for t in self.mock.tasks(api_key=scope)} if scope else None
        if rest == [] and req.method == "GET":
            task_id = req.query("task_id")
            items = [
                d
                for d in self.deliveries
                if (task_id is None or d.task_id == task_id) and (own is None or d.task_id in own)
            ]
            return HttpResponse.json(200, {"webhooks": [d.to_dict() for d in items]})
        if rest == [] and req.method == "DELETE":
            self.reset(None if own is None else sorted(own))
            return HttpResponse.json(200, {"cleared": True, "api_key": redact_secret(scope)})
        if rest == ["wait"] and req.method == "GET":
            task_id = req.query("task_id")
            if not task_id:
                raise ApiError(400, "bfl-mock admin API: task_id is required")
            try:
                timeout = min(30.0, max(0.0, float(req.query("timeout") or 5.0)))
                attempts = int(req.query("attempts")) if req.query("attempts") else None
            except ValueError:
                raise ApiError(400, "bfl-mock admin API: timeout and attempts are numbers") from None
            from mock_server.core.backend import WaitFor

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
            except LookupError as e:
                raise ApiError(404, f"bfl-mock admin API: {e}") from None
            return HttpResponse.json(200, d.to_dict())
        raise ApiError(404, "Not Found")


def _clip_url(url: str) -> str:
    """A URL for logs: no userinfo (it may hold credentials), no query (tokens), at most 200 chars."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return f"{parts.scheme}://{netloc}{parts.path}"[:200]
