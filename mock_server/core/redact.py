"""Redaction: one policy for what is kept of secrets, keys and images wherever the fake records or shows
anything: the request journal (``http.journal``, the dashboard, ``BflMock.requests``), the access log
(``frontends.asgi``) and the contract kit's recordings (``contract.recorder``).

The policy (``Redaction``) says *what* is secret, once: the headers ``REDACTED_HEADERS``, the query parameters
``SECRET_PARAMS``, the body keys ``SECRET_KEYS`` (any nesting, any type, any case), every image field of every
endpoint (from the endpoint registry, ``core.endpoints.all_image_fields``), and what a 422 echoes back
(``input`` of an item whose ``loc`` names a secret or an image field, a body echoed as text). Its two instances
differ only in *how* they show what they hide:

* ``JOURNAL`` (kept in memory, shown on the dashboard): a secret keeps its first two characters
  (``wo***``, keys stay tellable apart; ``key_fingerprint`` compares them), an image becomes its length and
  SHA-256, long strings are clipped and depth and width are capped;
* ``RECORDING`` (cassettes written to disk): a secret is ``REDACTED``, an image is
  ``<scrubbed image: N chars sha256 ...>``, nothing else is cut.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

REDACTED_HEADERS = frozenset(
    {"x-key", "authorization", "cookie", "x-admin-token", "x-mock-admin-token", "x-webhook-secret"}
)
# Keys whose values are secrets wherever they appear in a body (request, 422 echo, any nesting, any type).
SECRET_KEYS = frozenset({"webhook_secret", "x-key", "x_key", "api_key", "admin_token", "authorization", "secret"})
# Query parameters whose values are secrets: a download link's signature, keys and tokens.
SECRET_PARAMS = ("sig", "key", "token", "secret")
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


def _sha16(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _image_line(value: str) -> Any:
    """A recording's image: its length and the start of its SHA-256 on one line (an empty string stays)."""
    return f"<scrubbed image: {len(value)} chars sha256 {_sha16(value.encode())}>" if value else value


def _text_line(text: str) -> str:
    return f"<text {len(text)} chars sha256 {_sha16(text.encode())}>"


def _short_text_or_summary(text: str) -> Any:
    return text if len(text) <= 256 else control_summary(text)


