"""The Python control API reference (from the docstrings) and the endpoint table (from the registry).

``scripts/gen_docs.py`` writes them into docs/python-api.md and docs/endpoints.md with the other generated
reference tables; ``python scripts/api_reference.py [--write]`` is the same as running it."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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


def main() -> int:
    sys.path.insert(0, str(ROOT / "scripts"))
    from gen_docs import main as gen_docs

    return gen_docs()


if __name__ == "__main__":
    raise SystemExit(main())
