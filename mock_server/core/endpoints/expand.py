"""FLUX.1 Expand (outpainting): a canvas grown by ``top``/``bottom``/``left``/``right`` with the original
pixels kept at their place and the new area painted with the seeded background."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mock_server.core import imaging
from mock_server.core.endpoints import painted
from mock_server.core.endpoints.family import Fetch, Rendered


@dataclass(frozen=True)
class Sides:
    top: int
    bottom: int
    left: int
    right: int

    @classmethod
    def of(cls, params: dict[str, Any]) -> Sides:
        return cls(*(int(params.get(k) or 0) for k in ("top", "bottom", "left", "right")))


@dataclass(frozen=True)
class ExpandInputs:
    image: str  # as sent: base64 or a URL
    sides: Sides
    prompt: str


@dataclass(frozen=True)
class ExpandChecked:
    image: bytes
    sides: Sides
    prompt: str


class ExpandFamily(painted.Painted[ExpandInputs, ExpandChecked]):
    name = "expand"
    size_rule = "the input grown by `top`/`bottom`/`left`/`right`"
    image_fields: tuple[str, ...] = ("image",)

    def render_inputs(self, params: dict[str, Any]) -> tuple[ExpandInputs, int]:
        image = params["image"]
        return ExpandInputs(image, Sides.of(params), str(params.get("prompt") or "")), len(image)

    def output_size(self, params: dict[str, Any], first: tuple[int, int] | None) -> tuple[int, int] | None:
        if first is None:
            return None
        s = Sides.of(params)
        return first[0] + s.left + s.right, first[1] + s.top + s.bottom

    def check(self, inputs: ExpandInputs, *, max_pixels: int, fetch: Fetch) -> tuple[ExpandChecked, int]:
        image, (w, h) = painted.get_image(inputs.image, max_pixels, fetch)
        s = inputs.sides
        imaging.check_size(w + s.left + s.right, h + s.top + s.bottom, max_pixels)
        return ExpandChecked(image, s, inputs.prompt), len(image) + len(inputs.prompt)

    def render(
        self, checked: ExpandChecked, *, seed: int, output_format: str, max_pixels: int, jpeg_quality: int
    ) -> Rendered[bytes]:
        image = painted.open_image(checked.image, max_pixels)
        s = checked.sides
        out = self._background(image.size[0] + s.left + s.right, image.size[1] + s.top + s.bottom, seed, checked.prompt)
        out.paste(image, (s.left, s.top), image)
        return self._finish(out, output_format, jpeg_quality)


EXPAND = ExpandFamily()
