"""Where the fake itself may connect: webhooks and input-image URLs share one policy.

``webhook_allow`` (hosts, ``.suffix``, ``loopback``) restricts targets by name; every target is checked again
by the addresses it resolves to. The fake never calls its own port on any of the host's own addresses (its
admin API trusts loopback callers), and a fake bound beyond loopback refuses loopback, link-local and the
host's own addresses unless they are listed.

Image fetches (``fetch``) have one deadline for the whole exchange (connect, status line, headers, body) and
a minimum transfer rate; any failure, including a malformed answer, is a ``FetchFailed`` (an ``OSError``).
``FetchPool`` runs them on their own threads, at most ``fetch_per_host`` at a time per host.
"""

from __future__ import annotations

import concurrent.futures as cf
import http.client
import io
import ipaddress
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from mock_server.core.config import Settings
from mock_server.core.errors import FetchFailed as FetchFailed
from mock_server.core.errors import TargetRefused as TargetRefused
from mock_server.core.errors import TooLarge as TooLarge

FETCH_USER_AGENT = "bfl-mock-fetch/0.1"  # the admin API refuses requests carrying it (the fake calling itself)
MIN_RATE_GRACE_SECONDS = 1.0  # the minimum transfer rate applies after this long


def is_own_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """One of this host's own addresses (any interface): it can be bound to. Loopback and the unspecified
    address count too."""
    if ip.is_loopback or ip.is_unspecified:
        return True
    if ip.is_multicast:
        return False
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((str(ip), 0))  # EADDRNOTAVAIL for an address that is not this host's
        return True
    except OSError:
        return False


