"""Admin HTTP API under ``/_mock/`` (moto's ``/moto-api/`` pattern): the same control surface as the
Python API, for live servers and black-box clients in any language.

Reachable from loopback only, unless ``--admin-token`` is set, in which case every caller must send it
(``X-Admin-Token: <token>`` or ``Authorization: Bearer <token>``); wrong tokens are throttled per client.
Without a token, a network request must also name the fake in its ``Host`` (and ``Origin``): a page that
rebinds its own name to 127.0.0.1 is refused (docs/security.md).
"""

from __future__ import annotations

import concurrent.futures as cf
import hmac
import ipaddress
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from mock_server.core import imaging
from mock_server.core.config import Settings, locate
from mock_server.core.egress import FETCH_USER_AGENT, ip_address_of, is_loopback
from mock_server.core.errors import (
    ADMIN_BAD_TOKEN,
    ADMIN_LOOPBACK_ONLY,
    ADMIN_SELF_REQUEST,
    DEFAULT_ERROR,
    NOT_FOUND,
    ApiError,
    AzureError,
    ConfigError,
    TaskNotFound,
)
from mock_server.core.redact import key_fingerprint, redact_secret
from mock_server.core.rules import Outcome, moderation_outcome
from mock_server.core.status import TaskStatus
from mock_server.http.api import waits
from mock_server.http.routes import ADMIN_ROUTES
from mock_server.http.services import Services
from mock_server.http.types import Answer, Deferred, HttpRequest, HttpResponse
from mock_server.webhooks.notify import USER_AGENT as WEBHOOK_USER_AGENT


def _loopback(host: str) -> bool:
    """The client address is loopback (127.0.0.0/8, ::1, IPv4-mapped ``::ffff:127.x`` as a server bound to
    ``::`` sees IPv4 clients), or Starlette's TestClient."""
    return host == "testclient" or is_loopback(host)


def _count(req: HttpRequest, name: str) -> int | None:
    """A non-negative integer query parameter (ASCII digits only), or None when absent."""
    raw = req.query(name)
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        raise ApiError(400, f"bfl-mock admin API: `{name}` must be a non-negative integer, not {raw[:40]!r}")
    return int(raw)


def plain_reason(reason: str | None) -> str | None:
    """An image problem in words for people (the dashboard, the CLI): no Python object reprs
    (``<_io.BytesIO object at 0x...>``) or exception class names."""
    import re

    if reason is None:
        return None
    if "cannot identify image file" in reason or reason.endswith(imaging.NOT_AN_IMAGE):
        return imaging.NOT_AN_IMAGE
    reason = re.sub(r"<[\w.]+ object at 0x[0-9a-fA-F]+>", "the data", reason)
    return re.sub(r"\b[A-Z]\w*(?:Error|Exception|Warning): ", "", reason)


PROMPT_CHARS = 200  # of each prompt in the task list (the task's page shows it whole)
POLL_PATH = "/v1/get_result"


def _key_matches(wanted: str, api_key: str | None, key_id: str | None) -> bool:
    """The dashboard's key filter: the whole API key, or the start of its fingerprint (the ``key`` column)."""
    if not wanted:
        return True
    if api_key is not None and key_fingerprint(wanted) == key_id:
        return True
    return key_id is not None and key_id.startswith(wanted.lower())


def _status_matches(wanted: str | None, status: int) -> bool:
    """``404`` exactly, or a class: ``4xx``."""
    if wanted is None or wanted == "":
        return True
    if len(wanted) == 3 and wanted[0] in "12345" and wanted[1:].lower() == "xx":
        return status // 100 == int(wanted[0])
    return wanted.isdigit() and int(wanted) == status


