"""Text to image (FLUX1.1 [pro], [dev], Ultra): a seeded gradient with the prompt written on it.

A viewer sees which request produced the picture; it has the endpoint's documented size (``width`` x
``height``, or Ultra's ~4 MP for ``aspect_ratio``). The image families paint their inputs over the same
canvas (``canvas``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mock_server.core import imaging
from mock_server.core.endpoints.family import FamilyBase, Fetch, Rendered
from mock_server.core.endpoints.sizes import ultra_size

if TYPE_CHECKING:
    from PIL.Image import Image

KEPT_BYTES = 400  # what a kept prompt and size count in the result store


@dataclass(frozen=True)
class Prompted:
    """The whole of a text-to-image render: the prompt (its first 300 characters) and the output size."""

    prompt: str
    width: int
    height: int


class TextToImageFamily(FamilyBase[Prompted, Prompted, Prompted]):
    """Text to image at ``width`` x ``height``. ``image_prompt`` (Redux) is journaled but does not change the
    image yet."""

    name = "text-to-image"
    image_fields: tuple[str, ...] = ("image_prompt",)
    size_rule = "`width` x `height` (default 1024 x 768, multiples of 32)"
    main_input: str | None = None  # image_prompt (Redux) is journaled; it does not shape the output yet

    def output_size(self, params: dict[str, Any], first: tuple[int, int] | None = None) -> tuple[int, int]:
        return int(params.get("width") or 1024), int(params.get("height") or 768)

    def render_inputs(self, params: dict[str, Any]) -> tuple[Prompted, int]:
        width, height = self.output_size(params)
        return Prompted(str(params.get("prompt") or "")[:300], width, height), 0

    def check(self, inputs: Prompted, *, max_pixels: int, fetch: Fetch) -> tuple[Prompted, int]:
        imaging.check_size(inputs.width, inputs.height, max_pixels)
        return inputs, KEPT_BYTES

    def render(
        self, checked: Prompted, *, seed: int, output_format: str, max_pixels: int, jpeg_quality: int
    ) -> Rendered[Prompted]:
        data = self.rerender(checked, seed=seed, output_format=output_format, jpeg_quality=jpeg_quality)
        return Rendered(data, checked, KEPT_BYTES)

    def rerender(self, intermediate: Prompted, *, seed: int, output_format: str, jpeg_quality: int) -> bytes:
        import numpy as np

        rgb = canvas(intermediate.prompt, intermediate.width, intermediate.height, seed)
        return imaging.encode(np.asarray(rgb)[:, :, ::-1], output_format, jpeg_quality=jpeg_quality)


class UltraFamily(TextToImageFamily):
    """FLUX1.1 [pro] Ultra: text to image at ~4 MP for ``aspect_ratio`` (``sizes.ultra_size``)."""

    size_rule = "~4 MP at `aspect_ratio` (16:9 -> 2752 x 1536, 1:1 -> 2048 x 2048; 21:9 .. 9:21)"

    def output_size(self, params: dict[str, Any], first: tuple[int, int] | None = None) -> tuple[int, int]:
        return ultra_size(str(params.get("aspect_ratio") or "16:9"))


def canvas(prompt: str, width: int, height: int, seed: int) -> Image:
    """The picture as an RGB PIL image: the seeded gradient with prompt, seed and size written on it
    (the image families paint their inputs over it)."""
    from PIL import Image as PIL
    from PIL import ImageDraw, ImageFont

    img, ink = imaging.gradient(width, height, seed)
    picture = PIL.fromarray(img[:, :, ::-1])  # BGR -> RGB
    size = max(10, min(width, height) // 14)
    font = ImageFont.load_default(size=size)
    words, lines, line = prompt.split(), [], ""  # a simple word wrap
    for word in words:
        if len(line) + len(word) + 1 > max(8, width // (size // 2 + 1)) and line:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    draw, fill = ImageDraw.Draw(picture), tuple(int(c) for c in ink[::-1])
    draw.multiline_text((size, size), "\n".join(lines[:12]), fill=fill, font=font)
    small = ImageFont.load_default(size=max(8, size // 2))
    draw.text((size, height - size), f"seed {seed} · {width}x{height}", fill=fill, font=small)
    return picture


TEXT_TO_IMAGE = TextToImageFamily()
ULTRA = UltraFamily()
