"""Generate the README's "Control API reference" from the docstrings (``python scripts/api_reference.py
--write`` updates README.md; tests/test_newcomer.py fails when the README is out of date)."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- api-reference:start -->", "<!-- api-reference:end -->"


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


def main() -> int:
    readme = ROOT / "README.md"
    text = readme.read_text()
    new = text[: text.index(START) + len(START)] + "\n" + render() + "\n" + text[text.index(END) :]
    if "--write" in sys.argv:
        readme.write_text(new)
        return 0
    if new != text:
        print("README.md's Control API reference is out of date: python scripts/api_reference.py --write")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
