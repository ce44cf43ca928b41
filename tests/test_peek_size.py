"""``imaging.peek_size`` reads a plain PNG's size from its header bytes; every answer is still Pillow's.

The reference is what ``peek_size`` did before: ``Image.open(...).size`` of the decoded head, None when
Pillow raised. Fixture photos in several PNG modes and layouts, JPEG, and every truncation and one-byte
change of the header must give the same answer both ways.
"""

from __future__ import annotations

import base64
import io
import warnings
from pathlib import Path

import pytest
from PIL import Image, ImageFile, PngImagePlugin

from mock_server.core import imaging

IMAGES = Path(__file__).resolve().parent.parent / "fixtures" / "images"


def pillow_size(value: str, limit: int = 65_536) -> tuple[int, int] | None:
    """peek_size as it was: the head decoded, then Pillow."""
    text = value.strip()
    if text[:8].lower().startswith(("http://", "https:/")):
        return None
    m = imaging._DATA_URL.match(text[:128])
    head = "".join(text[m.end() if m else 0 :][:limit].split())
    head = head[: len(head) // 4 * 4]
    try:
        return Image.open(io.BytesIO(base64.b64decode(head, validate=False))).size
    except Exception:
        return None


def _variants() -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    for path in sorted(IMAGES.iterdir()):
        if path.suffix not in (".png", ".jpg"):
            continue
        out.append((path.name, path.read_bytes()))
        im = Image.open(path)
        im.thumbnail((64, 64))
        for mode in ("1", "L", "P", "RGB", "RGBA", "LA", "I;16"):
            buf = io.BytesIO()
            im.convert(mode).save(buf, "PNG")
            out.append((f"{path.stem}-{mode}", buf.getvalue()))
        buf = io.BytesIO()
        im.convert("RGB").save(buf, "PNG", icc_profile=b"\0" * 600)  # iCCP before IDAT: Pillow's path
        out.append((f"{path.stem}-iccp", buf.getvalue()))
        info = PngImagePlugin.PngInfo()
        info.add_text("k", "v")
        buf = io.BytesIO()
        im.convert("RGB").save(buf, "PNG", pnginfo=info)
        out.append((f"{path.stem}-text", buf.getvalue()))
        buf = io.BytesIO()
        im.convert("RGB").save(buf, "JPEG")
        out.append((f"{path.stem}-jpeg", buf.getvalue()))
    return out


VARIANTS = _variants()


def _same(raw: bytes) -> None:
    value = base64.b64encode(raw).decode()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        assert imaging.peek_size(value) == pillow_size(value)
        assert imaging.peek_size(f"data:image/png;base64,{value}") == pillow_size(f"data:image/png;base64,{value}")


@pytest.mark.parametrize(("name", "raw"), VARIANTS, ids=[n for n, _ in VARIANTS])
def test_every_fixture_image_gets_pillows_size(name: str, raw: bytes) -> None:
    _same(raw)


@pytest.mark.parametrize(("name", "raw"), VARIANTS[:9], ids=[n for n, _ in VARIANTS[:9]])
def test_every_truncated_or_changed_header_gets_pillows_answer(name: str, raw: bytes) -> None:
    for n in range(0, 64):
        _same(raw[:n])
    for i in range(48):
        for b in {0, 0xFF, raw[i] ^ 1, raw[i] ^ 0x80}:
            _same(raw[:i] + bytes([b]) + raw[i + 1 :])


@pytest.mark.parametrize("name", ["astronaut.png", "astronaut-iccp", "astronaut-RGB"])
def test_every_changed_byte_up_to_idat_gets_pillows_answer(name: str) -> None:
    raw = dict(VARIANTS)[name]
    end = raw.index(b"IDAT") + 4
    for i in range(8, end):
        for b in {0, raw[i] ^ 1, raw[i] ^ 0x40}:
            _same(raw[:i] + bytes([b]) + raw[i + 1 :])
    for n in range(end - 60, end + 2):
        _same(raw[:n])


def test_the_fast_path_answers_plain_pngs_and_leaves_the_rest_to_pillow() -> None:
    plain = dict(VARIANTS)["astronaut-RGB"]
    assert imaging._png_size(plain) == Image.open(io.BytesIO(plain)).size
    assert imaging._png_size(dict(VARIANTS)["astronaut-iccp"]) == (64, 64)  # the profile checked as Pillow does
    assert imaging._png_size(dict(VARIANTS)["astronaut-text"]) is None  # a tEXt chunk: Pillow reads it
    assert imaging._png_size(dict(VARIANTS)["astronaut-jpeg"]) is None


def test_the_size_caps_and_truncated_mode_of_pillow_still_decide(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = dict(VARIANTS)["astronaut-RGB"]
    w, h = Image.open(io.BytesIO(plain)).size
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", (w * h) // 3)  # over twice the cap: Pillow refuses
    assert imaging._png_size(plain) is None
    _same(plain)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    assert imaging._png_size(plain) == (w, h)
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    assert imaging._png_size(plain) is None
    _same(plain)


def test_the_modes_are_pillows() -> None:
    assert frozenset(PngImagePlugin._MODES) == imaging._PNG_MODES
