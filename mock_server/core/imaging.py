"""Control-image work: decode, BFL's Canny preprocessing, and a deterministic rendering of the edges.

Preprocessing follows BFL's reference code (black-forest-labs/flux ``sampling.prepare_control`` and
``modules/image_embedders.CannyImageEncoder``): the control image is converted to RGB, resized with
LANCZOS to the output size, and ``cv2.Canny(rgb_uint8, low, high)`` is applied (defaults 50/200).
The output size (control size rounded down to a multiple of 16, at least 16) is an assumption.

The "generated" image is a seeded two-colour gradient with the edge map drawn in a dark seeded ink:
it visibly shows the edges the real model is conditioned on, changes with the seed, and is cheap to
encode (flat regions). Everything here runs in worker threads, never on the event loop.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import contextvars
import io
import random
import re
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from mock_server.core.errors import InvalidImage as InvalidImage

MAX_SIDE = 16_384  # longest output side (JPEG's own limit is 65,535; FLUX outputs are far below either)
DEFAULT_LOW = 50
DEFAULT_HIGH = 200
_DATA_URL = re.compile(r"^data:image/[A-Za-z0-9.+-]+;base64,")
DEFAULT_MAX_SCANS = 100  # the ``max_jpeg_scans`` setting's default
_MAX_SCANS: contextvars.ContextVar[int] = contextvars.ContextVar("bfl_mock_max_jpeg_scans", default=DEFAULT_MAX_SCANS)
# within an inline check (``limits(.., inline_pixels=N)``): the pixels its images may still have in all (a list
# of one, counted down as each is opened); past N nothing more is decoded here
_INLINE_PIXELS: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("bfl_mock_inline", default=None)


class Offload(Exception):
    """An inline check met more pixels (its images' in all) than it may decode on the request's thread: the check is
    run again, from the start, on the render pool. Raised after every header check, before any decode, so
    what the pool decides is what the inline check would have decided."""


def single_threaded_opencv() -> None:
    """Render threads run OpenCV single-threaded: it halves CPU and the p99 on 2 cores (measured, README
    "Performance"). Called when the fake's render pool starts, never at import: OpenCV's thread count is
    process-wide, and importing bfl-mock (the pytest plugin) must not change a user's process."""
    cv2.setNumThreads(1)


def decode_base64(control_image: str) -> bytes:
    """Raw base64 (as documented). A ``data:image/...;base64,`` prefix is accepted (assumption)."""
    text = control_image.strip()
    m = _DATA_URL.match(text[:128])
    if m:
        text = text[m.end() :]
    text = "".join(text.split())
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        try:
            return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError) as e:
            raise InvalidImage(f"not base64: {e}") from None


def output_size(width: int, height: int) -> tuple[int, int]:
    return max(16, width // 16 * 16), max(16, height // 16 * 16)


def check_size(width: int, height: int, max_pixels: int) -> None:
    """The pixel cap applies to the input, to the output it gives, and so to every intermediate: a
    1x5,000,000 input (24 KB as PNG) would otherwise become a 16x5,000,000 output (80 MP, ~2 GB of work)."""
    if width <= 0 or height <= 0 or width * height > max_pixels:
        raise InvalidImage(f"{width}x{height} exceeds {max_pixels} pixels")
    out_w, out_h = output_size(width, height)
    if out_w * out_h > max_pixels or max(out_w, out_h) > MAX_SIDE:
        raise InvalidImage(
            f"{width}x{height} gives a {out_w}x{out_h} output, over {max_pixels} pixels or {MAX_SIDE} px a side"
        )


@contextlib.contextmanager
def limits(max_scans: int, inline_pixels: int | None = None) -> Iterator[None]:
    """Within this block (one image job), every decode refuses JPEGs of more than ``max_scans`` scans; with
    ``inline_pixels`` (a check on the request's thread), the image that takes the pixels of the images opened
    in the block past it raises ``Offload`` instead of being decoded."""
    token = _MAX_SCANS.set(max_scans)
    inline = _INLINE_PIXELS.set(None if inline_pixels is None else [inline_pixels])
    try:
        yield
    finally:
        _INLINE_PIXELS.reset(inline)
        _MAX_SCANS.reset(token)


def jpeg_scans(data: bytes, stop: int) -> int:
    """How many scans (SOS segments) a JPEG has, counted from its markers without decoding anything; counting
    stops past ``stop``. Segments are skipped by their length and entropy-coded data up to its next marker
    (``FF 00`` stuffing and ``RSTn`` are not markers), so an EXIF thumbnail's own scan is not counted."""
    size, i, scans = len(data), 2, 0
    while i + 4 <= size:
        if data[i] != 0xFF:
            i = data.find(b"\xff", i)
            if i < 0:
                break
            continue
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x00, 0x01) or 0xD0 <= marker <= 0xD7:  # stuffed byte, TEM, restart markers: no length
            i += 2
            continue
        if marker == 0xD9:  # end of image
            break
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
        if marker != 0xDA:
            continue
        scans += 1
        if scans > stop:
            break
        while True:  # the scan's entropy-coded data, up to the next real marker
            j = data.find(b"\xff", i)
            if j < 0 or j + 1 >= size:
                return scans
            nxt = data[j + 1]
            if nxt == 0x00 or 0xD0 <= nxt <= 0xD7:
                i = j + 2
            elif nxt == 0xFF:
                i = j + 1
            else:
                i = j
                break
    return scans


