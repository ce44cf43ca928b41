"""Validation beyond an endpoint's schema (what its OpenAPI cannot express), as FastAPI-shaped 422 errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mock_server.core.endpoints.sizes import parse_ratio

Check = Callable[[dict[str, Any]], list[dict[str, Any]]]  # params -> FastAPI-shaped 422 errors


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
