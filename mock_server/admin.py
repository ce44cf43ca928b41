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

from mock_server.errors import ApiError, ConfigError
from mock_server.http import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from mock_server.mock import BflMock


def _loopback(host: str) -> bool:
    if host in ("localhost", "testclient"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


class Admin:
    def __init__(self, mock: BflMock) -> None:
        self.mock = mock

    def _authorize(self, req: HttpRequest) -> None:
        token = self.mock.settings.admin_token
        if token:
            given = req.headers.get("x-admin-token") or ""
            auth = req.headers.get("authorization", "")
            if auth.lower().startswith("bearer "):
                given = given or auth[7:]
            if not hmac.compare_digest(given.encode(), token.encode()):
                raise ApiError(403, "bfl-mock admin API: missing or wrong admin token")
        elif not _loopback(req.client):
            raise ApiError(403, "bfl-mock admin API: loopback clients only (start the server with --admin-token)")

    @staticmethod
    def _json(req: HttpRequest) -> Any:
        if not req.body:
            return {}
        try:
            return json.loads(req.body)
        except Exception as e:
            raise ApiError(400, f"bfl-mock admin API: body is not JSON ({e})") from None

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
                return ok({"name": parts[1], "outcome": mock.scenario(parts[1], self._json(req)).to_dict()})
            if parts[:1] == ["tasks"]:
                return self._tasks(req, parts[1:])
            if parts == ["requests"]:
                if m == "DELETE":
                    mock.journal.clear(scope)
                    return ok({"cleared": True})
                if m == "GET":
                    status = req.query("status")
                    entries = mock.journal.filter(
                        method=req.query("method"),
                        path=req.query("path"),
                        status=int(status) if status and status.isdigit() else None,
                        task_id=req.query("task_id"),
                        api_key=req.query("api_key"),
                        limit=int(req.query("limit") or 0) or None,
                    )
                    return ok({"requests": [e.to_dict() for e in entries]})
            if parts[:1] == ["webhooks"]:
                return mock.webhooks.admin(req, parts[1:])
            if parts[:1] == ["credits"] and len(parts) == 2:
                if m == "GET":
                    return ok({"api_key": parts[1], "credits": mock.credits(parts[1])})
                if m in ("PUT", "POST"):
                    mock.set_credits(parts[1], self._num(self._json(req), "credits"))
                    return ok({"api_key": parts[1], "credits": mock.credits(parts[1])})
            if parts[:1] == ["finetunes"]:
                if m == "GET" and len(parts) == 1:
                    return ok({"finetunes": {i: mock.finetunes.get(i) for i in mock.finetunes.ids()}})
                if m in ("PUT", "POST") and len(parts) == 2:
                    details = self._json(req)
                    if not isinstance(details, dict):
                        raise ApiError(400, "bfl-mock admin API: finetune details must be an object")
                    return ok({"finetune_id": parts[1], "details": mock.finetunes.add(parts[1], **details)})
                if m == "DELETE" and len(parts) == 2:
                    return ok({"deleted": mock.finetunes.delete(parts[1])})
        except ConfigError as e:
            raise ApiError(400, f"bfl-mock: {e}") from None
        raise ApiError(404, "Not Found")

    def _clock(self, req: HttpRequest, rest: list[str]) -> HttpResponse:
        clock, m = self.mock.clock, req.method
        if rest == [] and m == "GET":
            pass
        elif rest == ["advance"] and m == "POST":
            seconds = self._num(self._json(req), "seconds")
            if seconds < 0:
                raise ApiError(400, "bfl-mock admin API: the clock only moves forward")
            clock.advance(seconds)
        elif rest == ["set"] and m == "POST":
            clock.set(self._num(self._json(req), "time"))
        elif rest == ["freeze"] and m == "POST":
            data = self._json(req)
            clock.freeze(self._num(data, "at") if isinstance(data, dict) and "at" in data else None)
        elif rest == ["unfreeze"] and m == "POST":
            clock.unfreeze()
        else:
            raise ApiError(404, "Not Found")
        self.mock.webhooks.wake()
        return HttpResponse.json(200, clock.snapshot())

    def _rules(self, req: HttpRequest, rest: list[str]) -> HttpResponse:
        rules, m = self.mock.rules, req.method
        if rest == [] and m == "GET":
            return HttpResponse.json(200, {"rules": [r.to_dict() for r in rules.list()]})
        if rest == [] and m == "POST":
            data = self._json(req)
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
                data = self._json(req)
                data = data if isinstance(data, dict) else {}
                if rest[1] == "complete":
                    task = mock.complete(task_id)
                elif rest[1] == "fail":
                    task = mock.fail(task_id, str(data.get("error", "Internal error during generation")))
                elif rest[1] == "moderate":
                    task = mock.moderate(task_id, str(data.get("status", "Content Moderated")), data.get("reasons"))
                else:
                    raise ApiError(404, "Not Found")
                return HttpResponse.json(200, task.summary())
        except ApiError as e:
            if e.status == 404 and e.detail == "Task not found":
                raise ApiError(404, f"no task {task_id}") from None
            raise
        raise ApiError(404, "Not Found")
