"""How a difference is said: ``Mismatch`` (what the target answered, what was expected, the request and the
field), ``expect`` that raises it, and the short, still-valid JSON it is written in."""

from __future__ import annotations

import json
from typing import Any


def shorten(text: str, limit: int) -> str:
    """``text`` on one line, at most ``limit`` characters, cut at a space or punctuation (never inside a word,
    number or escape) and marked with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = max(text.rfind(c, 0, limit - 2) for c in " ,:;")
    if cut <= limit // 2:
        cut = limit - 2
        while cut > 0 and (text[cut - 1].isalnum() or text[cut - 1] in "\\_-."):
            cut -= 1
    return text[: cut + 1].rstrip() + " …"


def compact(value: Any, string_limit: int = 60, items: int = 8) -> str:
    """A JSON value written short and still valid JSON: images as their size, long strings as their start and
    length, long lists and objects cut with a count of what is left out."""
    from mock_server.core.endpoints import all_image_fields

    images = all_image_fields()

    def walk(v: Any, key: str | None = None) -> Any:
        if isinstance(v, str):
            if key in images and len(v) > 64:
                return f"<image: {len(v)} chars>"
            if len(v) > string_limit:
                return f"{shorten(v, string_limit // 2)} (+{len(v) - string_limit // 2} chars)"
            return v
        if isinstance(v, dict):
            out = {str(k): walk(x, str(k)) for k, x in list(v.items())[:items]}
            if len(v) > items:
                out["…"] = f"{len(v) - items} more"
            return out
        if isinstance(v, list):
            return [walk(x) for x in v[:items]] + ([f"… {len(v) - items} more"] if len(v) > items else [])
        return v

    return json.dumps(walk(value), ensure_ascii=False)


def answer_of(response: Any) -> tuple[int, Any]:
    """(status, JSON body or text) of an httpx response."""
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.text


def _locs(body: Any) -> list[str]:
    detail = body.get("detail") if isinstance(body, dict) else None
    if not isinstance(detail, list):
        return []
    return [".".join(str(p) for p in e.get("loc", [])) for e in detail if isinstance(e, dict)]


def differing_fields(a: tuple[int | None, Any], b: tuple[int | None, Any]) -> list[str]:
    """The request fields two answers disagree about: 422 items in one and not the other, by ``loc``."""
    la, lb = _locs(a[1]), _locs(b[1])
    if la or lb:
        da = (a[1].get("detail") if isinstance(a[1], dict) else None) or []
        db = (b[1].get("detail") if isinstance(b[1], dict) else None) or []
        ja = {json.dumps(e, sort_keys=True) for e in da or []}
        jb = {json.dumps(e, sort_keys=True) for e in db or []}
        diff = [loc for loc, e in zip(la, da, strict=False) if json.dumps(e, sort_keys=True) not in jb]
        diff += [loc for loc, e in zip(lb, db, strict=False) if json.dumps(e, sort_keys=True) not in ja]
        return list(dict.fromkeys(diff)) or ["(order of the 422 items)"]
    if isinstance(a[1], dict) and isinstance(b[1], dict):
        return sorted(k for k in a[1].keys() | b[1].keys() if a[1].get(k) != b[1].get(k))
    return []


class Mismatch(AssertionError):
    """The target answered otherwise than the oracle (or the evidence): everything a reader needs, short."""

    def __init__(
        self,
        *,
        target: tuple[int | None, Any],
        expected: tuple[int | None, Any],
        expected_label: str,
        request: tuple[str, str, Any] | None = None,
        field: str | None = None,
    ) -> None:
        self.request, self.target, self.expected, self.expected_label = request, target, expected, expected_label
        self.field = field if field is not None else ", ".join(differing_fields(target, expected)) or None
        super().__init__(self.summary())

    def summary(self) -> str:
        ts, es = self.target[0], self.expected[0]
        about = f"{self.field}: " if self.field else ""
        if ts != es and es is not None:
            return f"{about}the target answered {ts}, {self.expected_label} {es}"
        shown = "" if self.expected[1] is None else f" {compact(self.expected[1])}"
        return f"{about}the target answered {compact(self.target[1])}; {self.expected_label}:{shown}"

    def lines(self) -> list[str]:
        def answer(a: tuple[int | None, Any]) -> str:
            shown = "" if a[1] is None else compact(a[1])
            return f"{'' if a[0] is None else a[0]} {shown}".strip()

        out = []
        if self.request is not None:
            method, path, body = self.request
            out.append(f"request:  {method} {path} {compact(body)}")
        if self.field:
            out.append(f"field:    {self.field}")
        out.append(f"target:   {answer(self.target)}")
        out.append(f"{self.expected_label}: {answer(self.expected)}")
        return out


def expect(
    response: Any,
    status: int | set[int] | None,
    body: Any = None,
    *,
    source: str,
    request: tuple[str, str, Any] | None = None,
    field: str | None = None,
    check: Any = None,
) -> None:
    """Raise ``Mismatch`` unless ``response`` has ``status`` (one of) and, if given, ``body`` (or passes
    ``check(json)``). ``source`` labels the expectation, e.g. "the real API (dossier S5)"."""
    got = answer_of(response)
    statuses = {status} if isinstance(status, int) else status
    ok = statuses is None or got[0] in statuses
    if ok and body is not None:
        ok = got[1] == body
    if ok and check is not None:
        ok = bool(check(got[1]))
    if not ok:
        shown = status if isinstance(status, int) or status is None else "/".join(map(str, sorted(status)))
        raise Mismatch(target=got, expected=(shown, body), expected_label=source, request=request, field=field)  # type: ignore[arg-type]
