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