INDEX = {
    "bfl-mock admin API": "the same control surface as the Python API (README: Controlling outcomes)",
    "auth": "loopback clients only; with --admin-token, send `Authorization: Bearer <token>` or `X-Admin-Token`",
    "scope": "send `X-Mock-Key: <api key>` to scope listings and reset to one key (parallel workers)",
    "endpoints": [
        f"{r.method} {r.path}" + (f" ({r.body})" if r.body else "") for r in ADMIN_ROUTES if r.path != "/_mock"
    ],  # the route table itself: nothing listed twice
    "spec": "/openapi.json (tag: bfl-mock admin)",
}


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
        raise ApiError(403, CROSS_SITE)
    origin = req.headers.get("origin")
    if origin is not None:
        from urllib.parse import urlsplit

        host = req.headers.get("host") or req.host
        if origin == "null" or urlsplit(origin).netloc.lower() != host.lower():
            raise ApiError(403, CROSS_SITE)


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
        return ApiError(421, MISDIRECTED.format(host=host[:200]))
    origin = headers.get("origin")
    if origin is not None and origin != "null":
        try:
            name = urlsplit(origin).hostname or ""
        except ValueError:
            name = ""
        if not host_allowed(split_host(name), settings, local):
            return ApiError(403, FOREIGN_ORIGIN.format(origin=origin[:200]))
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
            raise ApiError(429, THROTTLED.format(seconds=seconds), {"Retry-After": str(seconds)})

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


def _ui_file(name: str) -> bytes:
    from importlib.resources import files

    return (files("mock_server") / "ui" / name).read_bytes()


UI_TYPES = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
UI_TYPES["shadow.js"] = UI_TYPES["app.js"]  # the Shadow page (mock_server/shadow)
UI_HEADERS = [
    ("cache-control", "no-store"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),  # no clickjacking of the control buttons
    ("referrer-policy", "no-referrer"),
    (
        "content-security-policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'",
    ),
]


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


class BodySchemas:
    """``schemas/admin.json``: every admin body is validated against its published JSON Schema first, so the
    400 names the field (``body.outcome.webhook.early``) exactly as the schema documents it."""

    def __init__(self, schema_dir: str | None) -> None:
        from jsonschema import Draft202012Validator

        from mock_server.core.schemas import load_schema

        doc = load_schema("admin", schema_dir)
        self._validators = {
            name: Draft202012Validator({"$ref": f"#/$defs/{name}", "$defs": doc["$defs"]}) for name in doc["$defs"]
        }

    def check(self, name: str, data: Any) -> None:
        from jsonschema.exceptions import best_match

        error = best_match(self._validators[name].iter_errors(data))
        if error is not None:
            where = "body" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
            message = _schema_words(error)
            raise ApiError(400, f"bfl-mock admin API: {where}: {message} (schema {name} in /openapi.json)")


def _schema_words(error: Any) -> str:
    """jsonschema's message, except for an unknown key: ``unknown key 'prompt_contain'; did you mean
    'prompt_contains'?`` (not ``Additional properties are not allowed ('prompt_contain' was unexpected)``)."""
    from mock_server.core.config import unknown_name

    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = dict(error.schema.get("properties") or {})
        extra = [k for k in error.instance if k not in known]
        if extra and known:
            return str(unknown_name("key", extra[0], known))
    return str(error.message)


