"""BFL's generation endpoints as data: one row per endpoint, one *family* per way of deriving the output.

A row names the path, the input schema (a file in ``schemas/`` or an inline JSON Schema), the family that
turns the inputs into an image, the price in credits, the active-task limit and whether a finetune must
exist. The HTTP layer compiles the schema and routes the path; the backend prices, limits and renders by
the row; OpenAPI documents it. Adding an endpoint is a row (and, for a new kind of output, a family).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from mock_server.core import imaging

Check = Callable[[dict[str, Any]], list[dict[str, Any]]]  # params -> FastAPI-shaped 422 errors


@dataclass(frozen=True)
class Rendered:
    """A family's output: the encoded image, and what lets it be encoded again byte-identically later
    (kept compactly by the result store; the encoded bytes live only in a size-bounded cache)."""

    data: bytes
    intermediate: Any
    intermediate_bytes: int
    width: int
    height: int


class Family(Protocol):
    """How an endpoint's output image derives from its inputs. Runs on render threads."""

    name: str
    image_fields: tuple[str, ...]  # input fields holding images (journaled as length + SHA-256)

    def render_inputs(self, params: dict[str, Any]) -> tuple[Any, int]:
        """What rendering needs from the validated params, and its size in bytes (render backlog)."""
        ...

    def render(self, inputs: Any, *, seed: int, output_format: str, max_pixels: int, jpeg_quality: int) -> Rendered:
        """The output; raise ``imaging.InvalidImage`` for inputs the real service ends in ``Error``."""
        ...

    def rerender(self, intermediate: Any, *, seed: int, output_format: str, jpeg_quality: int) -> bytes:
        """The same bytes again from the kept intermediate (after the encoded cache dropped them)."""
        ...


class CannyFamily:
    """FLUX.1 Canny: BFL's reference preprocessing (LANCZOS to the output size, ``cv2.Canny`` on RGB) of
    ``control_image``; the output shows those edges on a seeded gradient (``imaging``)."""

    name = "canny"
    image_fields: tuple[str, ...] = ("control_image",)

    def render_inputs(self, params: dict[str, Any]) -> tuple[Any, int]:
        control = params["control_image"]
        return (control, params.get("canny_low_threshold"), params.get("canny_high_threshold")), len(control)

    def render(self, inputs: Any, *, seed: int, output_format: str, max_pixels: int, jpeg_quality: int) -> Rendered:
        control, low, high = inputs
        edges = imaging.edge_map_from_control(control, low, high, max_pixels)
        data = imaging.render(edges, seed, output_format, jpeg_quality=jpeg_quality)
        imaging.release_native_memory(edges.width * edges.height)
        return Rendered(data, edges, edges.nbytes, edges.width, edges.height)

    def rerender(self, intermediate: Any, *, seed: int, output_format: str, jpeg_quality: int) -> bytes:
        data = imaging.render(intermediate, seed, output_format, jpeg_quality=jpeg_quality)
        imaging.release_native_memory(intermediate.width * intermediate.height)
        return data


@dataclass(frozen=True)
class Endpoint:
    name: str  # the path after /v1/
    schema: str | dict[str, Any]  # a schema in schemas/ by name, or an inline JSON Schema
    family: Family
    summary: str = ""
    price: float | None = None  # credits per submit; None: the ``cost_per_request`` setting
    active_limit: int | None = None  # active tasks per key; None: the ``active_task_limit`` setting
    requires_finetune: bool = False  # ``finetune_id`` must name a usable finetune of the key's account
    checks: tuple[Check, ...] = ()  # validation beyond the schema (what the OpenAPI cannot express)
    evidence: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def path(self) -> str:
        return f"/v1/{self.name}"

    @property
    def operation_id(self) -> str:
        slug = self.name.replace("-", "_").replace(".", "_")
        return f"{slug}_v1_{slug}_post"

    @property
    def schema_name(self) -> str:
        if isinstance(self.schema, dict):
            return str(self.schema.get("title", self.name))
        return self.schema.removeprefix("spec:")


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        name="flux-pro-1.0-canny-finetuned",
        schema="FinetuneCannyInputs",
        family=CannyFamily(),
        summary="Generate an image with FLUX.1 Canny [pro] finetune using a control image.",
        requires_finetune=True,
        evidence="the published endpoint page (canny-finetuned-endpoint.json); dossier S1-S14",
    ),
)


# ---------------------------------------------------------------------------------------------- text to image
def ultra_size(aspect_ratio: str) -> tuple[int, int]:
    """FLUX1.1 [pro] Ultra's ~4 MP output for ``W:H``: each side ``sqrt(2048² · r)`` (or ``/ r``) rounded to a
    multiple of 64. Reproduces every size published for its nine ratios (16:9 -> 2752x1536, 21:9 -> 3136x1344,
    4:3 -> 2368x1792, 1:1 -> 2048x2048 ...); medium evidence (one provider's table, BFL's "up to 4MP")."""
    w, h = parse_ratio(aspect_ratio)
    r = w / h
    return round((2048 * r**0.5) / 64) * 64, round((2048 / r**0.5) / 64) * 64


