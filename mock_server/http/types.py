"""The HTTP layer's own request and response types, independent of any server framework, and ``Deferred``:
the explicit form of "this answer needs background work first" (``waits`` turns a backend's ``WaitFor`` into
one); ``error_response`` renders an ``ApiError``, the one error shape every handler and front end shares."""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol, Union
from urllib.parse import parse_qs

from mock_server.core.config import Settings
from mock_server.core.errors import ApiError, WaitFor
from mock_server.http.validation import dumps

JSON = "application/json"
UNPARSED: Any = object()  # the request body was not parsed by a handler


class Edge(Enum):
    """Which of BFL's edge headers an answer carries (with ``edge_headers`` on), as recorded per host and path."""

    NONE = "none"  # the fake's own routes; result delivery sets Azure's itself
    HSTS = "hsts"  # GET /v1/get_result: Strict-Transport-Security only
    FULL = "full"  # the global edge (api.bfl.ai): HSTS, X-Cache, Accept-Ranges


class RouteFlags(Protocol):
    """What the journal and the edge headers read of the route that served a request (``routes.Route``)."""

    @property
    def journal(self) -> bool: ...  # recorded in the request journal (the fake's own routes are not)

    @property
    def edge(self) -> Edge: ...


@dataclass(slots=True)  # built for every request: slots make that and each attribute read cheaper
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
    images: dict[str, dict[str, Any]] | None = None  # summaries of image fields (length + SHA-256)
    route: RouteFlags | None = None  # the route that served it; None if none matched

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


@dataclass(slots=True)
class HttpResponse:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0  # latency to inject (on the fake clock) before answering

    @classmethod
    def json(cls, status: int, obj: Any, headers: list[tuple[str, str]] | None = None) -> HttpResponse:
        return cls(status, dumps(obj), [("content-type", JSON), *(headers or [])])


@dataclass
class Deferred:
    """An answer that needs background work first (a render, an encode, a webhook settling, room in the
    render backlog). The front end waits for ``future`` off its event loop (or blocks, in-process), then
    calls ``then()`` for the answer, which may defer again. Only ``then`` runs again: a handler's work
    before it (parsing, auth, rate limits, rule counting) happens once."""

    future: cf.Future[Any]
    then: Callable[[], Answer]


Answer = Union[HttpResponse, Deferred]  # noqa: UP007 (a runtime alias on Python 3.10)


def waits(step: Callable[[], Answer]) -> Answer:
    """Run ``step``; if the backend needs background work first, answer Deferred(that work, ``step``)."""
    try:
        return step()
    except WaitFor as w:
        return Deferred(w.future, lambda: waits(step))


def error_response(exc: ApiError) -> HttpResponse:
    return HttpResponse.json(exc.status, {"detail": exc.detail}, list(exc.headers.items()))


class Servable(Protocol):
    """What a front end serves (``BflMock`` is one): the front ends depend on this, not on the façade."""

    settings: Settings

    def serve(self, req: HttpRequest) -> HttpResponse: ...

    async def serve_async(self, req: HttpRequest) -> HttpResponse: ...

    def close(self) -> None: ...
