"""The dashboard's files (``mock_server/ui``: no build step, nothing from the internet) with their security
headers, and image problems in words for people."""

from __future__ import annotations

from mock_server.core import imaging
from mock_server.core.errors import not_found
from mock_server.http.types import HttpRequest, HttpResponse


def plain_reason(reason: str | None) -> str | None:
    """An image problem in words for people (the dashboard, the CLI): no Python object reprs
    (``<_io.BytesIO object at 0x...>``) or exception class names."""
    import re

    if reason is None:
        return None
    if "cannot identify image file" in reason or reason.endswith(imaging.NOT_AN_IMAGE):
        return imaging.NOT_AN_IMAGE
    reason = re.sub(r"<[\w.]+ object at 0x[0-9a-fA-F]+>", "the data", reason)
    return re.sub(r"\b[A-Z]\w*(?:Error|Exception|Warning): ", "", reason)


def _ui_file(name: str) -> bytes:
    from importlib.resources import files

    return (files("mock_server") / "ui" / name).read_bytes()


UI_TYPES = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
UI_TYPES["shadow.js"] = UI_TYPES["app.js"]  # the Shadow page (mock_server/shadow)
UI_HEADERS = [
    ("cache-control", "no-store"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),  # no clickjacking of the control buttons
    ("referrer-policy", "no-referrer"),
    (
        "content-security-policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'",
    ),
]


def page(req: HttpRequest) -> HttpResponse:
    return HttpResponse(200, _ui_file("index.html"), [("content-type", "text/html; charset=utf-8"), *UI_HEADERS])


def asset(req: HttpRequest, file: str) -> HttpResponse:
    if file not in UI_TYPES:
        raise not_found()
    return HttpResponse(200, _ui_file(file), [("content-type", UI_TYPES[file]), *UI_HEADERS])