def _inline_spend(pixels: int) -> None:
    """(Inline checks.) Count an image's pixels against what the check may decode here; Offload past it."""
    budget = _INLINE_PIXELS.get()
    if budget is not None:
        budget[0] -= pixels
        if budget[0] < 0:
            raise Offload


def _check_scans(im: Any, data: bytes) -> None:
    if im.format == "JPEG":
        limit = _MAX_SCANS.get()
        scans = jpeg_scans(data, limit)
        if scans > limit:
            raise InvalidImage(f"progressive JPEG of more than {limit} scans (max_jpeg_scans)")


NOT_AN_IMAGE = "not a PNG, JPEG or WebP image"  # what PIL cannot identify, in words (no BytesIO repr)


@contextlib.contextmanager
def _opened(data: bytes, max_pixels: int, *, output_rule: bool = True) -> Iterator[Any]:
    """An image opened (header only) with its size checked against the caps (with ``output_rule``, the output
    it would give too) and its JPEG scans counted, before any decode; whatever PIL raises while it is used
    (UnidentifiedImageError, OSError, SyntaxError ...) becomes ``InvalidImage``."""
    if not data:
        raise InvalidImage("empty image")
    try:
        im = Image.open(io.BytesIO(data))
        if output_rule:
            check_size(*im.size, max_pixels)
        elif im.size[0] * im.size[1] > max_pixels:
            raise InvalidImage(f"{im.size[0]}x{im.size[1]} exceeds {max_pixels} pixels")
        _check_scans(im, data)
        _inline_spend(im.size[0] * im.size[1])
        yield im
    except (InvalidImage, Offload):
        raise
    except UnidentifiedImageError:
        raise InvalidImage(f"undecodable: {NOT_AN_IMAGE}") from None
    except Exception as e:
        raise InvalidImage(f"undecodable: {type(e).__name__}: {e}") from None


def opened(data: bytes, max_pixels: int) -> contextlib.AbstractContextManager[Any]:
    """An image opened for any other decode (thumbnails, renders of checked inputs): at most ``max_pixels``
    pixels and ``max_jpeg_scans`` scans, checked from the header before a pixel is decoded."""
    return _opened(data, max_pixels, output_rule=False)


def load_rgb(data: bytes, max_pixels: int) -> Image.Image:
    """Open and fully decode an image, refusing over-large or bomb images from their header first.

    The cap is ours, per call (``max_pixels``); Pillow's process-wide ``MAX_IMAGE_PIXELS`` is left alone (an
    image over it is refused by Pillow itself, which ends the same way: ``InvalidImage``)."""
    with _opened(data, max_pixels) as im:
        im.draft("RGB", im.size)
        rgb: Image.Image = im.convert("RGB")
        rgb.load()
    return rgb