def _is_loopback_name(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost")


def ip_address_of(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
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
    ip = ip_address_of(host)
    return ip is not None and ip.is_loopback


@dataclass
class EgressPolicy:
    settings: Settings
    bound_port: int | None = None  # the server serving this fake
    bound_host: str | None = None

    def allowed(self, url: str) -> bool:
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

    def check(self, host: str, port: int, addresses: list[str]) -> None:
        """Refuse targets the fake must never call, by resolved address (raises TargetRefused)."""
        ips = [ip for ip in (ip_address_of(a) for a in addresses) if ip is not None]
        own_port = self.bound_port
        if own_port is not None and port == own_port and any(is_own_address(ip) for ip in ips):
            raise TargetRefused(f"{host}:{port} is bfl-mock itself")
        allow = [e.lower() for e in self.settings.webhook_allow]
        named = host.lower() in allow or any(e.startswith(".") and host.lower().endswith(e) for e in allow)
        if "loopback" in allow and not named and not all(ip.is_loopback for ip in ips):
            raise TargetRefused(f"{host} resolves to {addresses}, not only loopback addresses")
        bound = self.bound_host or self.settings.host
        if not allow and not is_loopback(bound):
            bad = [str(ip) for ip in ips if ip.is_link_local or is_own_address(ip)]
            if bad:
                raise TargetRefused(
                    f"{host} resolves to {bad}: a fake bound to {bound} does not call loopback, link-local "
                    "or this host's own addresses unless webhook_allow lists them"
                )

    def fetch(self, url: str, *, timeout: float, max_bytes: int, min_rate: float = 0.0) -> bytes:
        """GET ``url`` (an input image) under the policy: allow-list by name, then by resolved address, then a
        connection to a checked address; at most ``max_bytes``. ``timeout`` bounds the whole exchange; after
        the first second the transfer must keep ``min_rate`` bytes per second. Raises TargetRefused or
        FetchFailed (an OSError), whatever the host answers."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TargetRefused(f"not an http(s) URL: {url[:100]!r}")
        if not self.allowed(url):
            raise TargetRefused(f"{parts.hostname} is not in webhook_allow")
        started = time.monotonic()
        clock = _Deadline(started + timeout, started, min_rate, timeout)
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
        except (OSError, UnicodeError) as e:
            raise FetchFailed(f"cannot resolve {host}: {e}") from None
        self.check(host, port, addresses)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn: http.client.HTTPConnection
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(host, port, timeout=clock.remaining())  # TLS needs the name
        else:
            conn = http.client.HTTPConnection(addresses[0], port, timeout=clock.remaining())  # the checked address
        try:
            conn.connect()
            conn.sock = _DeadlineSocket(conn.sock, clock)
            conn.request("GET", target, headers={"Host": parts.netloc, "User-Agent": FETCH_USER_AGENT})
            resp = conn.getresponse()
            if resp.status != 200:
                raise FetchFailed(f"GET {host}{target[:60]} answered {resp.status}")
            data = resp.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise TooLarge(f"{host} sent more than {max_bytes} bytes")
            if resp.length:  # what Content-Length announced and never came
                raise FetchFailed(f"{host} closed the connection {resp.length} bytes short of its Content-Length")
            return data
        except FetchFailed:
            raise
        except TimeoutError:  # the last read took what was left of the deadline
            raise FetchFailed(f"GET {host}{target[:60]}: not complete within {timeout:g}s") from None
        except (http.client.HTTPException, OSError, ValueError) as e:  # a malformed answer is a failed fetch
            raise FetchFailed(f"GET {host}{target[:60]}: {type(e).__name__}: {str(e)[:200]}") from None
        finally:
            conn.close()


class _Deadline:
    """One deadline for a whole exchange, and a minimum transfer rate once the grace second is over."""

    def __init__(self, deadline: float, started: float, min_rate: float, timeout: float) -> None:
        self.deadline, self.started, self.min_rate, self.timeout = deadline, started, min_rate, timeout
        self.received = 0

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise FetchFailed(f"not complete within {self.timeout:g}s")
        return left

    def got(self, n: int) -> None:
        self.received += n
        elapsed = time.monotonic() - self.started
        if self.min_rate > 0 and elapsed > MIN_RATE_GRACE_SECONDS and self.received < self.min_rate * elapsed:
            raise FetchFailed(f"{self.received} bytes in {elapsed:.1f}s: slower than {self.min_rate:g} bytes/s")


class _DeadlineReader(io.RawIOBase):
    def __init__(self, sock: socket.socket, clock: _Deadline) -> None:
        self._sock, self._clock = sock, clock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._sock.settimeout(self._clock.remaining())
        n = self._sock.recv_into(buffer)
        self._clock.got(n)
        return n


class _DeadlineSocket:
    """The connection's socket as http.client sees it: every read bounded by what is left of the deadline
    (http.client's own timeout applies per read, so a host sending a byte a second would never time out)."""

    def __init__(self, sock: socket.socket, clock: _Deadline) -> None:
        self._sock, self._clock = sock, clock

    def makefile(self, mode: str, *args: Any, **kw: Any) -> io.BufferedReader:
        assert "r" in mode
        return io.BufferedReader(_DeadlineReader(self._sock, self._clock))

    def sendall(self, data: Any, *args: Any) -> None:
        self._sock.settimeout(self._clock.remaining())
        self._sock.sendall(data, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


T = TypeVar("T")


class FetchPool:
    """Threads for image fetches, apart from the render threads: a slow image host cannot stall renders or
    other keys' tasks. At most ``per_host`` fetches run at once for one host:port; the others wait their
    turn in a queue (no thread is held while waiting)."""

    def __init__(self, workers: int, per_host: int) -> None:
        self._workers = max(1, workers)
        self._per_host = max(1, per_host)
        self._pool: cf.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._running: dict[str, int] = {}
        self._waiting: dict[str, deque[tuple[Callable[[], Any], cf.Future[Any]]]] = {}

    @staticmethod
    def host_of(url: str) -> str:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = None
        return f"{(parts.hostname or '').lower()}:{port or (443 if parts.scheme == 'https' else 80)}"

    def submit(self, url: str, fn: Callable[[], T]) -> cf.Future[T]:
        future: cf.Future[T] = cf.Future()
        host = self.host_of(url)
        with self._lock:
            if self._running.get(host, 0) >= self._per_host:
                self._waiting.setdefault(host, deque()).append((fn, future))
                return future
            self._running[host] = self._running.get(host, 0) + 1
        self._start(host, fn, future)
        return future

    def running(self, url: str) -> int:
        with self._lock:
            return self._running.get(self.host_of(url), 0)

    def _start(self, host: str, fn: Callable[[], Any], future: cf.Future[Any]) -> None:
        with self._lock:
            if self._pool is None:
                self._pool = cf.ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="bfl-mock-fetch")
            pool = self._pool

        def run() -> None:
            try:
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(fn())
                    except BaseException as e:
                        future.set_exception(e)
            finally:
                self._next(host)

        try:
            pool.submit(run)
        except RuntimeError as e:  # shut down
            future.set_exception(e)
            self._next(host)

    def _next(self, host: str) -> None:
        with self._lock:
            queue = self._waiting.get(host)
            if not queue:
                self._waiting.pop(host, None)
                left = self._running.get(host, 1) - 1
                if left > 0:
                    self._running[host] = left
                else:
                    self._running.pop(host, None)
                return
            fn, future = queue.popleft()  # the slot passes to the next waiting fetch of that host
        self._start(host, fn, future)

    def shutdown(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
            waiting, self._waiting = self._waiting, {}
            self._running.clear()
        for queue in waiting.values():
            for _, future in queue:
                future.cancel()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
