"""The fake's HTTP surface, independent of any server framework: route, call the handler, render errors.

``MockHTTP.handle(req)`` answers an ``HttpResponse``, or a ``Deferred`` when the answer needs background
work first; ``resume`` continues it. The front ends (ASGI, the in-process transport) wait for a
``Deferred``'s future their own way (awaiting it off the event loop, or blocking) and resume, so both answer
identically. Every route comes from ``routes`` (data); every error is rendered here, in one place.
"""

from __future__ import annotations

import inspect
import logging
import traceback
from typing import Any
from urllib.parse import quote

from mock_server.core.errors import (
    ADMIN_PREFIX,
    BODY_PARSE_ERROR,
    ApiError,
    ConfigError,
    ValidationFailed,
    method_not_allowed,
    not_found,
)
from mock_server.http.admin.handlers import Admin
from mock_server.http.api import ApiHandlers
from mock_server.http.routes import ADMIN_ANY, ADMIN_ROUTES, Handler, Route, Router, api_routes
from mock_server.http.services import Services
from mock_server.http.types import Answer, Deferred, Edge, HttpRequest, HttpResponse, error_response

log = logging.getLogger("bfl_mock")

HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
EDGE = [("X-Cache", "CONFIG_NOCACHE"), ("Accept-Ranges", "bytes")]
_ADMIN_BELOW = ADMIN_PREFIX + "/"

__all__ = ["Deferred", "HttpRequest", "HttpResponse", "MockHTTP"]


class MockHTTP:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.backend.settings
        self.api = ApiHandlers(services)
        self.admin = Admin(services)
        self.api_routes = api_routes(services.endpoints)
        self.router = Router(self.api_routes, lambda route: self._bind(self.api, route))
        self.admin_router = Router(ADMIN_ROUTES, lambda route: self._bind(self.admin, route))

    def close(self) -> None:
        self.admin.close()

    # ------------------------------------------------------------------ answering
    def handle(self, req: HttpRequest) -> Answer:
        """Answer ``req``; never raises (a bug in the fake is a logged, recorded 500)."""
        try:
            answer = self._dispatch(req)
        except Exception as e:
            answer = self._error(req, e)
        return self._finish(req, answer)

    def resume(self, req: HttpRequest, deferred: Deferred) -> Answer:
        """Continue a ``Deferred`` once its future is done."""
        try:
            answer = deferred.then()
        except Exception as e:
            answer = self._error(req, e)
        return self._finish(req, answer)

    def _error(self, req: HttpRequest, e: Exception) -> HttpResponse:
        """The answer to what a handler raised (called while it is being handled)."""
        if isinstance(e, ApiError):
            return error_response(e)
        if isinstance(e, ValidationFailed):
            return HttpResponse.json(422, {"detail": e.errors})
        if isinstance(e, ConfigError):
            return HttpResponse.json(400, {"detail": f"bfl-mock: {e}"})
        if isinstance(e, RecursionError):  # nested deeper than the renderer can go: FastAPI's answer for such bodies
            return HttpResponse.json(400, {"detail": BODY_PARSE_ERROR})
        # a bug in the fake: answer, log, and surface it to the test
        log.error("bfl-mock internal error on %s %s\n%s", req.method, req.path[:200], traceback.format_exc())
        self.services.backend.errors.append(e)
        return HttpResponse.json(500, {"detail": "Internal Server Error"})

    def _finish(self, req: HttpRequest, answer: Answer) -> Answer:
        if isinstance(answer, HttpResponse) and self.settings.edge_headers:
            edge = Edge.FULL if req.route is None else req.route.edge  # an unknown path: api.bfl.ai's 404
            if edge is not Edge.NONE:
                answer.headers.append(HSTS)
                if edge is Edge.FULL:
                    answer.headers += EDGE
        return answer

    # ------------------------------------------------------------------ routing
    def _dispatch(self, req: HttpRequest) -> Answer:
        path = req.path
        if path.startswith(ADMIN_PREFIX) and (path == ADMIN_PREFIX or path.startswith(_ADMIN_BELOW)):
            req.route = ADMIN_ANY  # its flags hold for a refusal or a 404 too
            self.admin.authorize(req)  # before anything else, also before a 404
            methods, params = self.admin_router.match(path)
            bound = methods.get(req.method) if methods else None
            if bound is None:
                raise not_found()
            req.route = bound.route
            return bound.call(req, params)
        methods, params = self.router.match(path)
        if methods is None:
            alt = path[:-1] if path.endswith("/") else path + "/"
            if alt in self.router.exact:  # Starlette's redirect_slashes, as FastAPI serves it
                location = req.origin + alt + (f"?{req.query_string}" if req.query_string else "")
                location = quote(location, safe=":/?#[]@!$&'()*+,;=%")  # a header carries ASCII only
                req.route = next(iter(self.router.exact[alt].values())).route
                return HttpResponse(307, b"", [("location", location)])
            raise not_found()
        bound = methods.get(req.method) or methods.get("*")
        if bound is None:
            req.route = next(iter(methods.values())).route  # the path's flags
            raise method_not_allowed(methods)
        req.route = bound.route
        return bound.call(req, params)

    # ------------------------------------------------------------------ binding (once, when the app is built)
    def _bind(self, owner: ApiHandlers | Admin, route: Route) -> Handler:
        """The callable serving ``route``: its handler method, looked up and checked against what it will be
        given (path parameters, the endpoint row, the key of a secured route, the checked body). Reading the
        body happens here, for every route alike, in FastAPI's order: parse (400 / ``json_invalid``), then the
        key (403), then validation against the route's schema (422, or the admin API's 400)."""
        where = f"route {route.method} {route.path}"
        handler = getattr(owner, route.handler, None)
        if not callable(handler):
            raise ConfigError(f"{where}: {type(owner).__name__} has no handler {route.handler!r}")
        fixed: dict[str, Any] = {}
        if route.endpoint is not None:
            fixed["endpoint"] = route.endpoint
        if route.handler == "openapi":
            fixed["document"] = self.openapi_document
        body = owner.body_for(route)
        params = [] if route.prefix else route.params  # a prefix route reads its own path
        given = {*fixed, *params, *(["body"] if body else []), *(["key"] if route.secured else [])}
        accepted = {n for n in inspect.signature(handler).parameters}
        if given != accepted - {"req"}:
            raise ConfigError(
                f"{where}: {route.handler}() takes {sorted(accepted - {'req'})}, is given {sorted(given)}"
            )
        if body is None and not route.secured:
            if fixed:
                return lambda req, params: handler(req, **fixed, **params)
            if not route.params:  # no keyword unpacking on the hot path (get_result)
                return lambda req, params: handler(req)
            return lambda req, params: handler(req, **params)
        check_key = self.services.backend.check_key
        secured = route.secured

        def call(req: HttpRequest, params: dict[str, str]) -> Answer:
            kw = dict(fixed, **params)
            data = None
            if body is not None:
                try:
                    data = req.parsed = body.parse(req.body, req.headers.get("content-type"))
                except ApiError:  # a body refused unparsed is journaled as such, never parsed for the journal
                    req.parsed = {"raw_length": len(req.body), "json": False}
                    raise
            if secured:
                kw["key"] = check_key(req.headers.get("x-key"))
            if body is not None:
                kw["body"] = body.validate(data)
            answer: Answer = handler(req, **kw)
            return answer

        return call

    def openapi_document(self) -> dict[str, Any]:
        from mock_server.http.openapi import build_openapi

        return build_openapi(self.settings, self.api_routes + ADMIN_ROUTES, self.services.endpoints)
