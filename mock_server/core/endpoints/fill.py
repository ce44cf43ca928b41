"""FLUX.1 Fill (inpainting): the input image with the masked area (``mask`` white, or transparent pixels of
``image`` when there is no mask) repainted with the seeded background; unmasked pixels are kept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mock_server.core.endpoints import painted
from mock_server.core.endpoints.family import Fetch, Rendered


@dataclass(frozen=True)
class FillInputs:
    image: str  # as sent: base64 or a URL
    mask: str | None
    prompt: str


@dataclass(frozen=True)
class FillChecked:
    image: bytes
    mask: bytes | None
    prompt: str


class FillFamily(painted.Painted[FillInputs, FillChecked]):
    name = "fill"
    size_rule = "the input image's size"
    image_fields: tuple[str, ...] = ("image", "mask")

    def render_inputs(self, params: dict[str, Any]) -> tuple[FillInputs, int]:
        image = params["image"]
        return FillInputs(image, params.get("mask"), str(params.get("prompt") or "")), len(image)

    def output_size(self, params: dict[str, Any], first: tuple[int, int] | None) -> tuple[int, int] | None:
        return first

    def check(self, inputs: FillInputs, *, max_pixels: int, fetch: Fetch) -> tuple[FillChecked, int]:
        image, _ = painted.get_image(inputs.image, max_pixels, fetch)
        mask = painted.get_image(inputs.mask, max_pixels, fetch)[0] if inputs.mask else None
        return FillChecked(image, mask, inputs.prompt), len(image) + len(mask or b"") + len(inputs.prompt)

    def render(
        self, checked: FillChecked, *, seed: int, output_format: str, max_pixels: int, jpeg_quality: int
    ) -> Rendered[bytes]:
        from PIL import Image

        image = painted.open_image(checked.image, max_pixels)
        if checked.mask:
            mask = (
                painted.open_image(checked.mask, max_pixels)
                .convert("L")
                .resize(image.size)
                .point(lambda v: 255 if v > 127 else 0)
            )
        else:
            mask = image.getchannel("A").point(lambda v: 255 if v == 0 else 0)
        repainted = self._background(image.size[0], image.size[1], seed, checked.prompt)
        out = Image.composite(repainted, image, mask)
        return self._finish(out, output_format, jpeg_quality)


FILL = FillFamily()
