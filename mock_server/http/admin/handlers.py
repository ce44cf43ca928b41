"""The ``/_mock/`` handlers: parse, call the backend, render (``routes.ADMIN_ROUTES`` names them)."""

from __future__ import annotations

import concurrent.futures as cf
import hmac
import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from mock_server.core.config import locate
from mock_server.core.endpoints import family as families
from mock_server.core.errors import (
    ADMIN_PREFIX,
    DEFAULT_ERROR,
    AzureError,
    ConfigError,
    TaskNotFound,
    admin_bad_request,
    admin_bad_token,
    bad_request,
    forbidden,
    not_found,
    request_timeout,
)
from mock_server.core.redact import key_fingerprint, redact_secret
from mock_server.core.rules import Outcome, moderation_outcome
from mock_server.core.status import TaskStatus
from mock_server.http.admin import dashboard
from mock_server.http.admin.auth import UI_COOKIE, AuthThrottle, authorize, ui_session
from mock_server.http.admin.dashboard import plain_reason
from mock_server.http.routes import ADMIN_ROUTES, Route
from mock_server.http.services import Services
from mock_server.http.types import Answer, Deferred, HttpRequest, HttpResponse, waits


def _count(req: HttpRequest, name: str) -> int | None:
    """A non-negative integer query parameter (ASCII digits only), or None when absent."""
    raw = req.query(name)
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        raise admin_bad_request(f"`{name}` must be a non-negative integer, not {raw[:40]!r}")
    return int(raw)


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
        f"{r.method} {r.path}" + (f" ({r.body})" if r.body else "") for r in ADMIN_ROUTES if r.path != ADMIN_PREFIX
    ],  # the route table itself: nothing listed twice
    "spec": "/openapi.json (tag: bfl-mock admin)",
}


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

    def __contains__(self, name: object) -> bool:
        return name in self._validators

    def check(self, name: str, data: Any) -> None:
        from jsonschema.exceptions import best_match

        error = best_match(self._validators[name].iter_errors(data))
        if error is not None:
            where = "body" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
            message = _schema_words(error)
            raise admin_bad_request(f"{where}: {message} (schema {name} in /openapi.json)")