def validate(data: bytes, max_pixels: int) -> tuple[int, int]:
    """What deciding a task's outcome needs from an input image, without the pixel work: it opens, its size
    is within the caps, and its data is whole. JPEG is decoded at 1/8 scale (every entropy-coded block is
    still read, so truncation and corruption show; 1/64 of the pixels are produced); PNG has every chunk's
    CRC checked; other formats are decoded. Raises ``InvalidImage``; returns (width, height).

    A plain PNG whose chunks are all whole is answered from its bytes (``_png_whole``: what Pillow's open and
    ``verify`` check, without building an image); any other input, and any PNG that is not whole, goes to
    Pillow, so every refusal is Pillow's, word for word."""
    head = _png_header(data)
    if head is not None and _png_whole(data, head[2]):
        width, height = head[0], head[1]
        check_size(width, height, max_pixels)  # as ``_opened`` does, in its order
        _inline_spend(width * height)
        return width, height
    with _opened(data, max_pixels) as im:
        width, height = im.size
        if im.format == "JPEG":
            im.draft("L", (max(1, width // 8), max(1, height // 8)))
            im.load()
        elif im.format == "PNG":
            im.verify()
        else:
            im.load()
    return width, height


def peek_size(value: str, limit: int = 65_536) -> tuple[int, int] | None:
    """An input image's (width, height) from the first ``limit`` characters of its base64, or None (a URL,
    or a header further in): the submit answer's ``input_mp`` and FLUX.2's price, without decoding it all."""
    text = value.strip()
    if text[:8].lower().startswith(("http://", "https:/")):
        return None
    m = _DATA_URL.match(text[:128])
    head = "".join(text[m.end() if m else 0 :][:limit].split())
    head = head[: len(head) // 4 * 4]
    try:
        raw = base64.b64decode(head, validate=False)
        return _png_size(raw) or Image.open(io.BytesIO(raw)).size
    except Exception:  # truncated before the size, not an image: unknown here, the task's check decides
        return None


_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# (bit depth, colour type) pairs Pillow opens: PngImagePlugin._MODES (not imported here: importing a plugin
# reorders Pillow's format registry for the whole process; tests/test_images.py checks the two agree)
_PNG_MODES = frozenset(
    {(1, 0), (1, 3), (2, 0), (2, 3), (4, 0), (4, 3), (8, 0), (8, 2), (8, 3), (8, 4), (8, 6)}
    | {(16, 0), (16, 2), (16, 4), (16, 6)}
)


def _png_size(raw: bytes) -> tuple[int, int] | None:
    head = _png_header(raw)
    return None if head is None else (head[0], head[1])


def _png_header(raw: bytes) -> tuple[int, int, int] | None:
    """The size Pillow's ``Image.open`` gives a plain PNG, read from its header bytes without opening it: an
    IHDR of 13 bytes with a good CRC, a mode Pillow knows and filter method 0, at most an iCCP chunk (good CRC,
    compression 0, a profile Pillow would accept), then IDAT. Anything else (other chunks before IDAT, a
    size over ``MAX_IMAGE_PIXELS``, Pillow's truncated-image mode): None, and the caller opens it with
    Pillow, so the answer is Pillow's in every case. Returns (width, height, where the first IDAT starts)."""
    if raw[:16] != _PNG_MAGIC + b"\x00\x00\x00\x0dIHDR" or len(raw) < 41 or ImageFile.LOAD_TRUNCATED_IMAGES:
        return None
    ihdr = raw[16:29]
    width, height = int.from_bytes(ihdr[:4], "big"), int.from_bytes(ihdr[4:8], "big")
    if not width or not height or (ihdr[8], ihdr[9]) not in _PNG_MODES or ihdr[11]:
        return None
    if zlib.crc32(ihdr, zlib.crc32(b"IHDR")) != int.from_bytes(raw[29:33], "big"):
        return None
    cap = Image.MAX_IMAGE_PIXELS
    if cap is not None and width * height > cap:
        return None
    pos: int | None = 33
    if raw[37:41] == b"iCCP":
        pos = _png_iccp_end(raw, 33)
    return (width, height, pos) if pos is not None and raw[pos + 4 : pos + 8] == b"IDAT" else None


def _png_whole(raw: bytes, pos: int) -> bool:
    """Whether Pillow's ``verify`` passes a PNG whose first IDAT chunk starts at ``pos``: every chunk from
    there to IEND has a four-letter name (``PngImagePlugin.is_cid``), is all there and has a good CRC (IEND's
    own is not read). False for anything else: the caller asks Pillow, which words the refusal."""
    end = len(raw)
    crc32, frombytes = zlib.crc32, int.from_bytes
    while pos + 8 <= end:
        cid = raw[pos + 4 : pos + 8]
        if not _CID.fullmatch(cid):
            return False
        if cid == b"IEND":
            return True
        length = frombytes(raw[pos : pos + 4], "big")
        stop = pos + 8 + length
        if stop + 4 > end or crc32(raw[pos + 8 : stop], crc32(cid)) != frombytes(raw[stop : stop + 4], "big"):
            return False
        pos = stop + 4
    return False


_CID = re.compile(rb"\w\w\w\w")  # PngImagePlugin.is_cid's pattern


def _png_iccp_end(raw: bytes, pos: int) -> int | None:
    """Where the iCCP chunk at ``pos`` ends, when Pillow's ``chunk_iCCP`` would take it without raising: the
    chunk whole with a good CRC, a named profile, compression method 0, and a profile that inflates within
    Pillow's ``MAX_TEXT_CHUNK`` (a zlib error is no error to Pillow either). Else None."""
    length = int.from_bytes(raw[pos : pos + 4], "big")
    data = raw[pos + 8 : pos + 8 + length]
    crc = raw[pos + 8 + length : pos + 12 + length]
    if len(data) != length or len(crc) != 4 or zlib.crc32(data, zlib.crc32(b"iCCP")) != int.from_bytes(crc, "big"):
        return None
    i = data.find(b"\0")
    if i < 1 or i + 1 >= length or data[i + 1] != 0:
        return None
    plugin = sys.modules.get("PIL.PngImagePlugin")
    limit = getattr(plugin, "MAX_TEXT_CHUNK", ImageFile.SAFEBLOCK)
    inflate = zlib.decompressobj()
    try:
        inflate.decompress(data[i + 2 :], limit)
    except zlib.error:
        pass  # Pillow keeps no profile and reads on
    else:
        if inflate.unconsumed_tail:
            return None  # Pillow: "Decompressed Data Too Large"
    return pos + 12 + length


def canny_edges(im: Image.Image, low: int | None, high: int | None) -> np.ndarray:
    """BFL's preprocessing: resize (LANCZOS) to the output size, then cv2.Canny on RGB uint8."""
    size = output_size(*im.size)
    if im.size != size:
        im = im.resize(size, Image.Resampling.LANCZOS)
    rgb = np.asarray(im, dtype=np.uint8)
    return cv2.Canny(rgb, DEFAULT_LOW if low is None else low, DEFAULT_HIGH if high is None else high)


@dataclass(frozen=True)
class EdgeMap:
    width: int
    height: int
    packed: bytes  # zlib(np.packbits(edges > 0))

    @classmethod
    def from_array(cls, edges: np.ndarray) -> EdgeMap:
        h, w = edges.shape[:2]
        return cls(w, h, zlib.compress(np.packbits(edges > 0).tobytes(), 1))

    def to_array(self) -> np.ndarray:
        bits = np.unpackbits(np.frombuffer(zlib.decompress(self.packed), dtype=np.uint8))
        return bits[: self.width * self.height].reshape(self.height, self.width).astype(bool)

    @property
    def nbytes(self) -> int:
        return len(self.packed) + 64


def edge_map(data: bytes, low: int | None, high: int | None, max_pixels: int) -> EdgeMap:
    """The edge map of a control image's bytes (BFL's preprocessing)."""
    return EdgeMap.from_array(canny_edges(load_rgb(data, max_pixels), low, high))


def _palette(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    rng = random.Random(seed)  # a numpy Generator costs ~0.3 ms to build; this is microseconds
    top = np.array([rng.randint(165, 249) for _ in range(3)], dtype=np.float32)
    bottom = np.array([rng.randint(165, 249) for _ in range(3)], dtype=np.float32)
    ink = np.array([rng.randint(0, 55) for _ in range(3)], dtype=np.uint8)
    vertical = rng.random() < 0.5
    return top, bottom, ink, vertical


def render(edges: EdgeMap, seed: int, output_format: str, *, jpeg_quality: int = 90) -> bytes:
    """Encode the deterministic output image for ``edges`` and ``seed`` as jpeg or png."""
    mask = edges.to_array()
    h, w = mask.shape
    img, ink = gradient(w, h, seed)
    img[mask] = ink
    return encode(img, output_format, jpeg_quality=jpeg_quality)


def encode(img: np.ndarray, output_format: str, *, jpeg_quality: int = 90) -> bytes:
    """Encode a BGR uint8 array as the task's ``output_format`` (jpeg, png or webp)."""
    if output_format == "png":
        ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    elif output_format == "webp":
        ok, buf = cv2.imencode(".webp", img, [cv2.IMWRITE_WEBP_QUALITY, int(jpeg_quality)])
    else:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
    if not ok:  # pragma: no cover - OpenCV never fails on a valid uint8 array
        raise RuntimeError("image encoding failed")
    return buf.tobytes()


def _malloc_trim() -> Callable[[], object] | None:
    try:
        import ctypes
        import ctypes.util

        name = ctypes.util.find_library("c")
        libc = ctypes.CDLL(name) if name else None
        return None if libc is None or not hasattr(libc, "malloc_trim") else (lambda: libc.malloc_trim(0))
    except OSError:  # pragma: no cover - not glibc
        return None


_TRIM = _malloc_trim()


def release_native_memory(pixels: int) -> None:
    """After work on a large image, hand glibc's freed buffers back to the OS (they stay in per-thread
    arenas otherwise: ~50 MB of RSS for nothing after a few hundred 1 MP tasks)."""
    if _TRIM is not None and pixels >= 250_000:
        _TRIM()


def content_type(output_format: str) -> str:
    return {"png": "image/png", "webp": "image/webp"}.get(output_format, "image/jpeg")


def gradient(width: int, height: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The seeded two-colour background every family draws on (BGR), and its ink colour."""
    top, bottom, ink, vertical = _palette(seed)
    n = height if vertical else width
    t = np.linspace(0.0, 1.0, n, dtype=np.float32)[:, None]
    ramp = (top[None, :] * (1.0 - t) + bottom[None, :] * t).astype(np.uint8)
    img = np.empty((height, width, 3), dtype=np.uint8)
    img[:] = ramp[:, None, :] if vertical else ramp[None, :, :]
    return img, ink
