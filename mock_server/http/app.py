"""The fake's HTTP surface, independent of any server framework.

``MockHTTP.handle(HttpRequest) -> HttpResponse`` is synchronous and cheap; it may raise ``WaitFor``
when the answer needs background image work. Two thin front ends drive it: the ASGI app (``asgi.py``,
served by uvicorn) awaits such futures, and the in-process respx bridge (``transport.py``) blocks on them,
so both answer identically without an event-loop hop per call.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote

from mock_server.core.backend import TaskNotFound, WaitFor, not_found_view
from mock_server.core.blobs import RESULTS_PREFIX, AzureError
from mock_server.core.errors import (
    BODY_PARSE_ERROR,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    ApiError,
    ConfigError,
    ValidationFailed,
)
from mock_server.core.redact import control_summary
from mock_server.core.schemas import load_schema
from mock_server.http import validation as v
from mock_server.http.journal import UNPARSED

if TYPE_CHECKING:
    from mock_server.mock import BflMock

log = logging.getLogger("bfl_mock")

SUBMIT_PATH = "/v1/flux-pro-1.0-canny-finetuned"
JSON = "application/json"
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
EDGE = [("X-Cache", "CONFIG_NOCACHE"), ("Accept-Ranges", "bytes")]


@dataclass
class HttpRequest:
    method: str
    path: str
    query_string: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names, first value wins
    body: bytes = b""
    scheme: str = "http"
    host: str = "localhost"
    client: str = "127.0.0.1"
    # filled in by handlers, read by the journal (so nothing is parsed or hashed twice)
    task_id: str | None = None
    parsed: Any = field(default=UNPARSED, repr=False)
    control_summary: dict[str, Any] | None = None

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.host}"

    def query(self, name: str) -> str | None:
        qs = self.query_string
        if not qs:
            return None
        if "&" not in qs and "%" not in qs and "+" not in qs:  # the common "id=<uuid>"
            key, sep, value = qs.partition("=")
            return value if key == name and sep else None if key != name else ""
        values = parse_qs(self.query_string, keep_blank_values=True).get(name)
        return values[-1] if values else None


@dataclass
class HttpResponse:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0  # latency to inject (on the fake clock) before answering

    @classmethod
    def json(cls, status: int, obj: Any, headers: list[tuple[str, str]] | None = None) -> HttpResponse:
        return cls(status, v.dumps(obj), [("content-type", JSON), *(headers or [])])


def _error_response(exc: ApiError) -> HttpResponse:
    return HttpResponse.json(exc.status, {"detail": exc.detail}, list(exc.headers.items()))


Handler = Callable[[HttpRequest], HttpResponse]


class MockHTTP:
    def __init__(self, mock: BflMock) -> None:
        self.mock = mock
        self.backend = mock.backend
        self.settings = mock.settings
        self.model = v.build_model(load_schema("FinetuneCannyInputs", self.settings.schema_dir))
        self.delete_model = v.build_model(load_schema("DeleteFinetuneInputs", self.settings.schema_dir))
        self.routes: dict[str, dict[str, Handler]] = {
            SUBMIT_PATH: {"POST": self.submit},
            "/v1/get_result": {"GET": self.get_result},
            "/v1/credits": {"GET": self.get_credits},
            "/v1/my_finetunes": {"GET": self.my_finetunes},
            "/v1/finetune_details": {"GET": self.finetune_details},
            "/v1/delete_finetune": {"POST": self.delete_finetune},
            "/openapi.json": {"GET": self.openapi},
            "/health": {"GET": self.health},
        }
        self.prefix_routes: list[tuple[str, Callable[[HttpRequest], HttpResponse]]] = [
            (RESULTS_PREFIX, self.download),
        ]
        self._openapi: bytes | None = None

    # ------------------------------------------------------------------ dispatch
    def handle(self, req: HttpRequest) -> HttpResponse:
        """Answer ``req``; never raises except WaitFor (retry after the future completes)."""
        try:
            resp = self._dispatch(req)
        except WaitFor:
            raise
        except ApiError as e:
            resp = _error_response(e)
        except ValidationFailed as e:
            resp = HttpResponse.json(422, {"detail": e.errors})
        except ConfigError as e:
            resp = HttpResponse.json(400, {"detail": f"bfl-mock: {e}"})
        except RecursionError:  # nested deeper than the renderer can go: FastAPI's answer for such bodies
            resp = HttpResponse.json(400, {"detail": BODY_PARSE_ERROR})
        except Exception as e:  # a bug in the fake: answer, log, and surface it to the test
            log.error("bfl-mock internal error on %s %s\n%s", req.method, req.path[:200], traceback.format_exc())
            self.backend.errors.append(e)
            resp = HttpResponse.json(500, {"detail": "Internal Server Error"})
        if self.settings.edge_headers and not req.path.startswith((RESULTS_PREFIX, "/_mock", "/health")):
            resp.headers.append(HSTS)
            if req.path != "/v1/get_result":  # the global edge (api.bfl.ai), as recorded
                resp.headers += EDGE
        return resp

    def _dispatch(self, req: HttpRequest) -> HttpResponse:
        methods = self.routes.get(req.path)
        if methods is None:
            for prefix, handler in self.prefix_routes:
                if req.path.startswith(prefix):
                    return handler(req)
            if req.path.startswith("/_mock/") or req.path == "/_mock":
                return self.mock.admin.handle(req)
            alt = req.path[:-1] if req.path.endswith("/") else req.path + "/"
            if alt in self.routes:  # Starlette's redirect_slashes, as FastAPI serves it
                location = req.origin + alt + (f"?{req.query_string}" if req.query_string else "")
                location = quote(location, safe=":/?#[]@!$&'()*+,;=%")  # a header carries ASCII only
                return HttpResponse(307, b"", [("location", location)])
            raise ApiError(404, NOT_FOUND)
        handler = methods.get(req.method)
        if handler is None:
            raise ApiError(405, METHOD_NOT_ALLOWED, {"allow": ", ".join(methods)})
        return handler(req)

    def api_origin(self, req: HttpRequest) -> str:
        return (self.settings.public_url or req.origin).rstrip("/")

    def delivery_origin(self, req: HttpRequest) -> str:
        return (self.settings.delivery_url or self.settings.public_url or req.origin).rstrip("/")

    # ------------------------------------------------------------------ the endpoint
    def submit(self, req: HttpRequest) -> HttpResponse:
        # FastAPI's order: read/parse the body (json_invalid, 400), then security, then validation.
        body = req.parsed = v.parse_body(
            req.body, req.headers.get("content-type"), strict_content_type=self.settings.strict_content_type
        )
        key = self.backend.check_key(req.headers.get("x-key"))
        model = v.validate_body(self.model, body)
        self.backend.check_capacity()  # may wait for queued renders; before any rule counts this request
        params = model.model_dump()
        req.control_summary = control_summary(params["control_image"])
        outcome, rule_id = self.backend.decide(api_key=key, params=params, scenario=req.headers.get("x-mock-scenario"))
        delay = _pick(outcome.submit_latency, self.backend.rng)
        from mock_server.webhooks.dispatcher import parse_fault_header

        webhook_opts = parse_fault_header(req.headers.get("x-mock-webhook-fault"))
        try:
            task = self.backend.submit(
                api_key=key,
                params=params,
                delivery_origin=self.delivery_origin(req),
                outcome=outcome,
                rule_id=rule_id,
                webhook_opts=webhook_opts,
                control=req.control_summary,
            )
        except ApiError as e:
            resp = _error_response(e)
            resp.delay = delay
            return resp
        self.mock.note_task(req, task.id)
        if task.webhook_url is not None:
            self.mock.webhooks.ensure_started()  # it finishes webhook tasks on the clock
            body_out = {"id": task.id, "status": "Pending", "webhook_url": task.webhook_url}
        else:
            body_out = {"id": task.id, "polling_url": f"{self.api_origin(req)}/v1/get_result?id={task.id}"}
        if self.settings.submit_cost_fields:
            body_out.update({"cost": None, "input_mp": None, "output_mp": None})
        resp = HttpResponse.json(200, body_out)
        resp.delay = delay
        return resp

    def get_result(self, req: HttpRequest) -> HttpResponse:
        task_id = req.query("id")
        if task_id is None:
            raise v.missing_query("id")
        client = req.headers.get("x-key") or req.client
        headers = self.backend.ratelimit(client)
        task = self.backend.tasks.get(task_id)
        delay = _pick(task.outcome.poll_latency, self.backend.rng) if task is not None else 0.0
        self.mock.note_task(req, task_id)
        try:
            view = self.backend.poll(task_id, viewer=req.headers.get("x-key"))
        except TaskNotFound:
            if headers:
                headers.append(("Retry-After", "1"))
            resp = HttpResponse.json(404, not_found_view(task_id), headers)
            resp.delay = delay
            return resp
        if headers:
            headers.append(("Retry-After", "1" if view["status"] == "Pending" else "0"))
        resp = HttpResponse.json(200, view, headers)
        resp.delay = delay
        return resp

    def download(self, req: HttpRequest) -> HttpResponse:
        if req.method not in ("GET", "HEAD"):
            return _azure(
                AzureError(405, "UnsupportedHttpVerb", "The resource doesn't support specified Http Verb."), self.mock
            )
        try:
            status, headers, data = self.backend.download(req.path, req.query_string, req.headers.get("range"))
        except AzureError as e:
            return _azure(e, self.mock)
        task_id = self.backend._blobs.get(req.path)
        task = self.backend.tasks.get(task_id) if task_id else None
        delay = _pick(task.outcome.download_latency, self.backend.rng) if task is not None else 0.0
        inm = req.headers.get("if-none-match")
        etag = next((val for k, val in headers if k == "ETag"), None)
        if inm is not None and etag is not None and inm == etag:
            return HttpResponse(304, b"", [(k, val) for k, val in headers if k in ("ETag", "Last-Modified")], delay)
        headers.append(("Content-Length", str(len(data))))
        if self.settings.edge_headers:  # delivery-us1.bfl.ai is behind Azure Front Door (recorded)
            headers.append(("X-Cache", "TCP_MISS"))
        return HttpResponse(status, b"" if req.method == "HEAD" else data, headers, delay)

    # ------------------------------------------------------------------ utility endpoints
    def get_credits(self, req: HttpRequest) -> HttpResponse:
        key = self.backend.check_key(req.headers.get("x-key"))
        return HttpResponse.json(200, {"credits": self.backend.credits(key)})

    def my_finetunes(self, req: HttpRequest) -> HttpResponse:
        key = self.backend.check_key(req.headers.get("x-key"))
        return HttpResponse.json(200, {"finetunes": self.backend.finetunes.ids(api_key=key)})

    def finetune_details(self, req: HttpRequest) -> HttpResponse:
        key = self.backend.check_key(req.headers.get("x-key"))
        finetune_id = req.query("finetune_id")
        if finetune_id is None:
            raise v.missing_query("finetune_id")
        details = self.backend.finetunes.get(finetune_id, api_key=key)
        if details is None:
            raise ApiError(404, "Finetune not found")
        return HttpResponse.json(200, {"finetune_details": details})

    def delete_finetune(self, req: HttpRequest) -> HttpResponse:
        body = v.parse_body(
            req.body, req.headers.get("content-type"), strict_content_type=self.settings.strict_content_type
        )
        key = self.backend.check_key(req.headers.get("x-key"))
        model = v.validate_body(self.delete_model, body)
        finetune_id = model.finetune_id  # type: ignore[attr-defined]
        if not self.backend.finetunes.delete(finetune_id, api_key=key):
            raise ApiError(404, "Finetune not found")
        now = self.backend.clock.now()
        return HttpResponse.json(
            200,
            {
                "status": "success",
                "message": f"Finetune {finetune_id} deleted",
                "deleted_finetune_id": finetune_id,
                "timestamp": self.backend.finetunes.timestamp(now),
            },
        )

    def health(self, req: HttpRequest) -> HttpResponse:
        """For CI service containers and orchestrators: 200 while the fake serves (not a BFL endpoint)."""
        return HttpResponse.json(200, {"status": "ok", "tasks": len(self.backend.tasks)})

    def openapi(self, req: HttpRequest) -> HttpResponse:
        if self._openapi is None:
            from mock_server.http.openapi import build_openapi

            self._openapi = v.dumps(build_openapi(self.settings))
        return HttpResponse(200, self._openapi, [("content-type", JSON)])


def _pick(bounds: tuple[float, float] | None, rng: Any) -> float:
    if not bounds:
        return 0.0
    lo, hi = bounds
    return lo if lo == hi else rng.uniform(lo, hi)


def _azure(err: AzureError, mock: BflMock) -> HttpResponse:
    import uuid

    rid = str(uuid.uuid4())
    return HttpResponse(
        err.status,
        err.xml(rid, mock.backend.clock.now()),
        [
            ("Content-Type", "application/xml"),
            ("Server", "Microsoft-HTTPAPI/2.0"),
            ("x-ms-request-id", rid),
            ("x-ms-error-code", err.code),
        ],
    )
