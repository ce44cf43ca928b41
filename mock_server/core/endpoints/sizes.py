"""Output size rules shared by the families: aspect ratios, Ultra's ~4 MP sizes, rounding to multiples."""

from __future__ import annotations


def parse_ratio(text: str) -> tuple[int, int]:
    """``"16:9"`` -> (16, 9); ValueError for anything else (zero sides included)."""
    a, sep, b = str(text).partition(":")
    if not sep or not a.strip().isdigit() or not b.strip().isdigit() or int(a) == 0 or int(b) == 0:
        raise ValueError(f"aspect ratio must look like 16:9, not {text!r}")
    return int(a), int(b)


def ultra_size(aspect_ratio: str) -> tuple[int, int]:
    """FLUX1.1 [pro] Ultra's ~4 MP output for ``W:H``: each side ``sqrt(2048² · r)`` (or ``/ r``) rounded to a
    multiple of 64. Reproduces every size published for its nine ratios (16:9 -> 2752x1536, 21:9 -> 3136x1344,
    4:3 -> 2368x1792, 1:1 -> 2048x2048 ...); medium evidence (one provider's table, BFL's "up to 4MP")."""
    w, h = parse_ratio(aspect_ratio)
    r = w / h
    return round((2048 * r**0.5) / 64) * 64, round((2048 / r**0.5) / 64) * 64


def round_to(value: float, step: int) -> int:
    """``value`` to the nearest multiple of ``step`` (at least ``step``)."""
    return max(step, round(value / step) * step)


def floor_to(value: int, step: int) -> int:
    """``value`` down to a multiple of ``step`` (at least ``step``)."""
    return max(step, value // step * step)


def about(megapixels: float, ratio: float, step: int) -> tuple[int, int]:
    """About ``megapixels`` (of 10⁶ pixels) at ``ratio`` (width / height), each side a multiple of ``step``."""
    side = (megapixels * 1_000_000) ** 0.5
    return round_to(side * ratio**0.5, step), round_to(side / ratio**0.5, step)
