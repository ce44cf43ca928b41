"""Who may use the admin API and the dashboard: loopback clients, or the admin token (header, bearer or the
dashboard's cookie), wrong tokens throttled per client; without a token, a network request's ``Host`` and
``Origin`` must name the fake (DNS rebinding); a browser's cross-site request is refused (CSRF)."""

from __future__ import annotations

import hmac
import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from mock_server.core.config import Settings
from mock_server.core.egress import FETCH_USER_AGENT, ip_address_of, is_loopback
from mock_server.core.errors import (
    ApiError,
    admin_bad_token,
    admin_loopback_only,
    admin_self_request,
    forbidden,
    misdirected,
    too_many_requests,
)
from mock_server.http.types import HttpRequest
from mock_server.webhooks.notify import USER_AGENT as WEBHOOK_USER_AGENT


def _loopback(host: str) -> bool:
    """The client address is loopback (127.0.0.0/8, ::1, IPv4-mapped ``::ffff:127.x`` as a server bound to
    ``::`` sees IPv4 clients), or Starlette's TestClient."""
    return host == "testclient" or is_loopback(host)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
UI_COOKIE = "bfl_mock_admin"
UI_PUBLIC = frozenset({"/_mock/ui", "/_mock/ui/app.js", "/_mock/ui/app.css", "/_mock/ui/login"})
UI_PUBLIC |= {"/_mock/ui/shadow.js"}  # the Shadow page (mock_server/shadow)
CROSS_SITE = (
    "bfl-mock admin API: cross-site request refused (the Origin / Sec-Fetch-Site of another site); "
    "call it from the dashboard, a script or curl"
)


def refuse_cross_site(req: HttpRequest) -> None:
    """CSRF: a page on another origin must not change the fake (a form or fetch() to 127.0.0.1 is a simple
    request that needs no CORS). Browsers send ``Sec-Fetch-Site`` and ``Origin`` on such requests; scripts
    and curl send neither and are not affected."""
    site = req.headers.get("sec-fetch-site")
    if site is not None and site.lower() not in ("same-origin", "none"):
        raise forbidden(CROSS_SITE)
    origin = req.headers.get("origin")
    if origin is not None:
        from urllib.parse import urlsplit

        host = req.headers.get("host") or req.host
        if origin == "null" or urlsplit(origin).netloc.lower() != host.lower():
            raise forbidden(CROSS_SITE)


# ------------------------------------------------------------------ Host / Origin (DNS rebinding)
MISDIRECTED = (
    "bfl-mock admin API: the Host {host!r} does not name this fake (a page whose name resolves to it, "
    "DNS rebinding?); add the name to the allowed_hosts setting to use it"
)
FOREIGN_ORIGIN = (
    "bfl-mock admin API: the Origin {origin!r} is not this fake's (add its host to allowed_hosts to use it)"
)


def split_host(value: str) -> str:
    """The name in a Host header or an authority: no port, no brackets, lower case, no trailing dot."""
    value = value.strip().lower()
    if value.startswith("["):
        name = value[1:].partition("]")[0]
    elif value.count(":") == 1:
        name = value.partition(":")[0]
    else:
        name = value
    return name.rstrip(".")


def _same_host(a: str, b: str) -> bool:
    ia, ib = ip_address_of(a), ip_address_of(b)
    return a == b if ia is None or ib is None else ia == ib


def host_allowed(name: str, settings: Settings, local: Iterable[str | None] = ()) -> bool:
    """``name`` (see ``split_host``) names this fake: a loopback name or address, the address or name it is
    bound to (not 0.0.0.0 / ::), the address the connection arrived at, ``public_url``'s host, or an
    ``allowed_hosts`` entry (``name``, ``.suffix`` for the domain and its subdomains, ``*`` for any)."""
    if not name:
        return False
    if is_loopback(name):
        return True
    for entry in settings.allowed_hosts:
        entry = entry.strip().lower().rstrip(".")
        if entry == "*" or name == entry or (entry.startswith(".") and (name.endswith(entry) or name == entry[1:])):
            return True
    own = [settings.host, *local]
    if settings.public_url:
        own.append(urlsplit(settings.public_url).hostname)
    for candidate in own:
        if not candidate:
            continue
        candidate = split_host(candidate)
        ip = ip_address_of(candidate)
        if ip is not None and ip.is_unspecified:
            continue
        if _same_host(name, candidate):
            return True
    return False


