"""Hypothesis strategies for the request bodies of BFL's endpoints added after April 2026, derived from the
vendored ``schemas/openapi/bfl-2026-12-additions.json``: each property present or not, valid or not (out of
bounds, wrong type, coercible strings, wrong members of unions), plus unknown keys; for FLUX 3 video, any of
the four modes under its short key or alias, a missing or unknown ``mode``, and fields of another mode."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from .strategies import invalid_value as april_invalid
from .strategies import json_values, text

URLS = st.builds(
    lambda h, p: f"http://{h}.test/{p}",
    st.from_regex(r"[a-z]{1,10}", fullmatch=True),
    st.from_regex(r"[a-z0-9/]{0,20}", fullmatch=True),
)


def _resolve(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in prop:
        prop = {**defs[prop["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in prop.items() if k != "$ref"}}
    return prop


def valid_value(prop: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[Any]:
    prop = _resolve(prop, defs)
    if "anyOf" in prop:
        return st.one_of([valid_value(m, defs) for m in prop["anyOf"]])
    if "const" in prop:
        return st.just(prop["const"])
    if "enum" in prop:
        return st.sampled_from(prop["enum"])
    t = prop.get("type")
    if t == "null":
        return st.none()
    if t == "integer":
        return st.integers(int(prop.get("minimum", -(2**40))), int(prop.get("maximum", 2**40)))
    if t == "number":
        return st.floats(prop.get("minimum", -1e9), prop.get("maximum", 1e9), allow_nan=False)
    if t == "boolean":
        return st.booleans()
    if t == "array":
        if "prefixItems" in prop:
            return st.tuples(*[valid_value(p, defs) for p in prop["prefixItems"]]).map(list)
        return st.lists(
            valid_value(prop.get("items", {}), defs), min_size=prop.get("minItems", 0), max_size=prop.get("maxItems", 4)
        )
    if prop.get("format") == "uri":
        return URLS
    lo, hi = prop.get("minLength", 0), min(prop.get("maxLength", 30), 30)
    return st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=lo, max_size=max(lo, hi))


def invalid_value(prop: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[Any]:
    prop = _resolve(prop, defs)
    members = [_resolve(m, defs) for m in prop.get("anyOf", [prop])]
    options: list[st.SearchStrategy[Any]] = [json_values]
    for m in members:
        if m.get("type") == "null":
            continue
        if "const" in m:
            options.append(st.sampled_from([str(m["const"]).upper(), "", " auto", 0, None]))
            continue
        if m.get("type") == "array":
            options.append(st.lists(json_values, max_size=12))
            options.append(st.lists(st.tuples(json_values, json_values).map(list), max_size=3))
            options.append(
                st.lists(st.sampled_from([[1, "a"], [2.5, "b"], ["1", "c"], [1, 2], [1, "a", 3]]), max_size=3)
            )
            continue
        if m.get("type") == "string" and "enum" not in m and "minLength" in m:
            options.append(st.sampled_from(["", "x" * (m.get("maxLength", 256) + 1)]))
        if "enum" in m and m.get("type") == "integer":
            options.append(st.sampled_from([2, -1, "1", 1.0, 0.5, True, "creative"]))
            continue
        options.append(april_invalid(m, defs))
    return st.one_of(options)


@st.composite
def object_bodies(draw: st.DrawFn, schema: dict[str, Any], defs: dict[str, Any] | None = None) -> dict[str, Any]:
    defs = schema.get("$defs", {}) if defs is None else defs
    required = schema.get("required", [])
    out: dict[str, Any] = {}
    for name, prop in schema["properties"].items():
        if name == "mode" and "enum" in prop:  # the discriminator: chosen by union_bodies
            continue
        choice = draw(
            st.sampled_from(
                ["valid", "valid", "valid", "absent", "invalid"]
                if name in required
                else ["valid", "absent", "absent", "invalid"]
            )
        )
        if choice == "valid":
            out[name] = draw(valid_value(prop, defs))
        elif choice == "invalid":
            out[name] = draw(invalid_value(prop, defs))
    if draw(st.integers(0, 3)) == 0:
        out.update(draw(st.dictionaries(text, json_values, max_size=2)))
    return out


@st.composite
def union_bodies(draw: st.DrawFn, schema: dict[str, Any]) -> dict[str, Any]:
    """A body for a root ``oneOf`` with a discriminator: one member's body under one of its tags (or no tag, an
    unknown one, a wrong type), sometimes with a field of another member."""
    defs = schema["$defs"]
    members = [_resolve(m, defs) for m in schema["oneOf"]]
    member = draw(st.sampled_from(members))
    out = draw(object_bodies(member, defs))
    tag = draw(
        st.one_of(
            st.sampled_from(member["properties"]["mode"]["enum"]),
            st.sampled_from(member["properties"]["mode"]["enum"]),
            st.sampled_from([None, "T2V", "video", "", 1, ["t2v"], "draft_task"]),
            st.just("__absent__"),
        )
    )
    if tag != "__absent__":
        out = {"mode": tag, **out} if draw(st.booleans()) else {**out, "mode": tag}
    if draw(st.integers(0, 4)) == 0:
        other = draw(st.sampled_from(members))
        name = draw(st.sampled_from([n for n in other["properties"] if n != "mode"]))
        out[name] = draw(valid_value(other["properties"][name], defs))
    return out


def bodies(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    return union_bodies(schema) if "oneOf" in schema else object_bodies(schema)


def boundaries(schema: dict[str, Any]) -> list[tuple[str | None, dict[str, Any]]]:
    """(member tag, {field: value}) at every numeric bound's edges, in and out, and every enum member, for each
    object schema (each member of a union, under its short tag)."""
    defs = schema.get("$defs", {})
    objects = [_resolve(m, defs) for m in schema["oneOf"]] if "oneOf" in schema else [schema]
    out: list[tuple[str | None, dict[str, Any]]] = []
    for obj in objects:
        tag = obj["properties"]["mode"]["enum"][0] if "oneOf" in schema else None
        for name, prop in obj["properties"].items():
            for m in [_resolve(x, defs) for x in _resolve(prop, defs).get("anyOf", [prop])]:
                m = _resolve(m, defs)
                t = m.get("type")
                for key, sign in (("minimum", 1), ("maximum", -1)):
                    if key in m and t in ("integer", "number"):
                        edge = m[key]
                        step = 1 if t == "integer" else 0.5
                        out += [(tag, {name: v}) for v in (edge, edge + sign * step, edge - sign * step)]
                out += [(tag, {name: v}) for v in m.get("enum", [])]
                if "const" in m:
                    out += [(tag, {name: m["const"]}), (tag, {name: str(m["const"]).upper()})]
    return out
