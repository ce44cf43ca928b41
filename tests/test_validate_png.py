"""``imaging.validate`` answers a whole plain PNG from its bytes; every answer is still Pillow's.

The reference is ``validate`` with the fast path off (Pillow's ``open`` and ``verify``): fixture photos in
several PNG modes and layouts, and every truncation and one-byte change after the header (in IDAT, in a later
chunk, in a CRC, in IEND), must give the same size or the same refusal, word for word, both ways.
"""

from __future__ import annotations

import io
import zlib

import pytest
from PIL import Image, PngImagePlugin
from test_peek_size import VARIANTS

from mock_server.core import imaging

PNGS = [(n, raw) for n, raw in VARIANTS if raw.startswith(b"\x89PNG")]


def answer(raw: bytes, max_pixels: int = 10**8) -> object:
    try:
        return imaging.validate(raw, max_pixels)
    except imaging.InvalidImage as e:
        return ("refused", e.reason)


def pillows(raw: bytes, max_pixels: int = 10**8) -> object:
    fast = imaging._png_header
    imaging._png_header = lambda raw: None  # type: ignore[assignment]
    try:
        return answer(raw, max_pixels)
    finally:
        imaging._png_header = fast


def _with_chunk_after_idat(raw: bytes) -> bytes:
    """A tEXt chunk between the last IDAT and IEND (verify reads it: only its CRC matters)."""
    end = raw.rindex(b"IEND") - 4
    data = b"k\0v"
    chunk = len(data).to_bytes(4, "big") + b"tEXt" + data + zlib.crc32(data, zlib.crc32(b"tEXt")).to_bytes(4, "big")
    return raw[:end] + chunk + raw[end:]


@pytest.mark.parametrize(("name", "raw"), PNGS, ids=[n for n, _ in PNGS])
def test_every_fixture_png_gets_pillows_answer(name: str, raw: bytes) -> None:
    assert answer(raw) == pillows(raw)
    assert answer(raw, 100) == pillows(raw, 100)  # over the pixel cap: check_size's refusal
    later = _with_chunk_after_idat(raw)
    assert answer(later) == pillows(later)


@pytest.mark.parametrize("name", ["astronaut-RGB", "astronaut-iccp", "astronaut-P", "astronaut-RGBA"])
def test_every_truncation_and_changed_byte_after_the_header_gets_pillows_answer(name: str) -> None:
    raw = _with_chunk_after_idat(dict(VARIANTS)[name])
    start = raw.index(b"IDAT") - 4
    for n in range(start, len(raw) + 1):
        assert answer(raw[:n]) == pillows(raw[:n]), n
    step = max(1, (len(raw) - start) // 400)  # ~400 positions through IDAT, the tEXt chunk, IEND
    for i in [*range(start, len(raw), step), *range(len(raw) - 40, len(raw))]:
        for b in {0, raw[i] ^ 1, raw[i] ^ 0x80}:
            changed = raw[:i] + bytes([b]) + raw[i + 1 :]
            assert answer(changed) == pillows(changed), i


def test_the_fast_path_takes_whole_plain_pngs_only() -> None:
    plain = dict(VARIANTS)["astronaut-RGB"]
    head = imaging._png_header(plain)
    assert head is not None and head[:2] == Image.open(io.BytesIO(plain)).size
    assert imaging._png_whole(plain, head[2])
    assert not imaging._png_whole(plain[:-13], head[2])  # no IEND
    assert imaging._png_header(dict(VARIANTS)["astronaut-text"]) is None  # tEXt before IDAT: Pillow's path
    broken = bytearray(plain)
    broken[head[2] + 10] ^= 0xFF  # inside IDAT: the CRC no longer matches
    assert not imaging._png_whole(bytes(broken), head[2])
    assert answer(bytes(broken)) == pillows(bytes(broken)) and answer(bytes(broken))[0] == "refused"  # type: ignore[index]


def test_the_inline_pixel_cap_offloads_from_the_fast_path_too() -> None:
    plain = dict(VARIANTS)["astronaut-RGB"]
    w, h = Image.open(io.BytesIO(plain)).size
    with imaging.limits(100, inline_pixels=w * h - 1), pytest.raises(imaging.Offload):
        imaging.validate(plain, 10**8)
    with imaging.limits(100, inline_pixels=w * h):
        assert imaging.validate(plain, 10**8) == (w, h)


def test_the_chunk_name_rule_is_pillows() -> None:
    assert PngImagePlugin.is_cid.__self__.pattern == imaging._CID.pattern  # type: ignore[attr-defined]