def foreign_host(settings: Settings, headers: dict[str, str], local: Iterable[str | None]) -> ApiError | None:
    """A request to the admin API or the dashboard that arrived over the network without a token set: its
    ``Host`` must name this fake (421 Misdirected Request otherwise) and its ``Origin``, if any, too (403).
    With ``admin_token`` set the token protects them and any name is answered."""
    if settings.admin_token:
        return None
    local = list(local)
    host = headers.get("host")
    if host is not None and not host_allowed(split_host(host), settings, local):
        return misdirected(MISDIRECTED.format(host=host[:200]))
    origin = headers.get("origin")
    if origin is not None and origin != "null":
        try:
            name = urlsplit(origin).hostname or ""
        except ValueError:
            name = ""
        if not host_allowed(split_host(name), settings, local):
            return forbidden(FOREIGN_ORIGIN.format(origin=origin[:200]))
    return None


# ------------------------------------------------------------------ admin-token guessing
THROTTLED = "bfl-mock admin API: too many wrong admin tokens from this client; retry after {seconds} s"


class AuthThrottle:
    """Wrong admin tokens per client: each client may fail ``burst`` times, then once per
    ``1 / per_second`` seconds; beyond that every attempt (right or wrong) is 429 with ``Retry-After``,
    so a guesser learns nothing. At most ``max_clients`` clients are remembered (least recently failing
    first out); IPv6 clients count per /64. Real seconds (``clock``), not the fake's clock."""

    def __init__(
        self,
        *,
        burst: int = 10,
        per_second: float = 1.0,
        max_clients: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst, self.per_second, self.max_clients, self.clock = burst, per_second, max_clients, clock
        self._failures: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (tokens, at)
        self._lock = threading.Lock()

    @staticmethod
    def client_key(client: str) -> str:
        ip = ip_address_of(client)
        if isinstance(ip, ipaddress.IPv6Address):
            return str(ipaddress.IPv6Network((ip, 64), strict=False))
        return client[:64]

    def _tokens(self, key: str, now: float) -> float:
        tokens, at = self._failures.get(key, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - at) * self.per_second)

    def check(self, client: str) -> None:
        """Raise 429 while ``client`` has no failed attempt left."""
        key = self.client_key(client)
        with self._lock:
            if key not in self._failures:
                return
            now = self.clock()
            tokens = self._tokens(key, now)
        if tokens < 1:
            seconds = max(1, math.ceil((1 - tokens) / self.per_second))
            raise too_many_requests(THROTTLED.format(seconds=seconds), seconds)

    def failed(self, client: str) -> None:
        key = self.client_key(client)
        with self._lock:
            now = self.clock()
            tokens = self._tokens(key, now) - 1
            self._failures[key] = (tokens, now)
            self._failures.move_to_end(key)
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)

    def __len__(self) -> int:
        return len(self._failures)


def ui_session(token: str) -> str:
    """The dashboard cookie's value: derived from the admin token, never the token itself."""
    return hmac.new(token.encode(), b"bfl-mock dashboard session", "sha256").hexdigest()


def _cookie(req: HttpRequest, name: str) -> str | None:
    for part in req.headers.get("cookie", "").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value
    return None


def authorize(req: HttpRequest, settings: Settings, throttle: AuthThrottle) -> None:
    """Raise ApiError unless ``req`` may use the admin API (see the package docstring)."""
    if req.headers.get("user-agent", "").startswith((WEBHOOK_USER_AGENT, FETCH_USER_AGENT)):
        raise admin_self_request()  # a webhook or image fetch aimed at ourselves: never an admin call
    if req.method not in SAFE_METHODS:
        refuse_cross_site(req)  # before the token: a browser's cookie must not act for another site
    token = settings.admin_token
    if token:
        if req.path in UI_PUBLIC and req.method in ("GET", "HEAD", "POST"):
            return  # the dashboard's own files and its sign-in (data stays behind the token)
        throttle.check(req.client)  # a client that guessed wrong too often: 429, whatever it sends
        given = req.headers.get("x-admin-token") or ""
        auth = req.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = given or auth[7:]
        if not given:
            given = _cookie(req, UI_COOKIE) or ""
            if given and hmac.compare_digest(given.encode(), ui_session(token).encode()):
                return
        if not hmac.compare_digest(given.encode(), token.encode()):
            throttle.failed(req.client)
            raise admin_bad_token()
    elif not _loopback(req.client):
        raise admin_loopback_only()
