"""BFL's endpoints added after the April 2026 OpenAPI, as vendored in ``schemas/openapi/bfl-2026-12-additions.json``
(built by ``scripts/build_spec_2026_12.py`` from the evidence file, each schema with its source).

The FLUX 3 video spec moved while it was published: its snapshots disagree on the resolution tiers, the
aspect ratios and the draft-enhance fields. The file keeps each snapshot as data (``x-bfl-mock-snapshots``);
``load_component`` applies one (setting ``flux3_video_snapshot``; default the newest high-confidence one), so
a request model compiled from it accepts what that snapshot accepts.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from mock_server.core.errors import ConfigError

ADDITIONS_FILE = "bfl-2026-12-additions.json"
SPEC_PREFIX = "spec2026:"  # an endpoint row's schema ``spec2026:<Component>``
_REF = "#/components/schemas/"


def additions_path() -> Path:
    here = Path(__file__).resolve().parent.parent  # mock_server/
    for candidate in (
        here / "schemas" / "openapi" / ADDITIONS_FILE,
        here.parent / "schemas" / "openapi" / ADDITIONS_FILE,
    ):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"the vendored 2026-12 additions ({ADDITIONS_FILE}) are missing from schemas/openapi")


@lru_cache(maxsize=1)
def _text() -> str:
    return additions_path().read_text(encoding="utf-8")


def spec() -> dict[str, Any]:
    """A fresh copy of the whole additions document."""
    data: dict[str, Any] = json.loads(_text())
    return data


def snapshot_names() -> tuple[str, ...]:
    return tuple(spec()["x-bfl-mock-snapshots"]["snapshots"])


def default_snapshot() -> str:
    return str(spec()["x-bfl-mock-snapshots"]["default"])


def snapshot(name: str | None = None) -> dict[str, Any]:
    """One snapshot's data (enums, draft-enhance fields, source, confidence)."""
    snaps = spec()["x-bfl-mock-snapshots"]
    name = name or snaps["default"]
    if name not in snaps["snapshots"]:
        raise ConfigError(f"unknown FLUX 3 video snapshot {name!r}; expected one of {', '.join(snaps['snapshots'])}")
    data: dict[str, Any] = snaps["snapshots"][name]
    return data


def components(snapshot_name: str | None = None) -> dict[str, Any]:
    """``components/schemas`` with ``snapshot_name`` applied."""
    comps: dict[str, Any] = spec()["components"]["schemas"]
    snap = snapshot(snapshot_name)
    for enum_name, values in snap["enums"].items():
        comps[enum_name]["enum"] = list(values)
    draft = comps["Flux3VideoDraftEnhanceInputs"]
    renamed: dict[str, str] = snap.get("renamed", {})
    props: dict[str, Any] = {}
    for name in snap["draft_enhance_properties"]:
        old = next((k for k, v in renamed.items() if v == name), name)
        prop = copy.deepcopy(draft["properties"][old])
        if old != name:
            prop["title"] = name.replace("_", " ").title()
        props[name] = prop
    draft["properties"] = props
    draft["required"] = [renamed.get(r, r) for r in draft["required"] if renamed.get(r, r) in props]
    return comps


def load_component(name: str, snapshot_name: str | None = None) -> dict[str, Any]:
    """Component ``name`` bundled into one JSON Schema (every ``#/components/schemas/X`` it refers to becomes
    ``$defs/X``), as ``schemas.load_spec_component`` does for the April spec."""
    comps = components(snapshot_name)
    if name not in comps:
        raise KeyError(f"{name} is not a schema of {ADDITIONS_FILE}")
    defs: dict[str, Any] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(_REF):
                target = ref.rsplit("/", 1)[-1]
                node["$ref"] = f"#/$defs/{target}"
                if target not in defs:
                    defs[target] = copy.deepcopy(comps[target])
                    walk(defs[target])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    schema: dict[str, Any] = copy.deepcopy(comps[name])
    walk(schema)
    if defs:
        schema["$defs"] = defs
    schema["x-inline-enum"] = "literal"  # pydantic published it: an inline enum is a Literal (http.validation)
    return schema


def added_paths() -> dict[str, str]:
    """Every generation path added since the April spec -> its request component."""
    out: dict[str, str] = {}
    for path, ops in spec()["paths"].items():
        post = ops.get("post")
        if post and "requestBody" in post:
            ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            out[path] = ref.rsplit("/", 1)[-1]
    return out
