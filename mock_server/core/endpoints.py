"""BFL's generation endpoints as data: one row per endpoint, one *family* per way of deriving the output.

A row names the path, the input schema (a file in ``schemas/`` or an inline JSON Schema), the family that
turns the inputs into an image, the price in credits, the active-task limit and whether a finetune must
exist. The HTTP layer compiles the schema and routes the path; the backend prices, limits and renders by
the row; OpenAPI documents it. Adding an endpoint is a row (and, for a new kind of output, a family).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from mock_server.core import imaging

Check = Callable[[dict[str, Any]], list[dict[str, Any]]]  # params -> FastAPI-shaped 422 errors
Fetch = Callable[[str], bytes] | None  # an input image URL -> its bytes (the backend's, under the egress policy)


@dataclass(frozen=True)
class Rendered:
    """A family's output: the encoded image, and what lets it be encoded again byte-identically later
    (kept compactly by the result store; the encoded bytes live only in a size-bounded cache)."""

    data: bytes
    intermediate: Any
    intermediate_bytes: int


class Family(Protocol):
    """How an endpoint's output image derives from its inputs. ``check`` and ``render`` run on render threads.

    Image work is lazy: before a task finishes only ``check`` runs (get the input images, validate them:
    what decides the outcome); ``render`` runs on the result's first download (or at once with the setting
    ``lazy_render=false``)."""

    name: str
    image_fields: tuple[str, ...]  # input fields holding images (journaled as length + SHA-256)
    size_rule: str  # the output size rule, as the README's endpoint table states it

    def render_inputs(self, params: dict[str, Any]) -> tuple[Any, int]:
        """What image work needs from the validated params, and its size in bytes (render backlog)."""
        ...

    def output_size(self, params: dict[str, Any], first: tuple[int, int] | None) -> tuple[int, int] | None:
        """The output's (width, height) for the params and the first input image's size (None: unknown, as
        before the input is read). Prices by megapixel and the submit answer's ``output_mp`` use it."""
        ...

    def check(self, inputs: Any, *, max_pixels: int, fetch: Fetch) -> tuple[Any, int]:
        """Get (``fetch`` an input image given as a URL, under the egress policy) and validate the inputs,
        without pixel work; raise ``imaging.InvalidImage`` for inputs the real service ends in ``Error``.
        Returns what ``render`` needs (kept until the first download) and its size in bytes."""
        ...

    def render(self, checked: Any, *, seed: int, output_format: str, max_pixels: int, jpeg_quality: int) -> Rendered:
        """The output from what ``check`` returned."""
        ...

    def rerender(self, intermediate: Any, *, seed: int, output_format: str, jpeg_quality: int) -> bytes:
        """The same bytes again from the kept intermediate (after the encoded cache dropped them)."""
        ...


class CannyFamily:
    """FLUX.1 Canny: BFL's reference preprocessing (LANCZOS to the output size, ``cv2.Canny`` on RGB) of
    ``control_image``; the output shows those edges on a seeded gradient (``imaging``)."""

    name = "canny"
    size_rule = "the control image's size, down to multiples of 16"
    image_fields: tuple[str, ...] = ("control_image",)

    def render_inputs(self, params: dict[str, Any]) -> tuple[Any, int]:
        control = params["control_image"]
        return (control, params.get("canny_low_threshold"), params.get("canny_high_threshold")), len(control)

    def output_size(self, params: dict[str, Any], first: tuple[int, int] | None) -> tuple[int, int] | None:
        return None if first is None else imaging.output_size(*first)

    def check(self, inputs: Any, *, max_pixels: int, fetch: Fetch) -> tuple[Any, int]:
        control, low, high = inputs
        data = imaging.decode_base64(control)
        imaging.validate(data, max_pixels)
        return (data, low, high), len(data)

    def render(self, checked: Any, *, seed: int, output_format: str, max_pixels: int, jpeg_quality: int) -> Rendered:
        data, low, high = checked
        edges = imaging.edge_map(data, low, high, max_pixels)
        data = imaging.render(edges, seed, output_format, jpeg_quality=jpeg_quality)
        imaging.release_native_memory(edges.width * edges.height)
        return Rendered(data, edges, edges.nbytes)

    def rerender(self, intermediate: Any, *, seed: int, output_format: str, jpeg_quality: int) -> bytes:
        data = imaging.render(intermediate, seed, output_format, jpeg_quality=jpeg_quality)
        imaging.release_native_memory(intermediate.width * intermediate.height)
        return data


