"""One module for the fake's errors: each kind has one shape, messages are constants.

Handlers raise; the HTTP layer renders. ``ApiError`` renders as ``{"detail": <str>}`` (FastAPI's
HTTPException shape); ``ValidationFailed`` renders as FastAPI's 422 ``{"detail": [ ... ]}``.

Recurring errors have a named constructor (``store_full()``, ``invalid_key()``, ``not_found()``, ...): each
call is a new exception (one raised again and again would grow its traceback chain) and reads its message
constant when called, so a test that sets e.g. ``errors.INVALID_KEY`` changes what the fake answers.
``ADMIN_PREFIX`` / ``is_admin_path`` say once where the fake's own API lives.

The exceptions of the core live here too (``InvalidImage``, ``TargetRefused``, ``FetchFailed``); the modules
that raise them import them from here under the same names. Exceptions of the layers above stay beside the
code that raises and catches them (this module is imported by everything and imports nothing of the fake):
``webhooks.client.DeliveryError`` (a retryable transport failure), ``frontends.asgi.BodyTooLarge`` and
``Disconnected`` (the ASGI body reader), ``frontends.intercept.UnmockedRequestError`` (the plugin's refusal of
an unmocked host), ``cli.CliError``, and the contract kit's ``PreflightError``, ``BudgetExhausted`` and
``Mismatch`` (``mock_server.contract``); ``config.ConfigProblem`` is a ``ConfigError`` with a hint.
"""

from __future__ import annotations

from collections.abc import Iterable
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


class InvalidImage(ValueError):
    """The control image can't be used; the task ends in Error with INVALID_IMAGE."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.public_message = INVALID_IMAGE


class TargetRefused(Exception):
    """A URL the fake will not call (allow-list, its own address, loopback on a shared fake)."""


class FetchFailed(OSError):
    """An image URL that could not be fetched: unreachable, too slow, too big, or a malformed answer."""


class TooLarge(FetchFailed):
    """The host sent more than the fetch may bring (``max_bytes``)."""


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
ADMIN_API = "bfl-mock admin API"  # how the admin API's own messages begin

ADMIN_PREFIX = "/_mock"  # the fake's own API (moto's /moto-api/): admin routes, the dashboard, its cookie's path


def is_admin_path(path: str) -> bool:
    """``path`` is the admin API or under it (``/_mock``, ``/_mock/...``; not ``/_mockery``)."""
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


# ---------------------------------------------------------------------------------------------- constructors
# Read the constants at call time (module globals), never bind them as defaults.
def not_authenticated(status: int) -> ApiError:
    """No ``x-key`` header: the real API's status for it is a setting (``missing_key_status``)."""
    return ApiError(status, NOT_AUTHENTICATED)


def invalid_key() -> ApiError:
    """An empty or unknown ``x-key`` (dossier S5)."""
    return ApiError(403, INVALID_KEY)


def not_found(detail: str | None = None) -> ApiError:
    """404: ``Not Found`` as the real API says it, or the admin API's own ``detail`` (``no task X``)."""
    return ApiError(404, NOT_FOUND if detail is None else detail)


def method_not_allowed(methods: Iterable[str]) -> ApiError:
    """405 with the methods the path does serve (``Allow``)."""
    return ApiError(405, METHOD_NOT_ALLOWED, {"allow": ", ".join(methods)})


def body_parse_error() -> ApiError:
    """A body that is not JSON where JSON is expected (FastAPI's 400)."""
    return ApiError(400, BODY_PARSE_ERROR)


def finetune_not_found() -> ApiError:
    """A submit naming a finetune the key's account does not have (or not ready)."""
    return ApiError(400, FINETUNE_NOT_FOUND)


def finetune_not_found_utility() -> ApiError:
    """``finetune_details`` / ``delete_finetune`` of an unknown finetune."""
    return ApiError(404, FINETUNE_NOT_FOUND_UTILITY)


def insufficient_credits() -> ApiError:
    return ApiError(402, INSUFFICIENT_CREDITS)


def store_full() -> ApiError:
    """The task store holds ``max_tasks`` tasks none of which may be evicted yet."""
    return ApiError(429, STORE_FULL, {"Retry-After": "1"})


def too_many_active_tasks() -> ApiError:
    """The key has ``active_task_limit`` tasks still running (the real API's 429)."""
    return ApiError(429, RATE_LIMITED_DETAIL, {"Retry-After": "1"})


def rate_limit_exceeded(headers: dict[str, str]) -> ApiError:
    """The polling rate limit; ``headers``: the X-Ratelimit-* and Retry-After of the refusal."""
    return ApiError(429, RATE_LIMIT_EXCEEDED, dict(headers))


def too_many_requests(detail: str, retry_after: int) -> ApiError:
    """429 with the fake's own words and when to try again (the admin API's sign-in throttle)."""
    return ApiError(429, detail, {"Retry-After": str(retry_after)})


def request_timeout(detail: str) -> ApiError:
    """408: what was waited for did not come in time (the admin API's webhook wait)."""
    return ApiError(408, detail)


def misdirected(detail: str) -> ApiError:
    """421: a Host this server does not answer for (DNS rebinding of the admin API)."""
    return ApiError(421, detail)


def conflict(detail: str) -> ApiError:
    """409: the request does not fit the current state (a task already finished)."""
    return ApiError(409, detail)


def bad_request(detail: str) -> ApiError:
    """400 with the fake's own words (admin API bodies, rules, scenarios)."""
    return ApiError(400, detail)


def admin_bad_request(problem: str) -> ApiError:
    """400 from the admin API: ``bfl-mock admin API: <problem>``."""
    return ApiError(400, f"{ADMIN_API}: {problem}")


def forbidden(detail: str) -> ApiError:
    """403 with the fake's own words (cross-site requests, key scopes)."""
    return ApiError(403, detail)


def admin_bad_token() -> ApiError:
    return ApiError(403, ADMIN_BAD_TOKEN)


def admin_loopback_only() -> ApiError:
    return ApiError(403, ADMIN_LOOPBACK_ONLY)


def admin_self_request() -> ApiError:
    """A webhook or image fetch of the fake aimed at its own admin API: never an admin call."""
    return ApiError(403, ADMIN_SELF_REQUEST)


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
