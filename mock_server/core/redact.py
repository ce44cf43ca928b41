"""Redaction: what is kept of secrets, keys and images wherever the fake records or shows anything.

Secrets never enter it: ``x-key`` and ``webhook_secret`` are redacted and every image field of every
endpoint (``core.endpoints.all_image_fields``) is reduced to its length and SHA-256.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

REDACTED_HEADERS = {"x-key", "authorization", "cookie", "x-admin-token", "x-mock-admin-token", "x-webhook-secret"}
# Keys whose values are secrets wherever they appear in a body (request, 422 echo, any nesting, any type).
SECRET_KEYS = frozenset({"webhook_secret", "x-key", "x_key", "api_key", "admin_token", "authorization", "secret"})
MAX_STRING = 1024  # longer strings are kept as their start plus their length
MAX_HEADER = 1024
MAX_ITEMS = 200  # list items / object members kept per level
MAX_DEPTH = 20


def redact_secret(value: str | None) -> str | None:
    if not value:
        return value
    return value[:2] + "***" if len(value) > 4 else "***"


def key_fingerprint(key: str | None) -> str | None:
    """A stable, non-reversible id of an API key: redacted keys collide (``wo***``), fingerprints do not."""
    if key is None:
        return None
    return _short_fingerprint(key) if len(key) <= 256 else _fingerprint(key)


def _fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]


_short_fingerprint = functools.lru_cache(maxsize=1024)(_fingerprint)  # a submit asks 3 times; <= 256 KB held


def control_summary(value: str) -> dict[str, Any]:
    """What is kept of a control image: its length and SHA-256, never the image."""
    raw = value.encode("utf-8", "surrogatepass")
    return {"length": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}


@functools.lru_cache(maxsize=1)
def _image_fields() -> frozenset[str]:
    """Every endpoint's image fields, from the endpoint registry (imported late: the registry imports imaging)."""
    from mock_server.core.endpoints import all_image_fields

    return all_image_fields()


def clip(text: str, limit: int = MAX_STRING) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def redact_json(value: Any, depth: int = 0) -> Any:
    """A bounded, secret-free copy of a JSON value for journals and admin answers.

    Secrets (``SECRET_KEYS``) are redacted whatever their type; an image field becomes its length and
    hash (every endpoint's image fields); long strings are clipped with their length noted; depth and width are capped.
    """
    if isinstance(value, str):
        return clip(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if depth >= MAX_DEPTH:
        return f"<{type(value).__name__} nested deeper than {MAX_DEPTH}>"
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for i, (k, v) in enumerate(value.items()):
            if i >= MAX_ITEMS:
                out["..."] = f"{len(value) - MAX_ITEMS} more members"
                break
            key = clip(str(k), 128)
            if str(k).lower() in SECRET_KEYS:
                out[key] = redact_secret(v) if isinstance(v, str) else None if v is None else "***"
            elif k in _image_fields() and isinstance(v, str):
                out[key] = control_summary(v)
            else:
                out[key] = redact_json(v, depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        items = [redact_json(v, depth + 1) for v in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            items.append(f"... {len(value) - MAX_ITEMS} more items")
        return items
    return clip(str(value))