MEGAPIXEL = 1_048_576  # BFL's pricing: 1024 x 1024 is one megapixel


@dataclass(frozen=True)
class Quote:
    cost: float  # credits
    input_mp: float | None
    output_mp: float | None


@dataclass(frozen=True)
class Endpoint:
    name: str  # the path after /v1/
    schema: str | dict[str, Any]  # a schema in schemas/ by name, or an inline JSON Schema
    family: Family
    summary: str = ""
    price: float | Callable[[float, float], float] | None = None  # credits (or of input/output MP); None: setting
    active_limit: int | None = None  # active tasks per key; None: the ``active_task_limit`` setting
    requires_finetune: bool = False  # ``finetune_id`` must name a usable finetune of the key's account
    checks: tuple[Check, ...] = ()  # validation beyond the schema (what the OpenAPI cannot express)
    cost_fields: str = "null"  # the submit answer's cost/input_mp/output_mp: "absent", "null" or "values"
    evidence: str = ""

    def quote(self, params: dict[str, Any], default: float, *, megapixels: bool = True) -> Quote:
        """What a submit costs in credits (the row's ``price``: a number, or a function of the input and output
        megapixels; None: ``default``) and, with ``megapixels``, the input/output MP the answer reports."""
        if not megapixels and not callable(self.price):
            return Quote(float(default if self.price is None else self.price), None, None)
        first, input_mp = None, 0.0
        for f in self.family.image_fields:
            value = params.get(f)
            if isinstance(value, str) and value:
                size = imaging.peek_size(value)
                first = first or size
                input_mp += size[0] * size[1] / MEGAPIXEL if size else 1.0  # a URL: read later, counted as 1 MP
        out = self.family.output_size(params, first)
        output_mp = out[0] * out[1] / MEGAPIXEL if out else 1.0
        if callable(self.price):
            cost = self.price(input_mp, output_mp)
        else:
            cost = default if self.price is None else self.price
        return Quote(round(float(cost), 4), round(input_mp, 2), round(output_mp, 2))

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


