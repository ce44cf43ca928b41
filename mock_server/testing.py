"""Helpers for users' tests (``from mock_server.testing import control_image``): nothing here is needed to
use the fake, but every example in the README and ``tests/examples/`` can be copied into a project that
only has ``pip install bfl-mock``.
"""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mock_server.frontends.server import ThreadedServer, WebhookReceiver

# A real 32x32 PNG (a dark square): small enough to paste into a curl command, with edges for Canny.
TINY_PNG_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAAACAAAAAgCAIAAAD8GO2jAAAAPUlEQVR42mP88OEDAy0BEwONwagFoxZQDlhwSaioqJBk0J07d0bjYNSCUQ"
    "tGLRi1YOhawDjaLhq1YNQCBgC24gjh2S6AywAAAABJRU5ErkJggg=="
)


def control_image(size: int = 64, *, fmt: str = "PNG") -> str:
    """A base64 control image of ``size`` x ``size``: a dark square on a light ground (clear Canny edges).

    The official ``blackforest`` SDK refuses sides under 256 px: use ``control_image(256)`` with it.
    """
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (size, size), (235, 235, 235))
    ImageDraw.Draw(im).rectangle((size // 4, size // 4, 3 * size // 4 - 1, 3 * size // 4 - 1), fill=(25, 25, 25))
    buf = io.BytesIO()
    im.save(buf, fmt)
    return base64.b64encode(buf.getvalue()).decode()


def poll(client: Any, polling_url: str, *, limit: int = 100) -> dict[str, Any]:
    """GET ``polling_url`` until the task is no longer Pending (the plugin's ``polls:2`` default needs no
    sleeping); return the final body."""
    for _ in range(limit):
        body: dict[str, Any] = client.get(polling_url).json()
        if body["status"] != "Pending":
            return body
    raise AssertionError(f"still Pending after {limit} polls: {polling_url}")


def __getattr__(name: str) -> Any:  # lazy: the servers import the whole fake
    if name in ("ThreadedServer", "WebhookReceiver"):
        from mock_server.frontends import server

        return getattr(server, name)
    raise AttributeError(name)


__all__ = ["TINY_PNG_B64", "ThreadedServer", "WebhookReceiver", "control_image", "poll"]
