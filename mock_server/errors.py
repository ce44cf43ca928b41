"""One module for the fake's errors: each kind has one shape, messages are constants.

Handlers raise; the HTTP layer renders. ``ApiError`` renders as ``{"detail": <str>}`` (FastAPI's
HTTPException shape); ``ValidationFailed`` renders as FastAPI's 422 ``{"detail": [ ... ]}``.
"""

from __future__ import annotations

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


class ValidationFailed(MockError):
    """A request failed validation; ``errors`` are pydantic-v2/FastAPI error dicts, JSON-ready."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} validation error(s)")
        self.errors = errors


class ConfigError(MockError, ValueError):
    """Bad settings, rules or schemas given to the fake (raised at start-up, never at request time)."""
