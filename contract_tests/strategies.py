"""Hypothesis strategies for request bodies, derived from ``schemas/FinetuneCannyInputs.json``."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from mock_server.core.schemas import load_schema

SCHEMA = load_schema("FinetuneCannyInputs")
PROPS: dict[str, Any] = SCHEMA["properties"]
REQUIRED: list[str] = SCHEMA["required"]

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)  # no lone surrogates
finite = st.floats(allow_nan=False, allow_infinity=False)
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(10**20), 10**20), finite, text)
json_values = st.recursive(
    json_scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(text, c, max_size=3), max_leaves=6
)


def _branch(prop: dict[str, Any], defs: dict[str, Any] | None = None) -> tuple[dict[str, Any], bool]:
    defs = SCHEMA["$defs"] if defs is None else defs
    if "anyOf" in prop:
        inner = next(m for m in prop["anyOf"] if m.get("type") != "null")
        if "$ref" in inner:
            inner = defs[inner["$ref"].rsplit("/", 1)[-1]]
        return inner, True
    if "$ref" in prop:
        return defs[prop["$ref"].rsplit("/", 1)[-1]], False
    return prop, False


def valid_value(prop: dict[str, Any], defs: dict[str, Any] | None = None) -> st.SearchStrategy[Any]:
    inner, nullable = _branch(prop, defs)
    t = inner.get("type")
    if "enum" in inner:
        s: st.SearchStrategy[Any] = st.sampled_from(inner["enum"])
    elif t == "integer" and "multipleOf" in inner:
        step = int(inner["multipleOf"])
        lo, hi = int(inner.get("minimum", 0)), int(inner.get("maximum", 2**20))
        s = st.integers(-(-lo // step), hi // step).map(lambda n: n * step)
    elif t == "integer":
        s = st.integers(int(inner.get("minimum", -(2**40))), int(inner.get("maximum", 2**40)))
    elif t == "number":
        s = st.floats(inner.get("minimum", -1e9), inner.get("maximum", 1e9), allow_nan=False)
    elif t == "boolean":
        s = st.booleans()
    elif inner.get("format") == "uri":
        s = st.builds(
            lambda h, p: f"http://{h}.test/{p}",
            st.from_regex(r"[a-z]{1,10}", fullmatch=True),
            st.from_regex(r"[a-z0-9/]{0,20}", fullmatch=True),
        )
    else:
        s = text
    return s | st.none() if nullable else s


def invalid_value(prop: dict[str, Any], defs: dict[str, Any] | None = None) -> st.SearchStrategy[Any]:
    """Out of bounds, wrong type, or a coercible string (which may or may not be valid)."""
    inner, _ = _branch(prop, defs)
    t = inner.get("type")
    options: list[st.SearchStrategy[Any]] = [json_values]
    if t in ("integer", "number"):
        if "maximum" in inner:
            options.append(st.integers(int(inner["maximum"]) + 1, int(inner["maximum"]) + 10**6))
            options.append(st.floats(inner["maximum"], 1e12, allow_nan=False, exclude_min=True))
        if "minimum" in inner:
            options.append(st.integers(-(10**6), int(inner["minimum"]) - 1))
        options.append(st.integers(-1000, 1000).map(str))  # numeric strings
        options.append(st.floats(-1000, 1000, allow_nan=False).map(str))
        options.append(st.floats(-100, 100, allow_nan=False).map(lambda f: round(f, 1)))
        options.append(st.sampled_from(["", " 1", "1e3", "0x10", "1_000", "٣"]))
        if "multipleOf" in inner:
            options.append(st.integers(0, 2000))  # mostly not multiples
    if t == "boolean":
        options.append(
            st.sampled_from(
                ["yes", "no", "true", "False", "on", "off", "t", "f", "1", "0", "2", "maybe", 0, 1, 2, 0.0, 1.0, 1.5]
            )
        )
    if "enum" in inner:
        options.append(st.sampled_from(["JPEG", "webp", "png ", "jpg", "", "gif"]))
    if inner.get("format") == "uri":
        options.append(
            st.sampled_from(
                [
                    "",
                    "notaurl",
                    "ftp://x",
                    "http://",
                    "https://exa mple.com",
                    "http://example.com",
                    "HTTP://EXAMPLE.COM:80/a",
                    "https://user:pw@host:8443/p?q=1#f",
                    "http://[::1]:9/",
                    "http://127.0.0.1:99999",
                    "mailto:a@b.c",
                    "http://" + "a" * 2100 + ".com",
                    "http://ünïcode.example/ä",
                    "//no-scheme.example",
                    "http:/one-slash",
                ]
            )
        )
        options.append(st.builds(lambda s, t_: s + t_, st.sampled_from(["http://", "https://", "ws://", ""]), text))
    return st.one_of(options)


@st.composite
def bodies(draw: st.DrawFn, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """A body for ``schema`` (default: the canny endpoint's) with each property present or not, valid or not,
    plus maybe extra keys."""
    schema = SCHEMA if schema is None else schema
    defs, required = schema.get("$defs", {}), schema.get("required", [])
    out: dict[str, Any] = {}
    for name, prop in schema["properties"].items():
        mode = draw(
            st.sampled_from(
                ["valid", "valid", "valid", "absent", "invalid"]
                if name in required
                else ["valid", "absent", "absent", "invalid"]
            )
        )
        if mode == "valid":
            out[name] = draw(valid_value(prop, defs))
        elif mode == "invalid":
            out[name] = draw(invalid_value(prop, defs))
    if draw(st.booleans()):
        out.update(draw(st.dictionaries(text, json_values, max_size=2)))
    return out


def raw_payloads() -> st.SearchStrategy[bytes]:
    """Non-object JSON, malformed JSON, and junk."""
    return st.one_of(
        json_values.map(lambda v: json.dumps(v).encode()),
        bodies().map(lambda b: json.dumps(b).encode()[: max(1, len(json.dumps(b)) // 2)]),
        st.binary(max_size=40),
        st.sampled_from(
            [b"", b"{", b"}", b"[", b"nul", b'{"a":}', b'{"a":1,}', b"  ", b"\n{}\n", b"{}{}", b'{"a":1} x']
        ),
    )


# ---------------------------------------------------------------------------------------------- every endpoint
NOT_GENERATED = {"webhook_url", "webhook_secret", "input_image_blob_path", "image_prompt"}  # separate checks
# aspect ratios with a published output size (Ultra) and inside Kontext's documented 3:7 .. 7:3
ULTRA_RATIOS = ["21:9", "16:9", "4:3", "3:2", "1:1", "2:3", "3:4", "9:16", "9:21"]
KONTEXT_RATIOS = ["7:3", "16:9", "4:3", "3:2", "1:1", "2:3", "3:4", "9:16", "3:7"]


@st.composite
def png_b64(draw: st.DrawFn) -> str:
    """A small real PNG (its size and colours drawn), as base64."""
    import base64
    import io

    from PIL import Image

    w, h = draw(st.integers(16, 160)), draw(st.integers(16, 160))
    im = Image.new("RGB", (w, h), draw(st.tuples(*[st.integers(0, 255)] * 3)))
    im.paste(Image.new("RGB", (max(1, w // 2), max(1, h // 2)), (20, 20, 20)), (w // 4, h // 4))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


@st.composite
def valid_bodies(draw: st.DrawFn, schema: dict[str, Any], image_fields: tuple[str, ...]) -> dict[str, Any]:
    """A body the real endpoint accepts and can finish: every property present or not and valid, images real,
    sizes within the documented 4 MP (FLUX.2's width/height have no upper bound in the spec), ratios from the
    documented ranges, and a finetune that exists."""
    defs, required = schema.get("$defs", {}), schema.get("required", [])
    inputs = [f for f in image_fields if f != "image_prompt"]
    needed = sum(1 for f in inputs if f in required)  # every required image (erase's mask, try-on's garment)
    n_inputs = draw(st.integers(needed, max(needed, min(3, len(inputs)))))
    out: dict[str, Any] = {f: draw(png_b64()) for f in inputs[:n_inputs]}
    ratios = ULTRA_RATIOS if "finetune_strength" in schema["properties"] or "raw" in schema["properties"] else None
    for name, prop in schema["properties"].items():
        if name in NOT_GENERATED or name in image_fields or (name not in required and draw(st.booleans())):
            continue
        if name == "finetune_id":
            out[name] = "my-finetune"
        elif name == "aspect_ratio":
            out[name] = draw(st.sampled_from(ratios or KONTEXT_RATIOS))
        elif name in ("width", "height") and "reference_offset_x" in schema["properties"]:
            out[name] = draw(st.integers(160, 2048))  # the outpainting canvas holds the input (up to 160 px)
        elif name in ("width", "height") and "multipleOf" not in _branch(prop, defs)[0]:
            out[name] = draw(st.integers(64, 2048))
        elif name in ("top", "bottom", "left", "right"):
            out[name] = draw(st.integers(0, 256))
        elif name in ("reference_offset_x", "reference_offset_y", "user"):
            continue  # outpainting: centred (an offset may place the image outside); user: optional, 1..256
        else:
            out[name] = draw(valid_value(prop, defs))
    return out


def violations(schema: dict[str, Any]) -> list[tuple[str, Any]]:
    """(field, bad value) for every bound, enum, multiple, URL length and type in ``schema``, one at a time."""
    out: list[tuple[str, Any]] = []
    for name, prop in schema["properties"].items():
        inner, _ = _branch(prop, schema.get("$defs", {}))
        t = inner.get("type")
        if "maximum" in inner:
            out.append((name, int(inner["maximum"]) + 1))
        if "minimum" in inner:
            out.append((name, int(inner["minimum"]) - 1))
        if "multipleOf" in inner:
            out.append((name, int(inner.get("minimum", 0)) + int(inner["multipleOf"]) + 1))
        if "enum" in inner:
            out.append((name, "not-" + str(inner["enum"][0])))
        if inner.get("maxLength") is not None and inner.get("format") == "uri":
            out.append((name, "http://x.test/" + "a" * inner["maxLength"]))
        out.append((name, {"string": 12, "integer": "twelve", "number": "big", "boolean": "maybe"}.get(t, [1])))
    return out


def boundaries(schema: dict[str, Any]) -> list[tuple[str, Any]]:
    """(field, value) at every edge of every bound, one at a time, in and out: the minimum and maximum, their
    neighbours inside and outside, every enum member. Sent to the target and the oracle on every run, so a
    moved bound is caught whatever the random examples were."""
    out: list[tuple[str, Any]] = []
    for name, prop in schema["properties"].items():
        inner, _ = _branch(prop, schema.get("$defs", {}))
        t = inner.get("type")
        step = int(inner.get("multipleOf", 1)) if t == "integer" else 1
        for key, sign in (("minimum", 1), ("maximum", -1)):
            if key not in inner or t not in ("integer", "number"):
                continue
            edge = inner[key]
            out += [(name, edge), (name, edge + sign * step), (name, edge - sign * step)]
            if t == "number":
                out += [(name, edge + sign * 0.5), (name, edge - sign * 0.5)]
        out += [(name, v) for v in inner.get("enum", [])]
    unique = dict.fromkeys((f, json.dumps(v)) for f, v in out)  # once each, in order
    return [(f, json.loads(v)) for f, v in unique]
