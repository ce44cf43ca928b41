"""Thumbnails for the admin API and the dashboard: a task's input images, a family's own previews (canny's
edge map: ``endpoints.canny``) and its result, by media type. They run on render threads and are cached by
size."""

from __future__ import annotations

import io
from typing import Any

from mock_server.core import imaging

MAX_SIDE = 1024


def thumbnail(data: bytes, max_side: int, max_pixels: int) -> tuple[bytes, str]:
    """An image's thumbnail (longest side ``max_side``): JPEG for photos, PNG when it has transparency or is
    grey (masks, edge maps). Images over ``max_pixels`` (or ``max_jpeg_scans``) are refused from their header,
    before any decode, as the input check refuses them. Raises ``imaging.InvalidImage`` for bytes that are not
    a usable image."""
    with imaging.opened(data, max_pixels) as im:
        im.draft("RGB", (max_side, max_side))
        return encode(im, max_side)


def encode(im: Any, max_side: int) -> tuple[bytes, str]:
    """A decoded image (PIL) as a thumbnail: (bytes, media type)."""
    im.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    if im.mode in ("RGBA", "LA", "L", "1", "P"):
        im.save(buf, "PNG", optimize=False)
        return buf.getvalue(), "image/png"
    im.convert("RGB").save(buf, "JPEG", quality=82)
    return buf.getvalue(), "image/jpeg"


def of_result(data: bytes, media_type: str, max_side: int, max_pixels: int) -> tuple[bytes, str]:
    """A result's preview by its media type: an image's thumbnail; any other media (a video) as it is, for the
    dashboard's player (results are bounded by the result store)."""
    if media_type.startswith("image/"):
        return thumbnail(data, max_side, max_pixels)
    return data, media_type
