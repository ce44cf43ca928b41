"""Admin HTTP API under ``/_mock/`` (moto's ``/moto-api/`` pattern): the same control surface as the
Python API, for live servers and black-box clients in any language.

Reachable from loopback only, unless ``--admin-token`` is set, in which case every caller must send it
(``X-Admin-Token: <token>`` or ``Authorization: Bearer <token>``).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from typing import TYPE_CHECKING, Any

from mock_server.core.errors import ADMIN_SELF_REQUEST, ApiError, ConfigError
from mock_server.core.rules import DEFAULT_ERROR, Outcome, moderation_outcome
from mock_server.http.app import HttpRequest, HttpResponse
from mock_server.webhooks.dispatcher import USER_AGENT as WEBHOOK_USER_AGENT

if TYPE_CHECKING:
    from mock_server.mock import BflMock


def _loopback(host: str) -> bool:
    """The client address is loopback: 127.0.0.0/8, ::1, or an IPv4-mapped ``::ffff:127.x`` (a server
    bound to ``::`` sees IPv4 clients that way)."""
    if host in ("localhost", "testclient"):
        return True
    try:
        ip = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _count(req: HttpRequest, name: str) -> int | None:
    """A non-negative integer query parameter (ASCII digits only), or None when absent."""
    raw = req.query(name)
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        raise ApiError(400, f"bfl-mock admin API: `{name}` must be a non-negative integer, not {raw[:40]!r}")
    return int(raw)


INDEX = {
    "bfl-mock admin API": "the same control surface as the Python API (README: Controlling outcomes)",
    "auth": "loopback clients only; with --admin-token, send `Authorization: Bearer <token>` or `X-Admin-Token`",
    "scope": "send `X-Mock-Key: <api key>` to scope listings and reset to one key (parallel workers)",
    "endpoints": [
        "POST /_mock/reset",
        "GET /_mock/config",
        "GET /_mock/stats",
        "GET /_mock/clock",
        "POST /_mock/clock/advance {seconds}",
        "POST /_mock/clock/set {time}",
        "POST /_mock/clock/freeze {at?}",
        "POST /_mock/clock/unfreeze",
        "GET|POST|DELETE /_mock/rules",
        "DELETE /_mock/rules/{id}",
        "PUT /_mock/scenarios/{name}",
        "GET /_mock/tasks?status=",
        "GET /_mock/tasks/{id}",
        "POST /_mock/tasks/{id}/complete|fail|moderate",
        "GET|DELETE /_mock/requests?method=&path=&status=&task_id=&api_key=&limit=",
        "GET|DELETE /_mock/webhooks?task_id=",
        "GET /_mock/webhooks/wait?task_id=&timeout=&attempts=",
        "GET|PUT /_mock/credits/{api_key}",
        "GET /_mock/finetunes, PUT|DELETE /_mock/finetunes/{id}",
    ],
    "spec": "/openapi.json (tag: bfl-mock admin)",
}


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
            raise ApiError(400, f"bfl-mock admin API: {where}: {error.message} (schema {name} in /openapi.json)")


class Admin:
    def __init__(self, mock: BflMock) -> None:
        self.mock = mock
        self.schemas = BodySchemas(mock.settings.schema_dir)

    def _body(self, req: HttpRequest, schema: str) -> Any:
        data = self._json(req)
        self.schemas.check(schema, data)
        return data

    def _authorize(self, req: HttpRequest) -> None:
        if req.headers.get("user-agent", "").startswith(WEBHOOK_USER_AGENT):
            raise ApiError(403, ADMIN_SELF_REQUEST)  # a webhook aimed at ourselves: never an admin call
        token = self.mock.settings.admin_token
        if token:
            given = req.headers.get("x-admin-token") or ""
            auth = req.headers.get("authorization", "")
            if auth.lower().startswith("bearer "):
                given = given or auth[7:]
            if not hmac.compare_digest(given.encode(), token.encode()):
                raise ApiError(
                    403,
                    "bfl-mock admin API: missing or wrong admin token "
                    "(send `Authorization: Bearer <token>` or `X-Admin-Token: <token>`)",
                )
        elif not _loopback(req.client):
            raise ApiError(
                403,
                "bfl-mock admin API: loopback clients only (start the server with --admin-token TOKEN, then "
                "send `Authorization: Bearer TOKEN`)",
            )

    @staticmethod
    def _json(req: HttpRequest) -> Any:
        if not req.body:
            return {}
        try:
            return json.loads(req.body)
        except Exception as e:
            raise ApiError(400, f"bfl-mock admin API: body is not JSON ({e})") from None

    @classmethod
    def _obj(cls, req: HttpRequest) -> dict[str, Any]:
        data = cls._json(req)
        if not isinstance(data, dict):
            raise ApiError(400, "bfl-mock admin API: body must be a JSON object")
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

    def handle(self, req: HttpRequest) -> HttpResponse:
        self._authorize(req)
        parts = [p for p in req.path.split("/") if p][1:]  # drop "_mock"
        m, mock = req.method, self.mock
        scope = req.headers.get("x-mock-key")  # a parallel worker's own key: scope listings and reset
        ok = lambda obj, status=200: HttpResponse.json(status, obj)  # noqa: E731
        try:
            if parts == [] and m == "GET":
                return ok(INDEX)
            if parts == ["reset"] and m == "POST":
                mock.reset(api_key=scope)
                return ok({"reset": True, "api_key": scope})
            if parts == ["config"] and m == "GET":
                return ok(mock.settings.to_dict())
            if parts == ["stats"] and m == "GET":
                return ok(mock.backend.stats())
            if parts[:1] == ["clock"]:
                return self._clock(req, parts[1:])
            if parts[:1] == ["rules"]:
                return self._rules(req, parts[1:])
            if parts[:1] == ["scenarios"] and len(parts) == 2 and m in ("PUT", "POST"):
                outcome = self._body(req, "MockScenario")
                return ok({"name": parts[1], "outcome": mock.scenario(parts[1], outcome).to_dict()})
            if parts[:1] == ["tasks"]:
                return self._tasks(req, parts[1:])
            if parts == ["requests"]:
                if m == "DELETE":
                    mock.journal.clear(scope)
                    return ok({"cleared": True})
                if m == "GET":
                    api_key = req.query("api_key")
                    if scope is not None and api_key is not None and api_key != scope:
                        raise ApiError(403, "bfl-mock admin API: X-Mock-Key scopes this listing to one key")
                    entries = mock.journal.filter(
                        method=req.query("method"),
                        path=req.query("path"),
                        status=_count(req, "status"),
                        task_id=req.query("task_id"),
                        api_key=scope if scope is not None else api_key,
                        limit=_count(req, "limit"),
                    )
                    return ok({"requests": [e.to_dict() for e in entries]})
            if parts[:1] == ["webhooks"]:
                return mock.webhooks.admin(req, parts[1:])
            if parts[:1] == ["credits"] and len(parts) == 2:
                if m == "GET":
                    return ok({"api_key": parts[1], "credits": mock.credits(parts[1])})
                if m in ("PUT", "POST"):
                    mock.set_credits(parts[1], self._num(self._body(req, "MockCredits"), "credits"))
                    return ok({"api_key": parts[1], "credits": mock.credits(parts[1])})
            if parts[:1] == ["finetunes"]:  # X-Mock-Key: that account's view; else the shared catalogue
                ft = mock.finetunes
                if m == "GET" and len(parts) == 1:
                    return ok({"finetunes": {i: ft.get(i, api_key=scope) for i in ft.ids(api_key=scope)}})
                if m in ("PUT", "POST") and len(parts) == 2:
                    details = self._body(req, "MockFinetune")
                    item = ft.add(parts[1], **details) if scope is None else ft.add_for(scope, parts[1], details)
                    return ok({"finetune_id": parts[1], "details": item})
                if m == "DELETE" and len(parts) == 2:
                    return ok({"deleted": ft.delete(parts[1], api_key=scope)})
        except ConfigError as e:
            raise ApiError(400, f"bfl-mock: {e}") from None
        raise ApiError(404, "Not Found")

    def _clock(self, req: HttpRequest, rest: list[str]) -> HttpResponse:
        clock, m = self.mock.clock, req.method
        try:
            if rest == ["advance"] and m == "POST":
                seconds = self._num(self._obj(req), "seconds")
                if seconds < 0:
                    raise ApiError(400, "bfl-mock admin API: the clock only moves forward")
                clock.advance(seconds)
            elif rest == ["set"] and m == "POST":
                clock.set(self._num(self._body(req, "MockClockSet"), "time"))
            elif rest == ["freeze"] and m == "POST":
                data = self._body(req, "MockClockFreeze") or {}
                clock.freeze(self._num(data, "at") if "at" in data else None)
            elif rest == ["unfreeze"] and m == "POST":
                clock.unfreeze()
            elif not (rest == [] and m == "GET"):
                raise ApiError(404, "Not Found")
        except ValueError as e:  # out of the clock's range
            raise ApiError(400, f"bfl-mock admin API: {e}") from None
        self.mock.webhooks.wake()
        return HttpResponse.json(200, clock.snapshot())

    def _rules(self, req: HttpRequest, rest: list[str]) -> HttpResponse:
        rules, m = self.mock.rules, req.method
        if rest == [] and m == "GET":
            return HttpResponse.json(200, {"rules": [r.to_dict() for r in rules.list()]})
        if rest == [] and m == "POST":
            data = self._body(req, "MockRules")
            items = data if isinstance(data, list) else [data]
            if not all(isinstance(i, dict) for i in items):
                raise ApiError(400, "bfl-mock admin API: a rule is an object {match, outcome}")
            added = [rules.add(i).to_dict() for i in items]
            return HttpResponse.json(201, {"rules": added})
        if rest == [] and m == "DELETE":
            rules.clear()
            return HttpResponse.json(200, {"cleared": True})
        if len(rest) == 1 and m == "DELETE":
            try:
                rid = int(rest[0])
            except ValueError:
                raise ApiError(404, "Not Found") from None
            if not rules.remove(rid):
                raise ApiError(404, f"no rule {rid}")
            return HttpResponse.json(200, {"deleted": rid})
        raise ApiError(404, "Not Found")

    def _tasks(self, req: HttpRequest, rest: list[str]) -> HttpResponse:
        mock, m = self.mock, req.method
        if rest == [] and m == "GET":
            tasks = mock.tasks(status=req.query("status"), api_key=req.headers.get("x-mock-key"))
            return HttpResponse.json(200, {"tasks": [t.summary() for t in tasks]})
        if not rest:
            raise ApiError(404, "Not Found")
        task_id = rest[0]
        try:
            if len(rest) == 1 and m == "GET":
                return HttpResponse.json(200, mock.task(task_id).summary())
            if len(rest) == 2 and m == "POST":
                data = self._json(req) or {}
                if rest[1] in ("fail", "moderate"):
                    self.schemas.check("MockTaskFail" if rest[1] == "fail" else "MockTaskModerate", data)
                # backend.force raises WaitFor while the image renders: the front end awaits it off the
                # event loop and asks again, so other clients are never stalled behind a render.
                if rest[1] == "complete":
                    outcome = Outcome()
                elif rest[1] == "fail":
                    outcome = Outcome(status="Error", error=str(data.get("error", DEFAULT_ERROR)))
                elif rest[1] == "moderate":
                    reasons = data.get("reasons")
                    if reasons is not None and not (
                        isinstance(reasons, list) and all(isinstance(r, str) for r in reasons)
                    ):
                        raise ApiError(400, "bfl-mock admin API: `reasons` must be a list of strings")
                    try:
                        outcome = moderation_outcome(str(data.get("status", "Content Moderated")), reasons)
                    except ConfigError as e:
                        raise ApiError(400, f"bfl-mock: {e}") from None
                else:
                    raise ApiError(404, "Not Found")
                task = mock.backend.force(task_id, outcome)
                return HttpResponse.json(200, task.summary())
        except ApiError as e:
            if e.status == 404 and e.detail == "Task not found":
                raise ApiError(404, f"no task {task_id}") from None
            raise
        raise ApiError(404, "Not Found")
