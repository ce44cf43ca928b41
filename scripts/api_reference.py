"""Generate the README's "Control API reference" from the docstrings and its endpoint table from the registry
(``python scripts/api_reference.py --write`` updates README.md; tests/test_newcomer.py fails when the README is
out of date)."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- api-reference:start -->", "<!-- api-reference:end -->"
ENDPOINTS_START, ENDPOINTS_END = "<!-- endpoints:start -->", "<!-- endpoints:end -->"


def _first_paragraph(doc: str | None) -> str:
    text = inspect.cleandoc(doc or "").split("\n\n")[0]
    return " ".join(text.split()).replace("``", "`")


def _members(cls: type, prefix: str, names: list[str] | None = None) -> list[str]:
    rows = []
    for name, member in cls.__dict__.items():
        if name.startswith("_") or (names is not None and name not in names):
            continue
        if isinstance(member, property):
            sig, doc = "", member.fget.__doc__ if member.fget else None
        elif callable(member):
            params = [
                p.replace(annotation=inspect.Parameter.empty)
                for p in inspect.signature(member).parameters.values()
                if p.name != "self"
            ]
            sig = str(inspect.Signature(params))
            doc = member.__doc__
        else:
            continue
        if not doc:
            continue
        text = _first_paragraph(doc).replace("|", "\\|")
        rows.append(f"| `{prefix}{name}{sig}` | {text} |")
    return rows


def render() -> str:
    from mock_server.core.clock import Clock
    from mock_server.http.journal import Journal
    from mock_server.mock import BflMock
    from mock_server.webhooks.dispatcher import WebhookDispatcher

    rows = ["| call | what it does |", "|---|---|"]
    rows += _members(BflMock, "mock.", None)
    rows += _members(Clock, "mock.clock.", ["now", "advance", "set", "freeze", "unfreeze", "reset"])
    rows += _members(WebhookDispatcher, "mock.webhooks.", ["wait_for", "async_wait_for", "for_task"])
    rows += _members(Journal, "mock.requests.", ["filter", "last"])
    return "\n".join(rows)


def endpoint_table() -> str:
    from mock_server.core.config import Settings
    from mock_server.core.endpoints import ENDPOINTS

    default = Settings()
    rows = [
        "| endpoint | family | output size | credits | active tasks | `cost` fields | evidence |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in ENDPOINTS:
        price = f"{default.cost_per_request:g} (`cost_per_request`)" if e.price is None else str(e.price)
        if isinstance(e.price, (int, float)):
            price = f"{e.price:g}"
        limit = f"**{e.active_limit}** of its own" if e.active_limit is not None else str(default.active_task_limit)
        family = f"{e.family.name} ({len(e.family.image_fields)} inputs)" if e.family.name == "edit" else e.family.name
        rows.append(
            f"| `{e.name}` | {family} | {e.family.size_rule} | {price} | {limit} | {e.cost_fields} | {e.evidence} |"
        )
    return "\n".join(rows)


def _splice(text: str, start: str, end: str, body: str) -> str:
    return text[: text.index(start) + len(start)] + "\n" + body + "\n" + text[text.index(end) :]


def main() -> int:
    readme = ROOT / "README.md"
    text = readme.read_text()
    new = _splice(_splice(text, START, END, render()), ENDPOINTS_START, ENDPOINTS_END, endpoint_table())
    if "--write" in sys.argv:
        readme.write_text(new)
        return 0
    if new != text:
        print("README.md's generated sections are out of date: python scripts/api_reference.py --write")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