CANNY_FINETUNED = Endpoint(
    name="flux-pro-1.0-canny-finetuned",
    schema="FinetuneCannyInputs",
    family=CannyFamily(),
    summary="Generate an image with FLUX.1 Canny [pro] finetune using a control image.",
    requires_finetune=True,
    cost_fields="absent",  # dossier S3: no cost fields in the FLUX.1 captures of its time
    evidence=(
        "schema: its published page (high); behaviour: dossier S1-S14; size: assumption; price: `cost_per_request` "
        "(docs list FLUX.1 [pro] Finetuned at 6)"
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
        self.size_rule = (
            "~4 MP at `aspect_ratio` (16:9 -> 2752 x 1536, 1:1 -> 2048 x 2048; 21:9 .. 9:21)"
            if size == "ultra"
            else "`width` x `height` (default 1024 x 768, multiples of 32)"
        )

    def output_size(self, params: dict[str, Any], first: tuple[int, int] | None = None) -> tuple[int, int]:
        if self.size == "ultra":
            return ultra_size(str(params.get("aspect_ratio") or "16:9"))
        return int(params.get("width") or 1024), int(params.get("height") or 768)

    def render_inputs(self, params: dict[str, Any]) -> tuple[Any, int]:
        width, height = self.output_size(params)
        return (str(params.get("prompt") or "")[:300], width, height), 0

    def check(self, inputs: Any, *, max_pixels: int, fetch: Fetch) -> tuple[Any, int]:
        imaging.check_size(inputs[1], inputs[2], max_pixels)
        return inputs, 400

    def render(self, checked: Any, *, seed: int, output_format: str, max_pixels: int, jpeg_quality: int) -> Rendered:
        data = self.rerender(checked, seed=seed, output_format=output_format, jpeg_quality=jpeg_quality)
        return Rendered(data, checked, 400)

    def rerender(self, intermediate: Any, *, seed: int, output_format: str, jpeg_quality: int) -> bytes:
        import numpy as np

        prompt, width, height = intermediate
        rgb = self.canvas(prompt, width, height, seed)
        return imaging.encode(np.asarray(rgb)[:, :, ::-1], output_format, jpeg_quality=jpeg_quality)

    @staticmethod
    def canvas(prompt: str, width: int, height: int, seed: int) -> Any:
        """The picture as an RGB PIL image: the seeded gradient with prompt, seed and size written on it
        (the image families paint their inputs over it)."""
        from PIL import Image, ImageDraw, ImageFont

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
        return canvas


TEXT_TO_IMAGE = TextToImageFamily()
ULTRA = TextToImageFamily(size="ultra")
_TEXT_TO_IMAGE_ROWS = (
    Endpoint(
        name="flux-pro-1.1",
        schema="spec:FluxPro11Inputs",
        family=TEXT_TO_IMAGE,
        summary="Generate an image with FLUX 1.1 [pro] with optional Redux image prompt.",
        price=4,
        evidence="spec (high); output = width x height; price: docs.bfl.ai pricing (high)",
    ),
    Endpoint(
        name="flux-dev",
        schema="spec:FluxDevInputs",
        family=TEXT_TO_IMAGE,
        summary="Generate an image with FLUX.1 [dev].",
        price=2.5,
        evidence=(
            "spec (high); recorded flux-dev exchanges, cost/input_mp/output_mp null (high); price: $0.025 "
            "quoted by a reseller as BFL's (medium)"
        ),
    ),
    Endpoint(
        name="flux-pro-1.1-ultra",
        schema="spec:FluxUltraInput",
        family=ULTRA,
        summary="Generate an image with FLUX 1.1 [pro] with ultra mode and optional raw mode.",
        price=6,
        checks=(aspect_ratio_between("21:9", "9:21"),),
        evidence=(
            "spec (high); aspect ratio 21:9 .. 9:21: docs (medium); ~4 MP size rule: one provider's table (medium); "
            "price: docs.bfl.ai pricing (high)"
        ),
    ),
)


# ---------------------------------------------------------------------------------------------- image inputs
def _get(value: str, max_pixels: int, fetch: Fetch) -> tuple[bytes, tuple[int, int]]:
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


def _open(data: bytes, max_pixels: int, fit: int | None = None) -> Any:
    """Checked image bytes as RGBA pixels (render time), under the same caps as the check, decoded no larger
    than needed: with ``fit``, a thumbnail of at most ``fit`` px a side (JPEG decoded at 1/2 .. 1/8 scale)."""
    with imaging.opened(data, max_pixels) as im:  # validated earlier: only data corrupt past its checksums fails
        if fit is None:
            return im.convert("RGBA")
        im.draft("RGB", (fit, fit))  # JPEG: decoded at the smallest DCT scale still at least ``fit`` a side
        small = im.convert("RGBA")
        small.thumbnail((fit, fit))
        return small


def _round(value: float, step: int) -> int:
    return max(step, round(value / step) * step)


def _floor(value: int, step: int) -> int:
    return max(step, value // step * step)


def _about(megapixels: float, ratio: float, step: int) -> tuple[int, int]:
    side = (megapixels * 1_000_000) ** 0.5
    return _round(side * ratio**0.5, step), _round(side / ratio**0.5, step)


class _Painted:
    """Shared by the image families: the output is kept losslessly (PNG) as the intermediate, so a later
    download encodes the very same pixels again."""

    def _finish(self, rgb: Any, output_format: str, jpeg_quality: int) -> Rendered:
        import numpy as np

        bgr = np.ascontiguousarray(np.asarray(rgb.convert("RGB"))[:, :, ::-1])
        lossless = imaging.encode(bgr, "png")
        data = lossless if output_format == "png" else imaging.encode(bgr, output_format, jpeg_quality=jpeg_quality)
        return Rendered(data, lossless, len(lossless))

    def rerender(self, intermediate: Any, *, seed: int, output_format: str, jpeg_quality: int) -> bytes:
        import cv2
        import numpy as np

        if output_format == "png":
            return bytes(intermediate)
        bgr = cv2.imdecode(np.frombuffer(intermediate, dtype=np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:  # pragma: no cover - our own PNG
            raise LookupError("kept result is unreadable")
        return imaging.encode(bgr, output_format, jpeg_quality=jpeg_quality)

    @staticmethod
    def _background(width: int, height: int, seed: int, prompt: str) -> Any:
        return TextToImageFamily.canvas(prompt, width, height, seed).convert("RGBA")


class EditFamily(_Painted):
    """Image editing (Kontext, FLUX.2): the first input image fills the frame, blended with the seeded
    background that carries the prompt, and every further input appears as a thumbnail along the bottom, so
    the output visibly derives from each input. Without inputs it is text to image."""

    name = "edit"

    def __init__(self, inputs: int, size: str) -> None:
        self.image_fields: tuple[str, ...] = ("input_image", *(f"input_image_{i}" for i in range(2, inputs + 1)))
        self.size = size  # "kontext": ~1 MP at aspect_ratio or the input's; "flux2": width/height or the input's
        self.size_rule = (
            "~1 MP at `aspect_ratio` (3:7 .. 7:3) or the input's ratio"
            if size == "kontext"
            else "`width` x `height` down to multiples of 16, else the first input's size within 4 MP, else 1024 x 1024"
        )

    def render_inputs(self, params: dict[str, Any]) -> tuple[Any, int]:
        images = [params[f] for f in self.image_fields if isinstance(params.get(f), str)]
        keep = {k: params.get(k) for k in ("prompt", "aspect_ratio", "width", "height")}
        return (keep, images), sum(len(i) for i in images)

    def output_size(self, keep: dict[str, Any], first: tuple[int, int] | None) -> tuple[int, int]:
        """The output size for the request and the first input image's (width, height)."""
        ratio = first[0] / first[1] if first is not None else 1.0
        if self.size == "kontext":
            if keep.get("aspect_ratio"):
                w, h = parse_ratio(str(keep["aspect_ratio"]))
                ratio = w / h
            return _about(1.048576, ratio, 32)  # ~1 MP: 1:1 -> 1024 x 1024
        width, height = int(keep.get("width") or 0), int(keep.get("height") or 0)
        if width and height:  # down to multiples of 16 (docs), as the canny output size rounds down
            return _floor(width, 16), _floor(height, 16)
        if first is not None:  # the input's size, within 4 MP, in multiples of 16
            scale = min(1.0, (4_194_304 / (first[0] * first[1])) ** 0.5)
            return _floor(int(first[0] * scale), 16), _floor(int(first[1] * scale), 16)
        return 1024, 1024

    def check(self, inputs: Any, *, max_pixels: int, fetch: Fetch) -> tuple[Any, int]:
        keep, encoded = inputs
        got = [_get(v, max_pixels, fetch) for v in encoded]
        width, height = self.output_size(keep, got[0][1] if got else None)
        imaging.check_size(width, height, max_pixels)
        images = [data for data, _ in got]
        return (keep, images, (width, height)), sum(len(d) for d in images) + 200

    def render(self, checked: Any, *, seed: int, output_format: str, max_pixels: int, jpeg_quality: int) -> Rendered:
        from PIL import Image

        # One input decoded at a time (the first at full size, resized and blended, then released; the others
        # straight to thumbnails): 8 inputs at the pixel cap cost what one does, not eight full RGBA copies.
        keep, encoded, (width, height) = checked
        out = self._background(width, height, seed, str(keep.get("prompt") or ""))
        if encoded:
            base = _open(encoded[0], max_pixels).resize((width, height), Image.Resampling.LANCZOS)
            out = Image.blend(out, base, 0.7)
            del base
            thumb = max(16, min(width, height) // 6)
            for i, data in enumerate(encoded[1:]):
                small = _open(data, max_pixels, fit=thumb)
                out.paste(small, (8 + i * (thumb + 8), height - small.size[1] - 8))
                del small
            imaging.release_native_memory(width * height)
        return self._finish(out, output_format, jpeg_quality)


class FillFamily(_Painted):
    """Inpainting: the output is the input image with the masked area (``mask`` white, or transparent pixels
    of ``image`` when there is no mask) repainted with the seeded background; unmasked pixels are kept."""

    name = "fill"
    size_rule = "the input image's size"
    image_fields: tuple[str, ...] = ("image", "mask")

    def render_inputs(self, params: dict[str, Any]) -> tuple[Any, int]:
        return (params["image"], params.get("mask"), str(params.get("prompt") or "")), len(params["image"])

    def output_size(self, params: dict[str, Any], first: tuple[int, int] | None) -> tuple[int, int] | None:
        return first

    def check(self, inputs: Any, *, max_pixels: int, fetch: Fetch) -> tuple[Any, int]:
        image_b64, mask_b64, prompt = inputs
        image, _ = _get(image_b64, max_pixels, fetch)
        mask = _get(mask_b64, max_pixels, fetch)[0] if mask_b64 else None
        return (image, mask, prompt), len(image) + len(mask or b"") + len(prompt)

    def render(self, checked: Any, *, seed: int, output_format: str, max_pixels: int, jpeg_quality: int) -> Rendered:
        from PIL import Image

        image_data, mask_data, prompt = checked
        image = _open(image_data, max_pixels)
        if mask_data:
            mask = _open(mask_data, max_pixels).convert("L").resize(image.size).point(lambda v: 255 if v > 127 else 0)
        else:
            mask = image.getchannel("A").point(lambda v: 255 if v == 0 else 0)
        painted = self._background(image.size[0], image.size[1], seed, prompt)
        out = Image.composite(painted, image, mask)
        return self._finish(out, output_format, jpeg_quality)


class ExpandFamily(_Painted):
    """Outpainting: a canvas grown by ``top``/``bottom``/``left``/``right`` with the original pixels kept at
    their place and the new area painted with the seeded background."""

    name = "expand"
    size_rule = "the input grown by `top`/`bottom`/`left`/`right`"
    image_fields: tuple[str, ...] = ("image",)

    def render_inputs(self, params: dict[str, Any]) -> tuple[Any, int]:
        sides = tuple(int(params.get(k) or 0) for k in ("top", "bottom", "left", "right"))
        return (params["image"], sides, str(params.get("prompt") or "")), len(params["image"])

    def output_size(self, params: dict[str, Any], first: tuple[int, int] | None) -> tuple[int, int] | None:
        if first is None:
            return None
        sides = [int(params.get(k) or 0) for k in ("top", "bottom", "left", "right")]
        return first[0] + sides[2] + sides[3], first[1] + sides[0] + sides[1]

    def check(self, inputs: Any, *, max_pixels: int, fetch: Fetch) -> tuple[Any, int]:
        image_b64, (top, bottom, left, right), prompt = inputs
        image, (w, h) = _get(image_b64, max_pixels, fetch)
        imaging.check_size(w + left + right, h + top + bottom, max_pixels)
        return (image, (top, bottom, left, right), prompt), len(image) + len(prompt)

    def render(self, checked: Any, *, seed: int, output_format: str, max_pixels: int, jpeg_quality: int) -> Rendered:
        image_data, (top, bottom, left, right), prompt = checked
        image = _open(image_data, max_pixels)
        width, height = image.size[0] + left + right, image.size[1] + top + bottom
        out = self._background(width, height, seed, prompt)
        out.paste(image, (left, top), image)
        return self._finish(out, output_format, jpeg_quality)


class per_megapixel:  # lower case: reads as a price in the rows, price=per_megapixel(3, 1.5)
    """FLUX.2's megapixel pricing (docs.bfl.ai pricing; BFL's skills repo: "(firstMP + (outputMP - 1) *
    mpPrice) + inputMP * mpPrice"): ``first`` credits for the first output megapixel, ``extra`` for each further
    one started and for each input megapixel started. A recorded answer (cost 4.5 for output_mp 1.98 on
    flux-2-pro) shows megapixels rounded up."""

    def __init__(self, first: float, extra: float) -> None:
        self.first, self.extra = first, extra

    def __call__(self, input_mp: float, output_mp: float) -> float:
        import math

        started = max(1, math.ceil(round(output_mp, 2) - 1e-9))
        inputs = math.ceil(round(input_mp, 2) - 1e-9) if input_mp else 0
        return round(self.first + self.extra * (started - 1) + self.extra * inputs, 4)

    def __str__(self) -> str:
        return f"{self.first:g} + {self.extra:g}/MP"


KONTEXT = EditFamily(inputs=4, size="kontext")
FLUX2 = EditFamily(inputs=8, size="flux2")
FLUX2_KLEIN = EditFamily(inputs=4, size="flux2")
FILL = FillFamily()
EXPAND = ExpandFamily()
_KONTEXT_RATIO = aspect_ratio_between("7:3", "3:7")  # docs (dossier A11); the spec's description says 21:9 .. 9:21


def _row(name: str, schema: str, family: Family, summary: str, **kw: Any) -> Endpoint:
    return Endpoint(name=name, schema=f"spec:{schema}", family=family, summary=summary, **kw)


_SPEC = "spec (high)"
_DOCS_PRICE = "price: docs.bfl.ai pricing (high)"
_FLUX2 = (
    f"{_SPEC}; size: docs (medium); {_DOCS_PRICE}, megapixels rounded up as in a recorded answer (medium); "
    "cost/input_mp/output_mp: docs' response schema and resellers' recorded answers (medium)"
)

ENDPOINTS: tuple[Endpoint, ...] = (  # the registry: canny-finetuned, then BFL's OpenAPI of 2026-04-23
    CANNY_FINETUNED,
    *_TEXT_TO_IMAGE_ROWS,
    _row(
        "flux-kontext-pro",
        "FluxKontextProInputs",
        KONTEXT,
        "Edit or create an image with Flux Kontext",
        checks=(_KONTEXT_RATIO,),
        price=4,
        evidence=f"{_SPEC}; ratio 3:7 .. 7:3, ~1 MP: docs (medium); {_DOCS_PRICE}",
    ),
    _row(
        "flux-kontext-max",
        "FluxKontextProInputs",
        KONTEXT,
        "Edit or create an image with Flux Kontext Max",
        checks=(_KONTEXT_RATIO,),
        active_limit=6,  # help.bfl.ai (dossier A6)
        price=8,
        evidence=f"{_SPEC}; 6 active tasks: help.bfl.ai (high); {_DOCS_PRICE}",
    ),
    *(
        _row(
            name,
            schema,
            family,
            f"Generate or edit an image with FLUX.2 {label}",
            price=per_megapixel(first, extra),
            cost_fields="values",
            evidence=_FLUX2 if "preview" not in name else f"{_FLUX2}; preview priced as its model (assumption)",
        )
        for name, schema, family, label, first, extra in (
            ("flux-2-pro", "Flux2Inputs", FLUX2, "[pro]", 3, 1.5),
            ("flux-2-pro-preview", "Flux2Inputs", FLUX2, "[pro] (preview)", 3, 1.5),
            ("flux-2-max", "Flux2Inputs", FLUX2, "[max]", 7, 3),
            ("flux-2-flex", "Flux2FlexInputs", FLUX2, "[flex]", 5, 5),
            ("flux-2-klein-4b", "Flux2KleinInputs", FLUX2_KLEIN, "[klein] 4B", 1.4, 0.1),
            ("flux-2-klein-9b", "Flux2KleinInputs", FLUX2_KLEIN, "[klein] 9B", 1.5, 0.2),
            ("flux-2-klein-9b-preview", "Flux2KleinInputs", FLUX2_KLEIN, "[klein] 9B (preview)", 1.5, 0.2),
        )
    ),
    _row(
        "flux-pro-1.0-fill",
        "FluxProFillInputs",
        FILL,
        "Generate an image with FLUX.1 Fill [pro] using an input image and mask.",
        price=5,
        evidence=f"{_SPEC}; output = the input's size (assumption); {_DOCS_PRICE}",
    ),
    _row(
        "flux-pro-1.0-expand",
        "FluxProExpandInputs",
        EXPAND,
        "Expand an image by adding pixels on any side.",
        price=5,
        evidence=f"{_SPEC}; price: not in BFL's table, as Fill (the other FLUX tool; assumption)",
    ),
    _row(
        "flux-pro-1.0-fill-finetuned",
        "FinetuneFluxProFillInputs",
        FILL,
        "Generate an image with FLUX.1 Fill [pro] finetune using an input image and mask.",
        requires_finetune=True,
        price=6,
        evidence=f"{_SPEC}; {_DOCS_PRICE} (FLUX.1 Fill [pro] Finetuned)",
    ),
    _row(
        "flux-pro-1.1-ultra-finetuned",
        "FinetuneFluxUltraInput",
        ULTRA,
        "Generate an image with FLUX 1.1 [pro] with ultra mode and a finetune.",
        checks=(aspect_ratio_between("21:9", "9:21"),),
        requires_finetune=True,
        price=7,
        evidence=f"{_SPEC}; size as Ultra (medium); {_DOCS_PRICE} (FLUX1.1 [pro] Ultra Finetuned)",
    ),
)


# --- image fields (one source for recordings, the journal and logs) ------------------------------------
def image_fields(endpoint: Endpoint) -> tuple[str, ...]:
    """The request fields of ``endpoint`` that carry an image (base64 or URL): what is scrubbed wherever a
    request is recorded, journaled or logged."""
    return endpoint.family.image_fields


def all_image_fields() -> frozenset[str]:
    """Every image field of every endpoint: for scrubbing a body whose endpoint is not known."""
    return frozenset(f for ep in ENDPOINTS for f in image_fields(ep))
