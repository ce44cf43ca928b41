"""The registry's row type: one BFL generation endpoint as data (path, schema, family, price, limits)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mock_server.core.endpoints.checks import Check
from mock_server.core.endpoints.family import AnyFamily, missing_members
from mock_server.core.endpoints.pricing import Price, Quote, quote


@dataclass(frozen=True)
class Endpoint:
    name: str  # the path after /v1/
    schema: str | dict[str, Any]  # a schema in schemas/ by name, or an inline JSON Schema
    family: AnyFamily
    summary: str = ""
    price: Price = None  # credits (or of input/output MP); None: the ``cost_per_request`` setting
    active_limit: int | None = None  # active tasks per key; None: the ``active_task_limit`` setting
    requires_finetune: bool = False  # ``finetune_id`` must name a usable finetune of the key's account
    checks: tuple[Check, ...] = ()  # validation beyond the schema (what the OpenAPI cannot express)
    cost_fields: str = "null"  # the submit answer's cost/input_mp/output_mp: "absent", "null" or "values"
    evidence: str = ""

    def __post_init__(self) -> None:
        if missing := missing_members(self.family):
            raise TypeError(f"endpoint {self.name}: its family lacks {', '.join(missing)} (endpoints.family.Family)")

    def quote(self, params: dict[str, Any], default: float, *, megapixels: bool = True) -> Quote:
        """What a submit costs in credits (the row's ``price``: a number, or a function of the input and output
        megapixels; None: ``default``) and, with ``megapixels``, the input/output MP the answer reports."""
        return quote(self.family, self.price, params, default, megapixels=megapixels)

    @property
    def path(self) -> str:
        return f"/v1/{self.name}"

    @property
    def operation_id(self) -> str:
        slug = self.name.replace("-", "_").replace(".", "_").replace("/", "_")
        return f"{slug}_v1_{slug}_post"

    @property
    def schema_name(self) -> str:
        if isinstance(self.schema, dict):
            return str(self.schema.get("title", self.name))
        return self.schema.removeprefix("spec:")
