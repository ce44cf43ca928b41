"""The fake's HTTP surface, independent of any server framework: route, call the handler, render errors.

``MockHTTP.handle(req)`` answers an ``HttpResponse``, or a ``Deferred`` when the answer needs background
work first; ``resume`` continues it. The front ends (ASGI, the in-process transport) wait for a
``Deferred``'s future their own way (awaiting it off the event loop, or blocking) and resume, so both answer
identically. Every route comes from ``routes`` (data); every error is rendered here, in one place.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any
from urllib.parse import quote

from mock_server.core.errors import (
    BODY_PARSE_ERROR,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    ApiError,
    ConfigError,
    ValidationFailed,
)
from mock_server.http.admin.handlers import Admin
from mock_server.http.api import ApiHandlers
from mock_server.http.routes import ADMIN_ROUTES, Route, Router, api_routes
from mock_server.http.services import Services
from mock_server.http.types import Answer, Deferred, HttpRequest, HttpResponse, error_response

log = logging.getLogger("bfl_mock")

HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
EDGE = [("X-Cache", "CONFIG_NOCACHE"), ("Accept-Ranges", "bytes")]
ADMIN_PREFIX = "/_mock"

__all__ = ["Deferred", "HttpRequest", "HttpResponse", "MockHTTP"]


class MockHTTP:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.backend.settings
        self.api = ApiHandlers(services)
        self.admin = Admin(services)
        self.api_routes = api_routes(services.endpoints)
        self.router = Router(self.api_routes)
        self.admin_router = Router(ADMIN_ROUTES)

    def close(self) -> None:
        self.admin.close()

    # ------------------------------------------------------------------ answering
    def handle(self, req: HttpRequest) -> Answer:
        """Answer ``req``; never raises (a bug in the fake is a logged, recorded 500)."""
        return self._finish(req, self._guard(req, lambda: self._dispatch(req)))

    def resume(self, req: HttpRequest, deferred: Deferred) -> Answer:
        """Continue a ``Deferred`` once its future is done."""
        return self._finish(req, self._guard(req, deferred.then))

    def _guard(self, req: HttpRequest, step: Any) -> Answer:
        try:
            answer: Answer = step()
            return answer
        except ApiError as e:
            return error_response(e)
        except ValidationFailed as e:
            return HttpResponse.json(422, {"detail": e.errors})
        except ConfigError as e:
            return HttpResponse.json(400, {"detail": f"bfl-mock: {e}"})
        except RecursionError:  # nested deeper than the renderer can go: FastAPI's answer for such bodies
            return HttpResponse.json(400, {"detail": BODY_PARSE_ERROR})
        except Exception as e:  # a bug in the fake: answer, log, and surface it to the test
            log.error("bfl-mock internal error on %s %s\n%s", req.method, req.path[:200], traceback.format_exc())
            self.services.backend.errors.append(e)
            return HttpResponse.json(500, {"detail": "Internal Server Error"})

    def _finish(self, req: HttpRequest, answer: Answer) -> Answer:
        if (
            isinstance(answer, HttpResponse)
            and self.settings.edge_headers
            and not req.path.startswith(("/results/", ADMIN_PREFIX, "/health"))
        ):
            answer.headers.append(HSTS)
            if req.path != "/v1/get_result":  # the global edge (api.bfl.ai), as recorded
                answer.headers += EDGE
        return answer

    # ------------------------------------------------------------------ routing
    def _dispatch(self, req: HttpRequest) -> Answer:
        path = req.path
        if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
            self.admin.authorize(req)  # before anything else, also before a 404
            methods, params = self.admin_router.match(path)
            route = methods.get(req.method) if methods else None
            if route is None:
                raise ApiError(404, NOT_FOUND)
            return self._call(self.admin, route, req, params)
        methods, params = self.router.match(path)
        if methods is None:
            alt = path[:-1] if path.endswith("/") else path + "/"
            if alt in self.router.exact:  # Starlette's redirect_slashes, as FastAPI serves it
                location = req.origin + alt + (f"?{req.query_string}" if req.query_string else "")
                location = quote(location, safe=":/?#[]@!$&'()*+,;=%")  # a header carries ASCII only
                return HttpResponse(307, b"", [("location", location)])
            raise ApiError(404, NOT_FOUND)
        route = methods.get(req.method) or methods.get("*")
        if route is None:
            raise ApiError(405, METHOD_NOT_ALLOWED, {"allow": ", ".join(methods)})
        return self._call(self.api, route, req, params)

    def _call(self, owner: Any, route: Route, req: HttpRequest, params: dict[str, str]) -> Answer:
        handler = getattr(owner, route.handler)
        if route.endpoint is not None:
            answer: Answer = handler(req, route.endpoint)
        elif route.handler == "openapi":
            answer = handler(req, self.openapi_document)
        else:
            answer = handler(req, **params)
        return answer

    def openapi_document(self) -> dict[str, Any]:
        from mock_server.http.openapi import build_openapi

        return build_openapi(self.settings, self.api_routes + ADMIN_ROUTES, self.services.endpoints)
