"""What the image families (edit, fill, expand) share: getting an input image (base64, a ``data:`` prefix,
or a URL under the egress policy), decoding it no larger than needed, and keeping the output losslessly so
that a later download encodes the very same pixels again."""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

from mock_server.core import imaging
from mock_server.core.endpoints.family import FamilyBase, Fetch, Rendered
from mock_server.core.endpoints.text_to_image import canvas

if TYPE_CHECKING:
    from PIL.Image import Image

InputsT = TypeVar("InputsT")
CheckedT = TypeVar("CheckedT")


def get_image(value: str, max_pixels: int, fetch: Fetch) -> tuple[bytes, tuple[int, int]]:
    """An input image (base64, a ``data:`` prefix accepted, or an http(s) URL fetched under the egress policy):
    its bytes, validated (``imaging.validate``), and its size. Raises ``imaging.InvalidImage`` (the task ends
    ``Error``, as for any unusable input: S12)."""
    if value.strip().lower().startswith(("http://", "https://")):
        if fetch is None:
            raise imaging.InvalidImage("image URLs are not fetched here")
        data = fetch(value.strip())
    else:
        data = imaging.decode_base64(value)
    return data, imaging.validate(data, max_pixels)


def open_image(data: bytes, max_pixels: int, fit: int | None = None) -> Image:
    """Checked image bytes as RGBA pixels (render time), under the same caps as the check, decoded no larger
    than needed: with ``fit``, a thumbnail of at most ``fit`` px a side (JPEG decoded at 1/2 .. 1/8 scale)."""
    with imaging.opened(data, max_pixels) as im:  # validated earlier: only data corrupt past its checksums fails
        if fit is not None:
            im.draft("RGB", (fit, fit))  # JPEG: decoded at the smallest DCT scale still at least ``fit`` a side
        pixels: Image = im.convert("RGBA")
        if fit is not None:
            pixels.thumbnail((fit, fit))
        return pixels


class Painted(FamilyBase[InputsT, CheckedT, bytes], Generic[InputsT, CheckedT]):
    """An image family whose intermediate is its output as PNG bytes."""

    def _finish(self, rgb: Image, output_format: str, jpeg_quality: int) -> Rendered[bytes]:
        import numpy as np

        bgr = np.ascontiguousarray(np.asarray(rgb.convert("RGB"))[:, :, ::-1])
        lossless = imaging.encode(bgr, "png")
        data = lossless if output_format == "png" else imaging.encode(bgr, output_format, jpeg_quality=jpeg_quality)
        return Rendered(data, lossless, len(lossless))

    def rerender(self, intermediate: bytes, *, seed: int, output_format: str, jpeg_quality: int) -> bytes:
        import cv2
        import numpy as np

        if output_format == "png":
            return bytes(intermediate)
        bgr = cv2.imdecode(np.frombuffer(intermediate, dtype=np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:  # pragma: no cover - our own PNG
            raise LookupError("kept result is unreadable")
        return imaging.encode(bgr, output_format, jpeg_quality=jpeg_quality)

    @staticmethod
    def _background(width: int, height: int, seed: int, prompt: str) -> Image:
        return canvas(prompt, width, height, seed).convert("RGBA")
