"""The FLUX tools' image families (``flux-tools/*-v1``/``-v2``): virtual try-on, outpainting, deblur.

Each output visibly derives from its inputs: try-on shows the person with the garment laid over the torso
(and the garment's thumbnail in a corner), outpainting places the input on the ``width`` x ``height`` canvas
at the reference offset (centred by default) over the seeded background, deblur sharpens the input
(an unsharp mask) at its own size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mock_server.core import imaging
from mock_server.core.endpoints import painted
from mock_server.core.endpoints.checks import Check
from mock_server.core.endpoints.family import Fetch, Rendered


def _within(size: tuple[int, int], max_pixels: int, step: int = 16) -> tuple[int, int]:
    w, h = size
    scale = min(1.0, (max_pixels / (w * h)) ** 0.5)
    return max(step, int(w * scale) // step * step), max(step, int(h * scale) // step * step)


# ---------------------------------------------------------------------------------------------- try-on
@dataclass(frozen=True)
class TryOnInputs:
    person: str
    garment: str
    prompt: str


@dataclass(frozen=True)
class TryOnChecked:
    person: bytes
    garment: bytes
    size: tuple[int, int]
    prompt: str


class TryOnFamily(painted.Painted[TryOnInputs, TryOnChecked]):
    """Virtual try-on: the person image (at its ratio, within ``max_output_pixels``) with the garment over the
    middle of the frame, blended, and a thumbnail of the garment at the top right."""

    name = "try-on"
    image_fields: tuple[str, ...] = ("person", "garment")

    def __init__(self, max_output_pixels: int) -> None:
        self.max_output_pixels = max_output_pixels
        self.size_rule = f"the person image's size within {max_output_pixels / 1_048_576:g} MP, multiples of 16"

    def render_inputs(self, params: dict[str, Any]) -> tuple[TryOnInputs, int]:
        person, garment = params["person"], params["garment"]
        return TryOnInputs(person, garment, str(params.get("prompt") or "")[:300]), len(person) + len(garment)

    def output_size(self, params: dict[str, Any], first: tuple[int, int] | None) -> tuple[int, int] | None:
        return None if first is None else _within(first, self.max_output_pixels)

    def check(self, inputs: TryOnInputs, *, max_pixels: int, fetch: Fetch) -> tuple[TryOnChecked, int]:
        person, size = painted.get_image(inputs.person, max_pixels, fetch)
        garment, _ = painted.get_image(inputs.garment, max_pixels, fetch)
        out = _within(size, self.max_output_pixels)
        imaging.check_size(*out, max_pixels)
        return TryOnChecked(person, garment, out, inputs.prompt), len(person) + len(garment)

    def render(
        self, checked: TryOnChecked, *, seed: int, output_format: str, max_pixels: int, jpeg_quality: int
    ) -> Rendered[bytes]:
        from PIL import Image

        w, h = checked.size
        person = painted.open_image(checked.person, max_pixels).resize((w, h), Image.Resampling.LANCZOS)
        gw, gh = max(16, w // 2), max(16, h // 2)
        garment = painted.open_image(checked.garment, max_pixels, fit=max(gw, gh)).resize((gw, gh))
        torso = person.crop((w // 4, h // 3, w // 4 + gw, h // 3 + gh))
        person.paste(Image.blend(torso, garment, 0.75), (w // 4, h // 3))
        thumb = painted.open_image(checked.garment, max_pixels, fit=max(16, min(w, h) // 5))
        person.paste(thumb, (w - thumb.size[0] - 8, 8), thumb)
        return self._finish(person, output_format, jpeg_quality)


# ---------------------------------------------------------------------------------------------- outpainting
OUTPAINT_MAX_PIXELS = 4_194_304  # width x height at most 4 MP (BFL's outpainting guide; medium)


def _placement(params: dict[str, Any], size: tuple[int, int]) -> tuple[int, int]:
    """Top-left of the reference on the canvas: the offsets, or centred when they are null."""
    width, height = int(params["width"]), int(params["height"])
    x = params.get("reference_offset_x")
    y = params.get("reference_offset_y")
    return (
        (width - size[0]) // 2 if x is None else int(x),
        (height - size[1]) // 2 if y is None else int(y),
    )


def _outside(params: dict[str, Any], size: tuple[int, int]) -> bool:
    x, y = _placement(params, size)
    return x < 0 or y < 0 or x + size[0] > int(params["width"]) or y + size[1] > int(params["height"])


def outpainting_check() -> Check:
    """Beyond the schema (BFL's outpainting guide): the canvas at most 4 MP, and with ``auto_crop`` false the
    input image must lie inside it. The messages are not published: these, in the 422 ``value_error`` shape a
    pydantic validator gives, are assumptions. An image given as a URL is measured later (the task then ends
    ``Error`` instead)."""

    def check(params: dict[str, Any]) -> list[dict[str, Any]]:
        width, height = int(params.get("width") or 0), int(params.get("height") or 0)
        if width * height > OUTPAINT_MAX_PIXELS:
            msg = f"Value error, width x height must be at most {OUTPAINT_MAX_PIXELS} pixels (4 MP)"
            return [{"type": "value_error", "loc": ["body"], "msg": msg, "input": None, "ctx": {"error": {}}}]
        size = imaging.peek_size(str(params.get("input_image") or ""))
        if size is not None and not params.get("auto_crop") and _outside(params, size):
            msg = "Value error, the input image falls outside the canvas; set auto_crop to crop it"
            return [{"type": "value_error", "loc": ["body"], "msg": msg, "input": None, "ctx": {"error": {}}}]
        return []

    return check


@dataclass(frozen=True)
class OutpaintInputs:
    image: str
    params: tuple[tuple[str, Any], ...]  # width, height, offsets, auto_crop, prompt


@dataclass(frozen=True)
class OutpaintChecked:
    image: bytes
    width: int
    height: int
    at: tuple[int, int]
    prompt: str


class OutpaintingFamily(painted.Painted[OutpaintInputs, OutpaintChecked]):
    name = "outpainting"
    size_rule = "`width` x `height` (at most 4 MP), the input at the reference offset"
    image_fields: tuple[str, ...] = ("input_image",)

    def render_inputs(self, params: dict[str, Any]) -> tuple[OutpaintInputs, int]:
        keys = ("width", "height", "reference_offset_x", "reference_offset_y", "auto_crop", "prompt")
        image = params["input_image"]
        return OutpaintInputs(image, tuple((k, params.get(k)) for k in keys)), len(image)

    def output_size(self, params: dict[str, Any], first: tuple[int, int] | None) -> tuple[int, int] | None:
        return int(params["width"]), int(params["height"])

    def check(self, inputs: OutpaintInputs, *, max_pixels: int, fetch: Fetch) -> tuple[OutpaintChecked, int]:
        params = dict(inputs.params)
        data, size = painted.get_image(inputs.image, max_pixels, fetch)
        # a null side is the input's (flex outpainting; outpainting-v1's schema requires both)
        params["width"] = size[0] if params.get("width") is None else params["width"]
        params["height"] = size[1] if params.get("height") is None else params["height"]
        if not params.get("auto_crop") and _outside(params, size):
            raise imaging.InvalidImage("the input image falls outside the canvas")
        width, height = int(params["width"]), int(params["height"])
        imaging.check_size(width, height, max_pixels)
        prompt = str(params.get("prompt") or "")[:300]
        return OutpaintChecked(data, width, height, _placement(params, size), prompt), len(data)

    def render(
        self, checked: OutpaintChecked, *, seed: int, output_format: str, max_pixels: int, jpeg_quality: int
    ) -> Rendered[bytes]:
        out = self._background(checked.width, checked.height, seed, checked.prompt)
        image = painted.open_image(checked.image, max_pixels)
        out.paste(image, checked.at, image)  # auto_crop: PIL clips what falls outside
        return self._finish(out, output_format, jpeg_quality)


class FlexOutpaintingFamily(OutpaintingFamily):
    """``/v1/flux-2-flex-outpainting`` (a spring-2026 spec; served only with ``flux2_flex_outpainting``): the
    input at (``bbox_x1``, ``bbox_y1``) on the ``width`` x ``height`` canvas. Unpublished, so assumptions: the
    bbox's first corner is the input's top-left (null: centred), a null side is the input's, and a
    ``pre_padded`` input already is the canvas (output its size)."""

    name = "flex-outpainting"
    size_rule = "`width` x `height` (a null side, or `pre_padded`: the input's), the input at (`bbox_x1`, `bbox_y1`)"

    def render_inputs(self, params: dict[str, Any]) -> tuple[OutpaintInputs, int]:
        pre = bool(params.get("pre_padded"))
        mapped = {
            "width": None if pre else params.get("width"),
            "height": None if pre else params.get("height"),
            "reference_offset_x": 0 if pre else params.get("bbox_x1"),
            "reference_offset_y": 0 if pre else params.get("bbox_y1"),
            "auto_crop": params.get("auto_crop"),
            "prompt": params.get("prompt"),
        }
        image = params["input_image"]
        return OutpaintInputs(image, tuple(mapped.items())), len(image)

    def output_size(self, params: dict[str, Any], first: tuple[int, int] | None) -> tuple[int, int] | None:
        w, h = params.get("width"), params.get("height")
        if params.get("pre_padded") or (first is None and (w is None or h is None)):
            return first
        if first is None:
            return int(w or 0), int(h or 0)
        return int(w if w is not None else first[0]), int(h if h is not None else first[1])


# ---------------------------------------------------------------------------------------------- deblur
@dataclass(frozen=True)
class DeblurChecked:
    image: bytes


class DeblurFamily(painted.Painted[str, DeblurChecked]):
    name = "deblur"
    size_rule = "the input image's size"
    image_fields: tuple[str, ...] = ("image",)

    def render_inputs(self, params: dict[str, Any]) -> tuple[str, int]:
        return params["image"], len(params["image"])

    def output_size(self, params: dict[str, Any], first: tuple[int, int] | None) -> tuple[int, int] | None:
        return first

    def check(self, inputs: str, *, max_pixels: int, fetch: Fetch) -> tuple[DeblurChecked, int]:
        data, _ = painted.get_image(inputs, max_pixels, fetch)
        return DeblurChecked(data), len(data)

    def render(
        self, checked: DeblurChecked, *, seed: int, output_format: str, max_pixels: int, jpeg_quality: int
    ) -> Rendered[bytes]:
        import cv2
        import numpy as np
        from PIL import Image

        rgb = np.asarray(painted.open_image(checked.image, max_pixels).convert("RGB"))
        soft = cv2.GaussianBlur(rgb, (0, 0), 2.0)
        sharp = cv2.addWeighted(rgb, 1.8, soft, -0.8, 0)  # an unsharp mask: edges crisper, colours kept
        return self._finish(Image.fromarray(sharp), output_format, jpeg_quality)


VTO_V1 = TryOnFamily(max_output_pixels=1_048_576)  # v1's cap: unpublished (v2 says "up to 4 MP"); assumption
VTO_V2 = TryOnFamily(max_output_pixels=4_194_304)
OUTPAINTING = OutpaintingFamily()
FLEX_OUTPAINTING = FlexOutpaintingFamily()
DEBLUR = DeblurFamily()