class AdminBody:
    """A route's JSON body (``_mock/`` routes): parsed, then checked against its schema, before the handler
    runs; the handler gets the checked value as ``body``."""

    def __init__(self, schemas: BodySchemas, name: str) -> None:
        self.schemas, self.name = schemas, name

    def parse(self, body: bytes, content_type: str | None) -> Any:
        if not body:
            return {}
        try:
            return json.loads(body, parse_constant=_no_constant)
        except Exception as e:
            raise admin_bad_request(f"body is not JSON ({e})") from None

    def validate(self, data: Any) -> Any:
        self.schemas.check(self.name, data)
        return data


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
    schema in ``schemas/admin.json`` before the handler runs (``body_for``). ``X-Mock-Key`` scopes listings,
    clearing and reset to one key."""

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
        authorize(req, self.settings, self.throttle)

    def body_for(self, route: Route) -> AdminBody | None:
        """The reader of ``route``'s body (its schema in ``schemas/admin.json``), bound when the app is built."""
        if route.body is None:
            return None
        if route.body not in self.schemas:
            raise ConfigError(f"route {route.method} {route.path}: no schema {route.body} in schemas/admin.json")
        return AdminBody(self.schemas, route.body)

    @staticmethod
    def _num(data: dict[str, Any], key: str) -> float:
        try:
            value = float(data[key])
        except (KeyError, TypeError, ValueError):
            raise admin_bad_request(f"`{key}` (a number) is required") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise admin_bad_request(f"`{key}` must be finite")
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
        return dashboard.page(req)

    def ui_file(self, req: HttpRequest, file: str) -> HttpResponse:
        return dashboard.asset(req, file)

    def ui_login(self, req: HttpRequest, *, body: Any) -> HttpResponse:
        token = self.settings.admin_token
        given = str(body["token"])
        if not token:
            return HttpResponse.json(200, {"signed_in": True, "needed": False})
        self.throttle.check(req.client)
        if not hmac.compare_digest(given.encode(), token.encode()):
            self.throttle.failed(req.client)
            raise admin_bad_token()
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
            raise admin_bad_request(str(e)) from None
        return HttpResponse.json(200, self.backend.clock.snapshot())

    def clock(self, req: HttpRequest) -> HttpResponse:
        return HttpResponse.json(200, self.backend.clock.snapshot())

    def clock_advance(self, req: HttpRequest, *, body: Any) -> HttpResponse:
        seconds = self._num(body, "seconds")  # the schema says >= 0: the clock only moves forward
        return self._clock_moved(lambda: self.backend.clock.advance(seconds))

    def clock_set(self, req: HttpRequest, *, body: Any) -> HttpResponse:
        when = self._num(body, "time")
        return self._clock_moved(lambda: self.backend.clock.set(when))

    def clock_freeze(self, req: HttpRequest, *, body: Any) -> HttpResponse:
        data = body or {}
        at = self._num(data, "at") if "at" in data else None
        return self._clock_moved(lambda: self.backend.clock.freeze(at))

    def clock_unfreeze(self, req: HttpRequest) -> HttpResponse:
        return self._clock_moved(self.backend.clock.unfreeze)

    # ------------------------------------------------------------------ rules and scenarios
    def rules_list(self, req: HttpRequest) -> HttpResponse:
        return HttpResponse.json(200, {"rules": [r.to_dict() for r in self.backend.rules.list()]})

    def rules_add(self, req: HttpRequest, *, body: Any) -> HttpResponse:
        data = body
        items = data if isinstance(data, list) else [data]
        added = []
        for number, item in enumerate(items, 1):
            try:
                added.append(self.backend.rules.add(item).to_dict())
            except ConfigError as e:
                where = f"in rule {number} of the body" if isinstance(data, list) else "in the body"
                raise bad_request(f"bfl-mock: {locate(e, where)}") from None
        return HttpResponse.json(201, {"rules": added})

    def rules_clear(self, req: HttpRequest) -> HttpResponse:
        self.backend.rules.clear()
        return HttpResponse.json(200, {"cleared": True})

    def rules_remove(self, req: HttpRequest, rule_id: str) -> HttpResponse:
        if not rule_id.isdigit():
            raise not_found()
        if not self.backend.rules.remove(int(rule_id)):
            raise not_found(f"no rule {rule_id}")
        return HttpResponse.json(200, {"deleted": int(rule_id)})

    def scenario_define(self, req: HttpRequest, name: str, *, body: Any) -> HttpResponse:
        try:
            outcome = self.backend.rules.define_scenario(name, body)
        except ConfigError as e:
            raise bad_request(f"bfl-mock: {e}") from None
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
            raise not_found(f"no task {task_id}") from None

        def step() -> Answer:
            result = None
            if name == "result":
                if task.blob_path is None:
                    raise not_found(f"task {task_id} has no result ({task.status})")
                try:
                    result = self.backend.media.result_bytes(task)  # WaitFor while it renders: waited for off the loop
                except AzureError:
                    raise not_found(f"task {task_id}'s result is gone") from None
            fut = self.backend.media.preview(task, name, max_side, result)

            def answer() -> HttpResponse:
                try:
                    data, ctype = fut.result()
                except LookupError as e:
                    raise not_found(f"bfl-mock admin API: {e}") from None
                return HttpResponse(200, data, [("content-type", ctype), ("cache-control", "private, max-age=60")])

            return Deferred(fut, answer)

        return waits(step)

    def task_get(self, req: HttpRequest, task_id: str) -> HttpResponse:
        try:
            task = self.backend.get_task(task_id)
        except TaskNotFound:
            raise not_found(f"no task {task_id}") from None
        summary = task.summary()
        summary["image_error"] = plain_reason(summary.get("image_error"))
        summary["previews"] = self._previews(task)
        return HttpResponse.json(200, summary)

    @staticmethod
    def _previews(task: Any) -> list[dict[str, str]]:
        """The pictures the dashboard can show for ``task`` (``/images/{name}``), with captions and media
        types, as its family lists them: its input images, the family's own (canny's edge map), the result."""
        return [asdict(p) for p in families.dashboard(task.endpoint.family, task.params or {}, task.output_format)]

    def _force(self, task_id: str, outcome: Outcome) -> Answer:
        def step() -> HttpResponse:
            try:  # raises WaitFor, before changing anything, while the image still renders
                return HttpResponse.json(200, self.backend.force(task_id, outcome).summary())
            except TaskNotFound:
                raise not_found(f"no task {task_id}") from None

        return waits(step)  # waited for off the event loop: other clients are never stalled behind a render

    def task_complete(self, req: HttpRequest, task_id: str) -> Answer:
        return self._force(task_id, Outcome())

    def task_fail(self, req: HttpRequest, task_id: str, *, body: Any) -> Answer:
        data = body or {}
        return self._force(task_id, Outcome(status=TaskStatus.ERROR, error=str(data.get("error", DEFAULT_ERROR))))

    def task_moderate(self, req: HttpRequest, task_id: str, *, body: Any) -> Answer:
        data = body or {}
        try:
            outcome = moderation_outcome(str(data.get("status", TaskStatus.CONTENT_MODERATED)), data.get("reasons"))
        except ConfigError as e:
            raise bad_request(f"bfl-mock: {e}") from None
        return self._force(task_id, outcome)

    # ------------------------------------------------------------------ journals
    def requests_list(self, req: HttpRequest) -> HttpResponse:
        """The journal, filtered: ``method``, ``path`` (``*`` at the end: a prefix), ``status`` (``404`` or a
        class such as ``4xx``), ``polls=0`` (without ``GET /v1/get_result``), ``task_id``, ``api_key``;
        ``limit`` keeps the newest N of what matches."""
        scope, api_key = self._scope(req), req.query("api_key")
        if scope is not None and api_key is not None and api_key != scope:
            raise forbidden("bfl-mock admin API: X-Mock-Key scopes this listing to one key")
        status = req.query("status")
        if status and not (status.isdigit() or (len(status) == 3 and status[0] in "12345" and status[1:] == "xx")):
            raise admin_bad_request(
                f"`status` must be a non-negative integer such as 404, or a class such as 4xx, not {status[:40]!r}",
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
            raise admin_bad_request("task_id is required")
        try:
            timeout = min(30.0, max(0.0, float(req.query("timeout") or 5.0)))
            attempts = int(req.query("attempts") or 0) or None
        except ValueError:
            raise admin_bad_request("timeout and attempts are numbers") from None
        if self._waiter is None:
            self._waiter = cf.ThreadPoolExecutor(max_workers=4, thread_name_prefix="bfl-mock-wait")
        fut = self._waiter.submit(self.services.webhooks.wait_for, task_id, timeout, attempts=attempts)

        def settled() -> HttpResponse:
            try:
                return HttpResponse.json(200, fut.result().to_dict())
            except TimeoutError as e:
                raise request_timeout(str(e)) from None
            except LookupError as e:
                raise not_found(f"bfl-mock admin API: {e}") from None

        return Deferred(fut, settled)  # the blocking wait runs on a worker thread, never the event loop

    # ------------------------------------------------------------------ accounts and finetunes
    def credits_get(self, req: HttpRequest, api_key: str) -> HttpResponse:
        return HttpResponse.json(200, {"api_key": api_key, "credits": self.backend.credits(api_key)})

    def credits_set(self, req: HttpRequest, api_key: str, *, body: Any) -> HttpResponse:
        self.backend.set_credits(api_key, self._num(body, "credits"))
        return self.credits_get(req, api_key)

    def finetunes_list(self, req: HttpRequest) -> HttpResponse:
        ft, scope = self.backend.finetunes, self._scope(req)
        return HttpResponse.json(200, {"finetunes": {i: ft.get(i, api_key=scope) for i in ft.ids(api_key=scope)}})

    def finetune_put(self, req: HttpRequest, finetune_id: str, *, body: Any) -> HttpResponse:
        ft, scope = self.backend.finetunes, self._scope(req)
        details = body
        item = ft.add(finetune_id, **details) if scope is None else ft.add_for(scope, finetune_id, details)
        return HttpResponse.json(200, {"finetune_id": finetune_id, "details": item})

    def finetune_delete(self, req: HttpRequest, finetune_id: str) -> HttpResponse:
        deleted = self.backend.finetunes.delete(finetune_id, api_key=self._scope(req))
        return HttpResponse.json(200, {"deleted": deleted})