def parse_ratio(text: str) -> tuple[int, int]:
    a, sep, b = str(text).partition(":")
    if not sep or not a.strip().isdigit() or not b.strip().isdigit() or int(a) == 0 or int(b) == 0:
        raise ValueError(f"aspect ratio must look like 16:9, not {text!r}")
    return int(a), int(b)


def aspect_ratio_between(widest: str, tallest: str) -> Check:
    """A check beyond the schema: ``aspect_ratio`` parses and lies between ``widest`` and ``tallest``. The
    real message is not published: this one, and the 422 ``value_error`` shape a pydantic validator gives
    in FastAPI, are assumptions (README, Fidelity)."""
    tall_w, tall_h = parse_ratio(tallest)
    wide_w, wide_h = parse_ratio(widest)
    lo, hi = tall_w / tall_h, wide_w / wide_h

    def check(params: dict[str, Any]) -> list[dict[str, Any]]:
        value = params.get("aspect_ratio")
        if value is None:
            return []
        try:
            w, h = parse_ratio(value)
            ok = lo - 1e-9 <= w / h <= hi + 1e-9
        except ValueError:
            ok = False
        if ok:
            return []
        msg = f"Value error, Aspect ratio must be between {widest} and {tallest}"
        return [
            {"type": "value_error", "loc": ["body", "aspect_ratio"], "msg": msg, "input": value, "ctx": {"error": {}}}
        ]

    return check


class TextToImageFamily:
    """Text to image (FLUX1.1 [pro], [dev], Ultra): a seeded gradient with the prompt written on it, so a
    viewer sees which request produced it, at the endpoint's documented size (``width``/``height``, or
    Ultra's ~4 MP for ``aspect_ratio``). ``image_prompt`` (Redux) is journaled but does not change the
    image yet."""

    name = "text-to-image"
    image_fields: tuple[str, ...] = ("image_prompt",)

    def __init__(self, size: str = "width_height") -> None:
        self.size = size

    def output_size(self, params: dict[str, Any]) -> tuple[int, int]:
        if self.size == "ultra":
            return ultra_size(str(params.get("aspect_ratio") or "16:9"))
        return int(params.get("width") or 1024), int(params.get("height") or 768)

    def render_inputs(self, params: dict[str, Any]) -> tuple[Any, int]:
        width, height = self.output_size(params)
        return (str(params.get("prompt") or "")[:300], width, height), 0

    def render(self, inputs: Any, *, seed: int, output_format: str, max_pixels: int, jpeg_quality: int) -> Rendered:
        data = self.rerender(inputs, seed=seed, output_format=output_format, jpeg_quality=jpeg_quality)
        return Rendered(data, inputs, 400, inputs[1], inputs[2])

    def rerender(self, intermediate: Any, *, seed: int, output_format: str, jpeg_quality: int) -> bytes:
        import numpy as np
        from PIL import Image, ImageDraw, ImageFont

        prompt, width, height = intermediate
        img, ink = imaging.gradient(width, height, seed)
        canvas = Image.fromarray(img[:, :, ::-1])  # BGR -> RGB
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
        draw, fill = ImageDraw.Draw(canvas), tuple(int(c) for c in ink[::-1])
        draw.multiline_text((size, size), "\n".join(lines[:12]), fill=fill, font=font)
        small = ImageFont.load_default(size=max(8, size // 2))
        draw.text((size, height - size), f"seed {seed} · {width}x{height}", fill=fill, font=small)
        return imaging.encode(np.asarray(canvas)[:, :, ::-1], output_format, jpeg_quality=jpeg_quality)


TEXT_TO_IMAGE = TextToImageFamily()
ULTRA = TextToImageFamily(size="ultra")
ENDPOINTS = (
    *ENDPOINTS,
    Endpoint(
        name="flux-pro-1.1",
        schema="spec:FluxPro11Inputs",
        family=TEXT_TO_IMAGE,
        summary="Generate an image with FLUX 1.1 [pro] with optional Redux image prompt.",
        evidence="BFL OpenAPI 2026-04-23 (schema); output = width x height",
    ),
    Endpoint(
        name="flux-dev",
        schema="spec:FluxDevInputs",
        family=TEXT_TO_IMAGE,
        summary="Generate an image with FLUX.1 [dev].",
        evidence="BFL OpenAPI 2026-04-23 (schema); recorded flux-dev exchanges (fixtures/recordings)",
    ),
    Endpoint(
        name="flux-pro-1.1-ultra",
        schema="spec:FluxUltraInput",
        family=ULTRA,
        summary="Generate an image with FLUX 1.1 [pro] with ultra mode and optional raw mode.",
        checks=(aspect_ratio_between("21:9", "9:21"),),
        evidence="BFL OpenAPI 2026-04-23 (schema); docs: aspect ratio 21:9 to 9:21, up to 4 MP",
    ),
)
