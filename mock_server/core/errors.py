"""One module for the fake's errors: each kind has one shape, messages are constants.

Handlers raise; the HTTP layer renders. ``ApiError`` renders as ``{"detail": <str>}`` (FastAPI's
HTTPException shape); ``ValidationFailed`` renders as FastAPI's 422 ``{"detail": [ ... ]}``.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

# Messages of the real service (see README "Fidelity" for the evidence of each).
NOT_AUTHENTICATED = "Not authenticated"
INVALID_KEY = "Not authenticated - Invalid Authentication"
NOT_FOUND = "Not Found"
METHOD_NOT_ALLOWED = "Method Not Allowed"
BODY_PARSE_ERROR = "There was an error parsing the body"
FINETUNE_NOT_FOUND = "Finetune not found or not ready"
INSUFFICIENT_CREDITS = "Insufficient credits"
INVALID_IMAGE = "Invalid or corrupted image input"
TASK_NOT_FOUND = "Task not found"


class MockError(Exception):
    """Base class of everything the fake raises on purpose."""


class ApiError(MockError):
    def __init__(self, status: int, detail: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.headers = headers or {}


class WaitFor(Exception):
    """The answer depends on background work: wait for ``future`` and ask again."""

    def __init__(self, future: Future[Any]) -> None:
        super().__init__("waiting for background work")
        self.future = future


class TaskNotFound(ApiError):
    def __init__(self, task_id: str) -> None:
        super().__init__(404, TASK_NOT_FOUND)
        self.task_id = task_id


class ValidationFailed(MockError):
    """A request failed validation; ``errors`` are pydantic-v2/FastAPI error dicts, JSON-ready."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} validation error(s)")
        self.errors = errors


class ConfigError(MockError, ValueError):
    """Bad settings, rules or schemas given to the fake (raised at start-up, never at request time)."""


FINETUNE_NOT_FOUND_UTILITY = "Finetune not found"  # finetune_details / delete_finetune
DEFAULT_ERROR = "Internal error during generation"  # an Error task's default message (the real text is unknown)
DEFAULT_REASONS = {"Request Moderated": ["Safety Filter"], "Content Moderated": ["Content Policy Violation"]}
RATE_LIMITED_DETAIL = "You have reached the maximum number of active tasks. Please wait for some to finish."
RATE_LIMIT_EXCEEDED = "Rate limit exceeded"
STORE_FULL = "bfl-mock: task store is full (max_tasks); finished tasks are evicted after retention_seconds"

# Messages of the fake itself (not of the real service).
ADMIN_BAD_TOKEN = (
    "bfl-mock admin API: missing or wrong admin token "
    "(send `Authorization: Bearer <token>` or `X-Admin-Token: <token>`)"
)
ADMIN_LOOPBACK_ONLY = (
    "bfl-mock admin API: loopback clients only (start the server with --admin-token TOKEN, then send "
    "`Authorization: Bearer TOKEN`)"
)
ADMIN_SELF_REQUEST = "bfl-mock admin API: requests made by bfl-mock itself (webhooks, image fetches) cannot use it"
REQUEST_TIMEOUT = "Request Timeout"
HEADERS_TOO_LARGE = "Request Header Fields Too Large"


class InternalError(RuntimeError):
    """A bug inside the fake, as the plugin re-raises it: the original type, message and traceback as text.

    The original exception is not kept: its traceback frames hold the request (bodies of many MB).
    """

    def __init__(self, original: BaseException, trace: str) -> None:
        self.original_type = type(original).__name__
        self.trace = trace
        super().__init__(f"bfl-mock internal error: {self.original_type}: {_clip(str(original), 2000)}\n{trace}")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


class ErrorLog:
    """Unexpected server-side exceptions, bounded by count and bytes (``max_errors`` newest are kept).

    Each is stored as an ``InternalError`` (type, message and traceback text, clipped), never the live
    exception, so a failing request's body is not kept alive. ``first`` is what the pytest plugin raises.
    """

    TRACE_CHARS = 8000

    def __init__(self, max_errors: int = 100) -> None:
        import threading
        from collections import deque

        self._items: deque[InternalError] = deque(maxlen=max(1, max_errors))
        self._lock = threading.Lock()
        self.total = 0
        self.first: InternalError | None = None

    def append(self, exc: BaseException) -> InternalError:
        import traceback

        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        err = exc if isinstance(exc, InternalError) else InternalError(exc, _clip(trace, self.TRACE_CHARS))
        exc.__traceback__ = None  # release the frames (and the request they reference)
        with self._lock:
            self._items.append(err)
            self.total += 1
            if self.first is None:
                self.first = err
        return err

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.first = None

    def pop_first(self) -> InternalError | None:
        with self._lock:
            err, self.first = self.first, None
            self._items.clear()
            return err

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(list(self._items))

    def __getitem__(self, i: int) -> InternalError:
        return list(self._items)[i]

    def __repr__(self) -> str:
        return f"ErrorLog({[e.original_type for e in self._items]!r})"


INVALID_SECRET = "webhook_secret is not a valid HTTP header value (control characters, CR/LF or non-ASCII): not sent"


class InvalidSecret(ValueError):
    """The secret cannot travel in a header: the delivery fails at once, without a request."""


@dataclass
class AzureError(MockError):
    """A delivery error as Azure Blob Storage reports it (rendered as its XML by ``http.delivery``)."""

    status: int
    code: str
    message: str
    detail: str | None = None


AUTH_FAILED = (
    "Server failed to authenticate the request. Make sure the value of Authorization header is formed "
    "correctly including the signature."
)


def blob_not_found() -> AzureError:
    """A new instance each time: a shared exception raised again and again grows its traceback chain."""
    return AzureError(404, "BlobNotFound", "The specified blob does not exist.")