class Admin:
    """The ``/_mock/`` handlers (``routes.ADMIN_ROUTES`` names them); every body is validated against its
    schema in ``schemas/admin.json`` first. ``X-Mock-Key`` scopes listings, clearing and reset to one key."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.backend = services.backend
        self.settings = services.backend.settings
        self.schemas = BodySchemas(self.settings.schema_dir)
        self._waiter: cf.ThreadPoolExecutor | None = None
        self.throttle = AuthThrottle()  # wrong admin tokens per client

    def close(self) -> None:
        if self._waiter is not None:
            self._waiter.shutdown(wait=False, cancel_futures=True)
            self._waiter = None

    # ------------------------------------------------------------------ helpers
    def authorize(self, req: HttpRequest) -> None:
        if req.headers.get("user-agent", "").startswith((WEBHOOK_USER_AGENT, FETCH_USER_AGENT)):
            raise ApiError(403, ADMIN_SELF_REQUEST)  # a webhook or image fetch aimed at ourselves: never an admin call
        if req.method not in SAFE_METHODS:
            refuse_cross_site(req)  # before the token: a browser's cookie must not act for another site
        token = self.settings.admin_token
        if token:
            if req.path in UI_PUBLIC and req.method in ("GET", "HEAD", "POST"):
                return  # the dashboard's own files and its sign-in (data stays behind the token)
            self.throttle.check(req.client)  # a client that guessed wrong too often: 429, whatever it sends
            given = req.headers.get("x-admin-token") or ""
            auth = req.headers.get("authorization", "")
            if auth.lower().startswith("bearer "):
                given = given or auth[7:]
            if not given:
                given = _cookie(req, UI_COOKIE) or ""
                if given and hmac.compare_digest(given.encode(), ui_session(token).encode()):
                    return
            if not hmac.compare_digest(given.encode(), token.encode()):
                self.throttle.failed(req.client)
                raise ApiError(403, ADMIN_BAD_TOKEN)
        elif not _loopback(req.client):
            raise ApiError(403, ADMIN_LOOPBACK_ONLY)

    @staticmethod
    def _json(req: HttpRequest) -> Any:
        if not req.body:
            return {}
        try:
            return json.loads(req.body, parse_constant=_no_constant)
        except Exception as e:
            raise ApiError(400, f"bfl-mock admin API: body is not JSON ({e})") from None

    def _body(self, req: HttpRequest, schema: str) -> Any:
        data = self._json(req)
        self.schemas.check(schema, data)
        return data

    @staticmethod
    def _num(data: dict[str, Any], key: str) -> float:
        try:
            value = float(data[key])
        except (KeyError, TypeError, ValueError):
            raise ApiError(400, f"bfl-mock admin API: `{key}` (a number) is required") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ApiError(400, f"bfl-mock admin API: `{key}` must be finite")
        return value

    @staticmethod
    def _scope(req: HttpRequest) -> str | None:
        return req.headers.get("x-mock-key")

    def _own_tasks(self, req: HttpRequest) -> set[str] | None:
        scope = self._scope(req)
        return None if scope is None else {t.id for t in self.backend.list_tasks(api_key=scope)}

    # ------------------------------------------------------------------ the fake
    def index(self, req: HttpRequest) -> HttpResponse:
        if "text/html" in req.headers.get("accept", ""):  # a browser: the dashboard
            return HttpResponse(303, b"", [("location", "/_mock/ui")])
        return HttpResponse.json(200, INDEX)

    # ------------------------------------------------------------------ dashboard
    def ui(self, req: HttpRequest) -> HttpResponse:
        return HttpResponse(200, _ui_file("index.html"), [("content-type", "text/html; charset=utf-8"), *UI_HEADERS])

    def ui_file(self, req: HttpRequest, file: str) -> HttpResponse:
        if file not in UI_TYPES:
            raise ApiError(404, NOT_FOUND)
        return HttpResponse(200, _ui_file(file), [("content-type", UI_TYPES[file]), *UI_HEADERS])

    def ui_login(self, req: HttpRequest) -> HttpResponse:
        token = self.settings.admin_token
        given = str(self._body(req, "MockLogin")["token"])
        if not token:
            return HttpResponse.json(200, {"signed_in": True, "needed": False})
        self.throttle.check(req.client)
        if not hmac.compare_digest(given.encode(), token.encode()):
            self.throttle.failed(req.client)
            raise ApiError(403, ADMIN_BAD_TOKEN)
        cookie = f"{UI_COOKIE}={ui_session(token)}; Path=/_mock; HttpOnly; SameSite=Strict"
        return HttpResponse.json(200, {"signed_in": True, "needed": True}, [("set-cookie", cookie)])

    def scenarios_list(self, req: HttpRequest) -> HttpResponse:
        from mock_server.core.rules import BUILTIN_SCENARIOS

        defined = self.backend.rules.scenarios
        return HttpResponse.json(
            200,
            {
                "builtin": {k: v.to_dict() for k, v in BUILTIN_SCENARIOS.items()},
                "defined": {k: v.to_dict() for k, v in defined.items()},
            },
        )

    def reset(self, req: HttpRequest) -> HttpResponse:
        scope = self._scope(req)
        self.services.reset(scope)
        return HttpResponse.json(200, {"reset": True, "api_key": scope})

    def config(self, req: HttpRequest) -> HttpResponse:
        return HttpResponse.json(200, self.settings.to_dict())

    def stats(self, req: HttpRequest) -> HttpResponse:
        return HttpResponse.json(200, self.backend.stats())

    # ------------------------------------------------------------------ clock
    def _clock_moved(self, move: Callable[[], object]) -> HttpResponse:
        try:
            move()
        except ValueError as e:  # out of the clock's range
            raise ApiError(400, f"bfl-mock admin API: {e}") from None
        return HttpResponse.json(200, self.backend.clock.snapshot())

    def clock(self, req: HttpRequest) -> HttpResponse:
        return HttpResponse.json(200, self.backend.clock.snapshot())

    def clock_advance(self, req: HttpRequest) -> HttpResponse:
        data = self._json(req)
        seconds = self._num(data if isinstance(data, dict) else {}, "seconds")
        if seconds < 0:
            raise ApiError(400, "bfl-mock admin API: the clock only moves forward")
        return self._clock_moved(lambda: self.backend.clock.advance(seconds))

    def clock_set(self, req: HttpRequest) -> HttpResponse:
        when = self._num(self._body(req, "MockClockSet"), "time")
        return self._clock_moved(lambda: self.backend.clock.set(when))

    def clock_freeze(self, req: HttpRequest) -> HttpResponse:
        data = self._body(req, "MockClockFreeze") or {}
        at = self._num(data, "at") if "at" in data else None
        return self._clock_moved(lambda: self.backend.clock.freeze(at))

    def clock_unfreeze(self, req: HttpRequest) -> HttpResponse:
        return self._clock_moved(self.backend.clock.unfreeze)

    # ------------------------------------------------------------------ rules and scenarios
    def rules_list(self, req: HttpRequest) -> HttpResponse:
        return HttpResponse.json(200, {"rules": [r.to_dict() for r in self.backend.rules.list()]})

    def rules_add(self, req: HttpRequest) -> HttpResponse:
        data = self._body(req, "MockRules")
        items = data if isinstance(data, list) else [data]
        added = []
        for number, item in enumerate(items, 1):
            try:
                added.append(self.backend.rules.add(item).to_dict())
            except ConfigError as e:
                where = f"in rule {number} of the body" if isinstance(data, list) else "in the body"
                raise ApiError(400, f"bfl-mock: {locate(e, where)}") from None
        return HttpResponse.json(201, {"rules": added})

    def rules_clear(self, req: HttpRequest) -> HttpResponse:
        self.backend.rules.clear()
        return HttpResponse.json(200, {"cleared": True})

    def rules_remove(self, req: HttpRequest, rule_id: str) -> HttpResponse:
        if not rule_id.isdigit():
            raise ApiError(404, NOT_FOUND)
        if not self.backend.rules.remove(int(rule_id)):
            raise ApiError(404, f"no rule {rule_id}")
        return HttpResponse.json(200, {"deleted": int(rule_id)})

    def scenario_define(self, req: HttpRequest, name: str) -> HttpResponse:
        try:
            outcome = self.backend.rules.define_scenario(name, self._body(req, "MockScenario"))
        except ConfigError as e:
            raise ApiError(400, f"bfl-mock: {e}") from None
        return HttpResponse.json(200, {"name": name, "outcome": outcome.to_dict()})

    # ------------------------------------------------------------------ tasks
    def tasks_list(self, req: HttpRequest) -> HttpResponse:
        tasks = self.backend.list_tasks(status=req.query("status"), api_key=self._scope(req))
        endpoint, key_id, limit = req.query("endpoint"), req.query("key_id"), _count(req, "limit")
        key = (req.query("key") or "").strip()[:1024]
        picked = []
        newest = req.query("order") == "newest"  # the dashboard's order; scripts keep the oldest first
        for t in reversed(tasks) if newest else tasks:
            if endpoint is not None and t.endpoint.name != endpoint:
                continue
            fingerprint = key_fingerprint(t.api_key)
            if key_id is not None and fingerprint != key_id:
                continue
            if key and not _key_matches(key, t.api_key, fingerprint):
                continue
            picked.append(t)
            if limit is not None and len(picked) >= limit:
                break
        brief = req.query("brief") not in (None, "", "0", "false")
        return HttpResponse.json(200, {"tasks": [self._row(t) if brief else t.summary() for t in picked]})

    @staticmethod
    def _row(task: Any) -> dict[str, Any]:
        """A task list row: ``brief()``, its prompt (clipped) and its image problem in words."""
        row: dict[str, Any] = dict(task.brief())
        prompt = task.params.get("prompt")
        if isinstance(prompt, str) and len(prompt) > PROMPT_CHARS:
            prompt = prompt[:PROMPT_CHARS] + "…"
        row["prompt"] = prompt if isinstance(prompt, str) else None
        row["image_error"] = plain_reason(row.get("image_error"))
        return row

    def task_image(self, req: HttpRequest, task_id: str, name: str) -> Answer:
        max_side = min(1024, max(16, _count(req, "max") or 256))
        try:
            task = self.backend.get_task(task_id)
        except TaskNotFound:
            raise ApiError(404, f"no task {task_id}") from None

        def step() -> Answer:
            result = None
            if name == "result":
                if task.blob_path is None:
                    raise ApiError(404, f"task {task_id} has no result ({task.status})")
                try:
                    result = self.backend.result_bytes(task)  # WaitFor while it renders: waited for off the loop
                except AzureError:
                    raise ApiError(404, f"task {task_id}'s result is gone") from None
            fut = self.backend.preview(task, name, max_side, result)

            def answer() -> HttpResponse:
                try:
                    data, ctype = fut.result()
                except LookupError as e:
                    raise ApiError(404, f"bfl-mock admin API: {e}") from None
                return HttpResponse(200, data, [("content-type", ctype), ("cache-control", "private, max-age=60")])

            return Deferred(fut, answer)

        return waits(step)

    def task_get(self, req: HttpRequest, task_id: str) -> HttpResponse:
        try:
            task = self.backend.get_task(task_id)
        except TaskNotFound:
            raise ApiError(404, f"no task {task_id}") from None
        summary = task.summary()
        summary["image_error"] = plain_reason(summary.get("image_error"))
        summary["previews"] = self._previews(task)
        return HttpResponse.json(200, summary)

    @staticmethod
    def _previews(task: Any) -> list[dict[str, str]]:
        """The images the dashboard can show for ``task`` (``/images/{name}``), with their captions: each input
        image the request sent, the edge map an edge-conditioned family derives, and the result."""
        params = task.params or {}
        out = []
        for name in task.endpoint.family.image_fields:
            value = params.get(name)
            if isinstance(value, dict) and "length" in value:
                out.append({"name": name, "caption": f"{name} ({value['length']} bytes of base64)"})
            elif isinstance(value, str) and value:
                out.append({"name": name, "caption": f"{name} (a URL: not kept)"})
        if task.endpoint.family.name == "canny" and params.get("control_image") is not None:
            low, high = params.get("canny_low_threshold", 50), params.get("canny_high_threshold", 200)
            low, high = 50 if low is None else low, 200 if high is None else high
            out.append(
                {"name": "edges", "caption": f"edge map: cv2.Canny(low={low}, high={high}) as BFL's preprocessing"}
            )
        out.append({"name": "result", "caption": "result"})
        return out

    def _force(self, task_id: str, outcome: Outcome) -> Answer:
        def step() -> HttpResponse:
            try:  # raises WaitFor, before changing anything, while the image still renders
                return HttpResponse.json(200, self.backend.force(task_id, outcome).summary())
            except TaskNotFound:
                raise ApiError(404, f"no task {task_id}") from None

        return waits(step)  # waited for off the event loop: other clients are never stalled behind a render

    def task_complete(self, req: HttpRequest, task_id: str) -> Answer:
        return self._force(task_id, Outcome())

    def task_fail(self, req: HttpRequest, task_id: str) -> Answer:
        data = self._body(req, "MockTaskFail") or {}
        return self._force(task_id, Outcome(status=TaskStatus.ERROR, error=str(data.get("error", DEFAULT_ERROR))))

    def task_moderate(self, req: HttpRequest, task_id: str) -> Answer:
        data = self._body(req, "MockTaskModerate") or {}
        try:
            outcome = moderation_outcome(str(data.get("status", TaskStatus.CONTENT_MODERATED)), data.get("reasons"))
        except ConfigError as e:
            raise ApiError(400, f"bfl-mock: {e}") from None
        return self._force(task_id, outcome)

    # ------------------------------------------------------------------ journals
    def requests_list(self, req: HttpRequest) -> HttpResponse:
        """The journal, filtered: ``method``, ``path`` (``*`` at the end: a prefix), ``status`` (``404`` or a
        class such as ``4xx``), ``polls=0`` (without ``GET /v1/get_result``), ``task_id``, ``api_key``;
        ``limit`` keeps the newest N of what matches."""
        scope, api_key = self._scope(req), req.query("api_key")
        if scope is not None and api_key is not None and api_key != scope:
            raise ApiError(403, "bfl-mock admin API: X-Mock-Key scopes this listing to one key")
        status = req.query("status")
        if status and not (status.isdigit() or (len(status) == 3 and status[0] in "12345" and status[1:] == "xx")):
            raise ApiError(
                400,
                f"bfl-mock admin API: `status` must be a non-negative integer such as 404, or a class such as 4xx, "
                f"not {status[:40]!r}",
            )
        exact = status is not None and status.isdigit()
        limit = _count(req, "limit")
        entries = self.services.journal.filter(
            method=req.query("method") or None,
            path=req.query("path") or None,
            status=_count(req, "status") if exact else None,
            task_id=req.query("task_id"),
            api_key=scope if scope is not None else api_key,
        )
        no_polls = req.query("polls") in ("0", "false", "no")
        entries = [
            e
            for e in entries
            if (exact or _status_matches(status, e.status)) and not (no_polls and e.path == POLL_PATH)
        ]
        if limit:
            entries = entries[-limit:]
        return HttpResponse.json(200, {"requests": [e.to_dict() for e in entries]})

    def requests_clear(self, req: HttpRequest) -> HttpResponse:
        self.services.journal.clear(self._scope(req))
        return HttpResponse.json(200, {"cleared": True})

    def webhooks_list(self, req: HttpRequest) -> HttpResponse:
        task_id, own = req.query("task_id"), self._own_tasks(req)
        items = [
            d
            for d in self.services.webhooks.deliveries
            if (task_id is None or d.task_id == task_id) and (own is None or d.task_id in own)
        ]
        return HttpResponse.json(200, {"webhooks": [d.to_dict() for d in items]})

    def webhooks_clear(self, req: HttpRequest) -> HttpResponse:
        own = self._own_tasks(req)
        self.services.webhooks.reset(None if own is None else sorted(own))
        return HttpResponse.json(200, {"cleared": True, "api_key": redact_secret(self._scope(req))})

    def webhooks_wait(self, req: HttpRequest) -> Answer:
        task_id = req.query("task_id")
        if not task_id:
            raise ApiError(400, "bfl-mock admin API: task_id is required")
        try:
            timeout = min(30.0, max(0.0, float(req.query("timeout") or 5.0)))
            attempts = int(req.query("attempts") or 0) or None
        except ValueError:
            raise ApiError(400, "bfl-mock admin API: timeout and attempts are numbers") from None
        if self._waiter is None:
            self._waiter = cf.ThreadPoolExecutor(max_workers=4, thread_name_prefix="bfl-mock-wait")
        fut = self._waiter.submit(self.services.webhooks.wait_for, task_id, timeout, attempts=attempts)

        def settled() -> HttpResponse:
            try:
                return HttpResponse.json(200, fut.result().to_dict())
            except TimeoutError as e:
                raise ApiError(408, str(e)) from None
            except LookupError as e:
                raise ApiError(404, f"bfl-mock admin API: {e}") from None

        return Deferred(fut, settled)  # the blocking wait runs on a worker thread, never the event loop

    # ------------------------------------------------------------------ accounts and finetunes
    def credits_get(self, req: HttpRequest, api_key: str) -> HttpResponse:
        return HttpResponse.json(200, {"api_key": api_key, "credits": self.backend.credits(api_key)})

    def credits_set(self, req: HttpRequest, api_key: str) -> HttpResponse:
        self.backend.set_credits(api_key, self._num(self._body(req, "MockCredits"), "credits"))
        return self.credits_get(req, api_key)

    def finetunes_list(self, req: HttpRequest) -> HttpResponse:
        ft, scope = self.backend.finetunes, self._scope(req)
        return HttpResponse.json(200, {"finetunes": {i: ft.get(i, api_key=scope) for i in ft.ids(api_key=scope)}})

    def finetune_put(self, req: HttpRequest, finetune_id: str) -> HttpResponse:
        ft, scope = self.backend.finetunes, self._scope(req)
        details = self._body(req, "MockFinetune")
        item = ft.add(finetune_id, **details) if scope is None else ft.add_for(scope, finetune_id, details)
        return HttpResponse.json(200, {"finetune_id": finetune_id, "details": item})

    def finetune_delete(self, req: HttpRequest, finetune_id: str) -> HttpResponse:
        deleted = self.backend.finetunes.delete(finetune_id, api_key=self._scope(req))
        return HttpResponse.json(200, {"deleted": deleted})
