"""BFL's endpoints: call the backend, render. One ``submit`` serves every generation endpoint in the registry
(the route says which row); the rest are the utility endpoints and result delivery. The body (``body_for``)
and the key of a secured route are read before a handler runs (``MockHTTP``), in FastAPI's order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from mock_server.core.backend import TaskNotFound, not_found_view
from mock_server.core.endpoints import Endpoint
from mock_server.core.endpoints.family import artefact_at
from mock_server.core.errors import (
    ApiError,
    AzureError,
    ValidationFailed,
    WaitFor,
    finetune_not_found_utility,
)
from mock_server.core.redact import control_summary
from mock_server.core.schemas import load_request_schema, load_schema
from mock_server.core.status import TaskStatus
from mock_server.http import validation as v
from mock_server.http.delivery import UNSUPPORTED_VERB, azure_error, blob_response
from mock_server.http.routes import Route
from mock_server.http.services import Services
from mock_server.http.types import JSON, Answer, Deferred, HttpRequest, HttpResponse, error_response, waits
from mock_server.webhooks.notify import parse_fault_header


def _pick(bounds: tuple[float, float] | None, rng: Any) -> float:
    if not bounds:
        return 0.0
    lo, hi = bounds
    return float(lo if lo == hi else rng.uniform(lo, hi))


class ApiHandlers:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.backend = services.backend
        self.settings = services.backend.settings
        self._openapi: bytes | None = None

    def body_for(self, route: Route) -> v.JsonBody | None:
        """The model of ``route``'s body, compiled from its schema when the app is built: an endpoint row's
        request schema (BFL's OpenAPI, a file in ``schemas/`` or inline), else ``schemas/<body>.json``."""
        if route.body is None:
            return None
        directory = self.settings.schema_dir
        if route.endpoint is not None:
            ref = route.endpoint.schema
            schema = ref if isinstance(ref, dict) else load_request_schema(ref, directory)
        else:
            schema = load_schema(route.body, directory)
        return v.JsonBody(
            v.build_model(schema),
            strict_content_type=self.settings.strict_content_type,
            max_values=self.settings.max_json_values,
        )

    def api_origin(self, req: HttpRequest) -> str:
        return (self.settings.public_url or req.origin).rstrip("/")

    def delivery_origin(self, req: HttpRequest) -> str:
        return (self.settings.delivery_url or self.settings.public_url or req.origin).rstrip("/")

    # ------------------------------------------------------------------ generation endpoints
    def submit(self, req: HttpRequest, endpoint: Endpoint, *, key: str, body: BaseModel) -> Answer:
        params = body.model_dump()
        errors = [e for check in endpoint.checks for e in check(params)]  # what the OpenAPI cannot express
        if errors:
            raise ValidationFailed(errors)
        req.images = {
            f: control_summary(params[f]) for f in endpoint.family.image_fields if isinstance(params.get(f), str)
        }
        webhook_opts = parse_fault_header(req.headers.get("x-mock-webhook-fault"))
        # Waits for room in the render backlog before any rule counts this request (backpressure).
        return waits(lambda: self._accept(req, endpoint, key, params, webhook_opts))

    def _accept(
        self, req: HttpRequest, endpoint: Endpoint, key: str, params: dict[str, Any], webhook_opts: dict[str, Any]
    ) -> HttpResponse:
        backend = self.backend
        backend.check_capacity()
        outcome, rule_id = backend.decide(
            api_key=key, params=params, scenario=req.headers.get("x-mock-scenario"), endpoint=endpoint
        )
        delay = _pick(outcome.submit_latency, backend.rng)
        try:
            task = backend.submit(
                api_key=key,
                params=params,
                delivery_origin=self.delivery_origin(req),
                outcome=outcome,
                rule_id=rule_id,
                scenario=req.headers.get("x-mock-scenario"),
                webhook_opts=webhook_opts,
                images=req.images,
                endpoint=endpoint,
            )
        except ApiError as e:
            resp = error_response(e)
            resp.delay = delay
            return resp
        req.task_id = task.id
        if task.webhook_url is not None:
            self.services.webhooks.ensure_started()  # the scheduler finishes webhook tasks on the clock
            answer: dict[str, Any] = {"id": task.id, "status": TaskStatus.PENDING, "webhook_url": task.webhook_url}
        else:
            answer = {"id": task.id, "polling_url": f"{self.api_origin(req)}/v1/get_result?id={task.id}"}
        mode = backend.cost_fields(endpoint)
        if mode == "null":
            answer.update({"cost": None, "input_mp": None, "output_mp": None})
        elif mode == "values" and task.quote is not None:
            q = task.quote
            answer.update({"cost": q.submit_cost, "input_mp": q.input_mp, "output_mp": q.output_mp})
        resp = HttpResponse.json(200, answer)
        resp.delay = delay
        return resp

    # ------------------------------------------------------------------ polling and delivery
    def get_result(self, req: HttpRequest) -> Answer:
        task_id = req.query("id")
        if task_id is None:
            raise v.missing_query("id")
        headers = self.backend.ratelimit(req.headers.get("x-key"), req.client)  # one token per request
        task = self.backend.tasks.get(task_id)
        delay = _pick(task.outcome.poll_latency, self.backend.rng) if task is not None else 0.0
        req.task_id = task_id
        try:  # ``waits``, inlined for the hot path
            return self._poll(req, task_id, list(headers), delay)
        except WaitFor as w:
            return Deferred(w.future, lambda: waits(lambda: self._poll(req, task_id, list(headers), delay)))

    def _poll(self, req: HttpRequest, task_id: str, headers: list[tuple[str, str]], delay: float) -> HttpResponse:
        try:
            view = self.backend.poll(task_id, viewer=req.headers.get("x-key"))
        except TaskNotFound:
            if headers:
                headers.append(("Retry-After", "1"))
            resp = HttpResponse.json(404, not_found_view(task_id), headers)
        else:
            if headers:
                headers.append(("Retry-After", "1" if view["status"] == TaskStatus.PENDING else "0"))
            resp = HttpResponse.json(200, view, headers)
        resp.delay = delay
        return resp

    def download(self, req: HttpRequest) -> Answer:
        now = self.backend.clock.now()
        if req.method not in ("GET", "HEAD"):
            return azure_error(UNSUPPORTED_VERB, now)
        return waits(lambda: self._download(req))

    def _download(self, req: HttpRequest) -> HttpResponse:
        now = self.backend.clock.now()
        try:
            task, data = self.backend.blob(req.path, req.query_string)
            resp = blob_response(
                task,
                data,
                now=now,
                method=req.method,
                range_header=req.headers.get("range"),
                if_none_match=req.headers.get("if-none-match"),
                edge_headers=self.settings.edge_headers,
                artefact=artefact_at(task.endpoint.family, task.output_format, req.path),
            )
        except AzureError as e:  # bad or expired signature, gone, unsatisfiable range
            return azure_error(e, now)
        resp.delay = _pick(task.outcome.download_latency, self.backend.rng)
        return resp

    # ------------------------------------------------------------------ utility endpoints
    def get_credits(self, req: HttpRequest, *, key: str) -> HttpResponse:
        return HttpResponse.json(200, {"credits": self.backend.credits(key)})

    def my_finetunes(self, req: HttpRequest, *, key: str) -> HttpResponse:
        return HttpResponse.json(200, {"finetunes": self.backend.finetunes.ids(api_key=key)})

    def finetune_details(self, req: HttpRequest, *, key: str) -> HttpResponse:
        finetune_id = req.query("finetune_id")
        if finetune_id is None:
            raise v.missing_query("finetune_id")
        details = self.backend.finetunes.get(finetune_id, api_key=key)
        if details is None:
            raise finetune_not_found_utility()
        return HttpResponse.json(200, {"finetune_details": details})

    def delete_finetune(self, req: HttpRequest, *, key: str, body: BaseModel) -> HttpResponse:
        finetune_id = body.finetune_id  # type: ignore[attr-defined]
        if not self.backend.finetunes.delete(finetune_id, api_key=key):
            raise finetune_not_found_utility()
        answer = {
            "status": "success",
            "message": f"Finetune {finetune_id} deleted",
            "deleted_finetune_id": finetune_id,
            "timestamp": self.backend.finetunes.timestamp(self.backend.clock.now()),
        }
        return HttpResponse.json(200, answer)

    def health(self, req: HttpRequest) -> HttpResponse:
        """For CI service containers and orchestrators: 200 while the fake serves (not a BFL endpoint)."""
        return HttpResponse.json(200, {"status": "ok", "tasks": len(self.backend.tasks)})

    def openapi(self, req: HttpRequest, *, document: Callable[[], dict[str, Any]]) -> HttpResponse:
        if self._openapi is None:
            self._openapi = v.dumps(document())
        return HttpResponse(200, self._openapi, [("content-type", JSON)])
