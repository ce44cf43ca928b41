"""Find and load the JSON Schemas that drive the fake.

Lookup order: an explicit directory (argument or ``BFL_MOCK_SCHEMAS``), the copy packaged inside the
wheel (``mock_server/schemas``), then the repository's ``schemas/`` beside the package (editable installs).
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

ENV_VAR = "BFL_MOCK_SCHEMAS"
REQUEST_SCHEMA = "FinetuneCannyInputs"


def schema_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    candidates: list[Path] = []
    if explicit:
        candidates.append(Path(explicit))
    elif os.environ.get(ENV_VAR):
        candidates.append(Path(os.environ[ENV_VAR]))
    here = Path(__file__).resolve().parent.parent  # mock_server/
    candidates += [here / "schemas", here.parent / "schemas"]
    for c in candidates:
        if (c / f"{REQUEST_SCHEMA}.json").is_file():
            return c
    raise FileNotFoundError(
        f"no schemas directory with {REQUEST_SCHEMA}.json found (looked in {', '.join(map(str, candidates))})"
    )


@lru_cache(maxsize=64)
def _load(directory: str, name: str) -> str:
    return (Path(directory) / f"{name}.json").read_text(encoding="utf-8")


def load_schema(name: str, directory: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Return a fresh copy of schema ``name`` (callers may mutate it)."""
    data: dict[str, Any] = json.loads(_load(str(schema_dir(directory)), name))
    return data


def available(directory: str | os.PathLike[str] | None = None) -> list[str]:
    return sorted(p.stem for p in schema_dir(directory).glob("*.json"))


SPEC_DATE = "2026-04-23"  # the day BFL published the OpenAPI that is vendored (fixtures/reference, in the wheel)
SPEC_FILE = f"bfl-openapi-{SPEC_DATE}.json"
SPEC_LABEL = f"BFL OpenAPI {SPEC_DATE} (vendored)"  # how drift reports name it
SPEC_PREFIX = "spec:"


def spec_path() -> Path:
    here = Path(__file__).resolve().parent.parent  # mock_server/
    for candidate in (here / "fixtures" / "reference" / SPEC_FILE, here.parent / "fixtures" / "reference" / SPEC_FILE):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"the vendored BFL OpenAPI ({SPEC_FILE}) is missing from fixtures/reference")


@lru_cache(maxsize=1)
def _spec() -> str:
    return spec_path().read_text(encoding="utf-8")


def load_spec_component(name: str) -> dict[str, Any]:
    """A request schema exactly as BFL publishes it (``components/schemas/<name>`` of the vendored OpenAPI),
    bundled into one JSON Schema: every ``#/components/schemas/X`` it refers to becomes ``$defs/X``."""
    components: dict[str, Any] = json.loads(_spec())["components"]["schemas"]
    if name not in components:
        raise KeyError(f"{name} is not a schema of BFL's OpenAPI ({SPEC_FILE})")
    defs: dict[str, Any] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                target = ref.rsplit("/", 1)[-1]
                node["$ref"] = f"#/$defs/{target}"
                if target not in defs:
                    defs[target] = dict(components[target])
                    walk(defs[target])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    schema: dict[str, Any] = json.loads(json.dumps(components[name]))
    walk(schema)
    if defs:
        schema["$defs"] = defs
    return schema


def load_request_schema(ref: str, directory: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """``spec:<Component>`` from BFL's OpenAPI, else a schema file in ``schemas/``."""
    return load_spec_component(ref[len(SPEC_PREFIX) :]) if ref.startswith(SPEC_PREFIX) else load_schema(ref, directory)
