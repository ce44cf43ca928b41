"""Image editing (Kontext, FLUX.2): the first input image fills the frame, blended with the seeded
background that carries the prompt, and every further input appears as a thumbnail along the bottom, so the
output visibly derives from each input. Without inputs it is text to image. The output size is each
model's (``kontext``, ``flux2``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mock_server.core import imaging
from mock_server.core.endpoints import painted
from mock_server.core.endpoints.family import Fetch, Rendered


@dataclass(frozen=True)
class EditRequest:
    """The params the output size and the picture depend on."""

    prompt: str = ""
    aspect_ratio: str | None = None
    width: int | None = None
    height: int | None = None

    @classmethod
    def of(cls, params: dict[str, Any]) -> EditRequest:
        return cls(
            str(params.get("prompt") or ""),
            params.get("aspect_ratio") or None,
            params.get("width") or None,
            params.get("height") or None,
        )


@dataclass(frozen=True)
class EditInputs:
    request: EditRequest
    images: list[str]  # the input image fields as sent (base64 or URLs), in field order


@dataclass(frozen=True)
class EditChecked:
    request: EditRequest
    images: list[bytes]
    size: tuple[int, int]  # the output's (width, height)


class EditFamily(painted.Painted[EditInputs, EditChecked]):
    """The editing families' rendering; ``size`` gives each model's output size."""

    name = "edit"

    def __init__(self, inputs: int) -> None:
        self.image_fields: tuple[str, ...] = ("input_image", *(f"input_image_{i}" for i in range(2, inputs + 1)))

    def size(self, request: EditRequest, first: tuple[int, int] | None) -> tuple[int, int]:
        """The output size for the request and the first input image's (width, height)."""
        raise NotImplementedError

    def output_size(self, params: dict[str, Any], first: tuple[int, int] | None) -> tuple[int, int]:
        return self.size(EditRequest.of(params), first)

    def render_inputs(self, params: dict[str, Any]) -> tuple[EditInputs, int]:
        images = [params[f] for f in self.image_fields if isinstance(params.get(f), str)]
        return EditInputs(EditRequest.of(params), images), sum(len(i) for i in images)

    def check(self, inputs: EditInputs, *, max_pixels: int, fetch: Fetch) -> tuple[EditChecked, int]:
        got = [painted.get_image(v, max_pixels, fetch) for v in inputs.images]
        width, height = self.size(inputs.request, got[0][1] if got else None)
        imaging.check_size(width, height, max_pixels)
        images = [data for data, _ in got]
        return EditChecked(inputs.request, images, (width, height)), sum(len(d) for d in images) + 200

    def render(
        self, checked: EditChecked, *, seed: int, output_format: str, max_pixels: int, jpeg_quality: int
    ) -> Rendered[bytes]:
        from PIL import Image

        # One input decoded at a time (the first at full size, resized and blended, then released; the others
        # straight to thumbnails): 8 inputs at the pixel cap cost what one does, not eight full RGBA copies.
        encoded, (width, height) = checked.images, checked.size
        out = self._background(width, height, seed, checked.request.prompt)
        if encoded:
            base = painted.open_image(encoded[0], max_pixels).resize((width, height), Image.Resampling.LANCZOS)
            out = Image.blend(out, base, 0.7)
            del base
            thumb = max(16, min(width, height) // 6)
            for i, data in enumerate(encoded[1:]):
                small = painted.open_image(data, max_pixels, fit=thumb)
                out.paste(small, (8 + i * (thumb + 8), height - small.size[1] - 8))
                del small
            imaging.release_native_memory(width * height)
        return self._finish(out, output_format, jpeg_quality)