@dataclass(frozen=True)
class Redaction:
    """What is secret (one set of rules, see the module) and how this instance shows what it hides.

    ``mask``: what replaces a secret; ``keep_prefix``: a secret string keeps its first two characters
    (``redact_secret``); ``image``: an image field's string as shown; ``text``: an echoed body that is not
    JSON; ``bounded``: strings clipped at ``MAX_STRING``, ``MAX_ITEMS`` members per level, ``MAX_DEPTH``."""

    name: str
    mask: str
    keep_prefix: bool
    image: Callable[[str], Any]
    text: Callable[[str], Any]
    bounded: bool
    headers: frozenset[str] = REDACTED_HEADERS
    keys: frozenset[str] = SECRET_KEYS
    params: tuple[str, ...] = SECRET_PARAMS

    # ------------------------------------------------------------------ secrets
    def secret(self, value: Any) -> Any:
        """A secret's value as shown: None stays None (absent is not a secret)."""
        if value is None:
            return None
        if self.keep_prefix and isinstance(value, str):
            return redact_secret(value)
        return self.mask

    def header(self, name: str, value: str) -> str:
        """A header's value as shown: secret headers (any case) redacted."""
        return (self.secret(value) or "") if name.lower() in self.headers else value

    def query(self, query: str) -> str:
        """A query string with the values of secret parameters (``sig=``, ``key=``, ...) replaced by ``mask``."""
        if not query or not any(p in query for p in self.params):
            return query
        parts = []
        for item in query.split("&"):
            name, sep, _ = item.partition("=")
            parts.append(f"{name}={self.mask}" if sep and name.lower() in self.params else item)
        return "&".join(parts)

    # ------------------------------------------------------------------ bodies
    def body_text(self, text: str, depth: int = 0) -> Any:
        """A JSON text redacted as the value it holds; text that is not JSON as ``text`` shows it."""
        try:
            return self.json(json.loads(text), depth)
        except (ValueError, RecursionError):
            return self.text(text)

    def json(self, value: Any, depth: int = 0) -> Any:
        """A secret-free copy of a JSON value (bounded if the instance is)."""
        if isinstance(value, str):
            return clip(value) if self.bounded else value
        if value is None or isinstance(value, (bool, int, float)):
            return value
        if self.bounded and depth >= MAX_DEPTH:
            return f"<{type(value).__name__} nested deeper than {MAX_DEPTH}>"
        if isinstance(value, dict):
            return self._object(value, depth)
        if isinstance(value, (list, tuple)):
            if not self.bounded:
                return [self.json(v, depth + 1) for v in value]
            items = [self.json(v, depth + 1) for v in value[:MAX_ITEMS]]
            if len(value) > MAX_ITEMS:
                items.append(f"... {len(value) - MAX_ITEMS} more items")
            return items
        return clip(str(value)) if self.bounded else value

    def image_value(self, value: Any, depth: int = 0) -> Any:
        """An image field's value as shown: a string is an image; a list (FLUX 3's ``keyframes``: images, or
        ``[seconds, image]`` pairs) shows each string as an image and keeps its numbers."""
        if isinstance(value, str):
            return self.image(value)
        if isinstance(value, (list, tuple)) and not (self.bounded and depth >= MAX_DEPTH):
            items = [self.image_value(v, depth + 1) for v in (value[:MAX_ITEMS] if self.bounded else value)]
            if self.bounded and len(value) > MAX_ITEMS:
                items.append(f"... {len(value) - MAX_ITEMS} more items")
            return items
        return self.json(value, depth)

    def _object(self, value: dict[Any, Any], depth: int) -> dict[Any, Any]:
        images = _image_fields()
        loc = value.get("loc")
        about = [str(p) for p in loc] if isinstance(loc, list) else None  # a 422 item: what it is about
        out: dict[Any, Any] = {}
        for i, (k, v) in enumerate(value.items()):
            if self.bounded and i >= MAX_ITEMS:
                out["..."] = f"{len(value) - MAX_ITEMS} more members"
                break
            name = str(k)
            key = clip(name, 128) if self.bounded else k
            if name.lower() in self.keys:
                out[key] = self.secret(v)
            elif name in images and isinstance(v, (str, list, tuple)):
                out[key] = self.image_value(v, depth + 1)
            elif name == "input" and about is not None:
                out[key] = self._echo(v, about, depth)
            else:
                out[key] = self.json(v, depth + 1)
        return out

    def _echo(self, value: Any, about: list[str], depth: int) -> Any:
        """What a 422 item echoes of the request (``input``): the secret or image its ``loc`` names, or a body
        sent as text (``loc == ["body"]``, or a string holding JSON) that may hold both."""
        if any(p.lower() in self.keys for p in about):
            return self.mask
        if about and any(p in _image_fields() for p in about) and isinstance(value, (str, list, tuple)):
            return self.image_value(value, depth + 1)  # the field, or one item of a list of images
        if isinstance(value, str) and (about == ["body"] or value[:1] in ("{", "[")):
            return self.body_text(value, depth + 1)
        return self.json(value, depth + 1)


JOURNAL = Redaction(
    "journal", mask="***", keep_prefix=True, image=control_summary, text=_short_text_or_summary, bounded=True
)
RECORDING = Redaction(
    "recording", mask="REDACTED", keep_prefix=False, image=_image_line, text=_text_line, bounded=False
)


def redact_json(value: Any, depth: int = 0) -> Any:
    """A bounded, secret-free copy of a JSON value for journals and admin answers (``JOURNAL.json``)."""
    return JOURNAL.json(value, depth)
