"""Request validation that answers exactly as FastAPI + pydantic v2 (lax mode) do.

``build_model`` compiles a JSON Schema (``schemas/FinetuneCannyInputs.json``) into a pydantic v2 model at
start-up, so the schema is the single source of truth: change a bound in the schema and the accepted set
changes with it. ``parse_body`` and ``validate_body`` replay FastAPI's own request pipeline (content-type
sniffing, ``json.loads``, ``json_invalid`` at ``["body", pos]``, ``missing`` at ``["body"]``,
``from_attributes`` validation giving ``model_attributes_type`` for non-objects, ``include_url=False``).
"""

from __future__ import annotations

import email.message
import enum
import json
import math
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import AnyUrl, BaseModel, ConfigDict, Field, RootModel, UrlConstraints, ValidationError, create_model
from pydantic.types import StringConstraints

from mock_server.core.errors import ApiError, ConfigError, ValidationFailed, body_parse_error

MISSING: Any = object()  # an empty request body


# --------------------------------------------------------------------------- model from schema
def _bounds(prop: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, kw in (
        ("minimum", "ge"),
        ("maximum", "le"),
        ("exclusiveMinimum", "gt"),
        ("exclusiveMaximum", "lt"),
        ("multipleOf", "multiple_of"),  # BFL's width/height: multiples of 32 (FLUX 1.1 [pro], [dev])
    ):
        if key in prop:
            value = prop[key]
            # BFL's published spec writes integer bounds as floats (``maximum: 6.0``, ``multipleOf: 32.0``), a
            # serialisation artifact: pydantic emits ``6`` for ``le=6``, and FastAPI's 422 ``ctx`` says ``6``.
            if prop.get("type") == "integer" and isinstance(value, float) and value.is_integer():
                value = int(value)
            out[kw] = value
    return out


def _enum(name: str, values: list[Any]) -> type[enum.Enum]:
    kind = int if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values) else str
    return enum.Enum(name, {str(v): v for v in values}, type=kind)  # type: ignore[return-value]


class _Compiler:
    """One schema's compilation: its ``$defs``, the enum classes and models made so far, and how an inline
    ``enum`` reads. BFL's April spec (compiled as before) becomes Enum classes; a spec that pydantic published
    (``x-inline-enum: literal``, the 2026 additions) had ``Literal`` for an inline enum and an Enum class only
    behind a ``$ref``, which is what pydantic emits for each."""

    def __init__(self, defs: dict[str, Any], *, literal_enums: bool) -> None:
        self.defs = defs
        self.literal_enums = literal_enums
        self.enums: dict[str, type[enum.Enum]] = {}
        self.models: dict[str, type[BaseModel]] = {}

    def annotation(self, name: str, prop: dict[str, Any]) -> Any:
        if "anyOf" in prop:
            members = prop["anyOf"]
            non_null = [m for m in members if m.get("type") != "null"]
            nullable = len(non_null) < len(members)
            if not self.literal_enums and (len(non_null) != 1 or len(members) > 2):
                raise ConfigError(f"{name}: only `X | null` unions are supported")
            inner = [self.annotation(name, m) for m in non_null]
            union = inner[0] if len(inner) == 1 else Union[tuple(inner)]  # noqa: UP007 (runtime-built)
            return Optional[union] if nullable else union  # noqa: UP045 (runtime-built annotation)
        if "$ref" in prop:
            ref = prop["$ref"].rsplit("/", 1)[-1]
            if ref not in self.defs:
                raise ConfigError(f"{name}: unresolved $ref {prop['$ref']}")
            target = self.defs[ref]
            if "enum" in target:
                if ref not in self.enums:
                    self.enums[ref] = _enum(target.get("title", ref), target["enum"])
                return self.enums[ref]
            if target.get("type") == "object" and self.literal_enums:
                return self.model(ref)
            return self.annotation(name, target)
        if "const" in prop:
            return Literal[prop["const"]]
        if "enum" in prop:
            if self.literal_enums:
                return Literal[tuple(prop["enum"])]
            key = f"{name}_enum"
            self.enums.setdefault(key, _enum(prop.get("title", key), prop["enum"]))
            return self.enums[key]
        typ = prop.get("type")
        if typ == "array":
            return self._array(name, prop)
        if typ == "string":
            if prop.get("format") in ("uri", "url"):
                schemes = prop.get("x-url-schemes")
                if schemes is None and prop.get("maxLength") == 2083 and prop.get("minLength") == 1:
                    schemes = ["http", "https"]  # exactly the JSON Schema pydantic emits for HttpUrl
                return Annotated[AnyUrl, UrlConstraints(max_length=prop.get("maxLength"), allowed_schemes=schemes)]
            constraints = {}
            if "minLength" in prop:
                constraints["min_length"] = prop["minLength"]
            if "maxLength" in prop:
                constraints["max_length"] = prop["maxLength"]
            if "pattern" in prop:
                constraints["pattern"] = prop["pattern"]
            # ``format: password`` is pydantic's SecretStr: the same accepted set and errors as str
            return Annotated[str, StringConstraints(**constraints)] if constraints else str
        if typ == "number":
            bounds = _bounds(prop)
            return Annotated[float, Field(**bounds)] if bounds else float
        if typ == "integer":
            bounds = _bounds(prop)
            return Annotated[int, Field(**bounds)] if bounds else int
        if typ == "boolean":
            return bool
        raise ConfigError(f"{name}: unsupported schema {prop!r}")

    def _array(self, name: str, prop: dict[str, Any]) -> Any:
        if not self.literal_enums:
            raise ConfigError(f"{name}: unsupported schema {prop!r}")
        if "prefixItems" in prop:  # a fixed tuple: pydantic's tuple[A, B] (min/maxItems = its length)
            return tuple[tuple(self.annotation(name, p) for p in prop["prefixItems"])]  # type: ignore[misc]
        inner = self.annotation(name, prop["items"]) if "items" in prop else Any
        lengths = {k: prop[j] for j, k in (("minItems", "min_length"), ("maxItems", "max_length")) if j in prop}
        return Annotated[list[inner], Field(**lengths)] if lengths else list[inner]  # type: ignore[valid-type]

    def model(self, ref: str) -> type[BaseModel]:
        if ref not in self.models:
            self.models[ref] = self.object_model(self.defs[ref])
        return self.models[ref]

    def object_model(self, schema: dict[str, Any]) -> type[BaseModel]:
        required = set(schema.get("required", []))
        fields: dict[str, Any] = {}
        for name, prop in schema["properties"].items():
            annotation = self.annotation(name, prop)
            default = ... if name in required else prop.get("default", None)
            for enum_cls in self.enums.values():  # an enum default is the member, as in a hand-written model
                if default is not None and default is not ... and any(m.value == default for m in enum_cls):
                    default = enum_cls(default)
            fields[name] = (annotation, Field(default, title=prop.get("title"), description=prop.get("description")))
        config = ConfigDict(extra="forbid") if schema.get("additionalProperties") is False else None
        return create_model(schema.get("title", "Body"), __config__=config, **fields)


def build_model(schema: dict[str, Any]) -> type[BaseModel]:
    """Compile an object JSON Schema into a pydantic v2 model (fields in the schema's property order).

    With ``x-inline-enum: literal`` (a spec pydantic published) also: ``const`` and inline enums as
    ``Literal``, unions of several types, arrays and fixed tuples (``prefixItems``), ``additionalProperties:
    false`` as ``extra="forbid"``, and a root ``oneOf`` with a ``discriminator`` as a ``RootModel`` over a
    discriminated union (so a 422 reports only the member the client chose, under its tag)."""
    compiler = _Compiler(schema.get("$defs", {}), literal_enums=schema.get("x-inline-enum") == "literal")
    if "oneOf" in schema and "discriminator" in schema and compiler.literal_enums:
        members = tuple(compiler.annotation("body", m) for m in schema["oneOf"])
        field = schema["discriminator"]["propertyName"]
        root = Annotated[Union[members], Field(discriminator=field)]  # type: ignore[valid-type]  # noqa: UP007
        return create_model(schema.get("title", "Body"), __base__=RootModel[root])
    if schema.get("type") != "object" or "properties" not in schema:
        raise ConfigError("request schema must be an object schema with properties")
    return compiler.object_model(schema)


# --------------------------------------------------------------------------- FastAPI's body pipeline
def _is_json_content_type(content_type: str) -> bool:
    if content_type == "application/json":
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


def too_many_values(body: bytes, limit: int) -> bool:
    """Whether ``body`` has more than ``limit`` value separators (commas, in strings too): a cheap upper bound
    of its JSON values, found with ``bytes.find`` (memchr speed; base64 images have no commas) and stopping
    past ``limit``. 0 turns the bound off."""
    if limit <= 0:
        return False
    i = -1
    for _ in range(limit + 1):
        i = body.find(b",", i + 1)
        if i < 0:
            return False
    return True


def parse_body(body: bytes, content_type: str | None, *, strict_content_type: bool = True, max_values: int = 0) -> Any:
    """What FastAPI hands to validation: MISSING, the decoded JSON value, or the raw bytes.

    Raises ValidationFailed (``json_invalid``) or ApiError 400 exactly where FastAPI does. A body of more than
    ``max_values`` JSON values (its commas, counted before parsing) is answered as a body FastAPI cannot parse
    (400): parsing 600,000 tiny objects would hold the event loop for a second (a deliberate deviation).
    """
    if not body:
        return MISSING
    try:
        is_json = _is_json_content_type(content_type) if content_type else not strict_content_type
        if is_json:
            if too_many_values(body, max_values):
                raise body_parse_error()
            return json.loads(body)
    except json.JSONDecodeError as e:
        raise ValidationFailed(
            [
                {
                    "type": "json_invalid",
                    "loc": ["body", e.pos],
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": e.msg},
                }
            ]
        ) from None
    except ApiError:
        raise
    except Exception:  # UnicodeDecodeError, RecursionError ... (FastAPI: 400)
        raise body_parse_error() from None
    return body


def _scalar(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    return str(value)


def jsonable(value: Any) -> Any:
    """FastAPI's jsonable_encoder for what can appear in a validation error, minus its crashes.

    Deviations (documented): undecodable bytes use U+FFFD instead of raising, and non-finite floats
    (NaN, Infinity, 1e400) become null instead of making the real service answer 500. Iterative, so an
    input nested as deep as ``json.loads`` accepts is echoed (as FastAPI does) instead of overflowing.
    """
    if not isinstance(value, (dict, list, tuple)):
        return _scalar(value)
    holder: list[Any] = [None]
    stack: list[tuple[Any, Any, Any]] = [(value, holder, 0)]
    while stack:
        src, parent, key = stack.pop()
        if isinstance(src, dict):
            out: dict[str, Any] = {}
            parent[key] = out
            for k, v in src.items():
                out[str(k)] = None  # keeps the order; filled in below
                stack.append((v, out, str(k)))
        elif isinstance(src, (list, tuple)):
            items: list[Any] = [None] * len(src)
            parent[key] = items
            stack.extend((v, items, i) for i, v in enumerate(src))
        else:
            parent[key] = _scalar(src)
    return holder[0]


def errors_from(exc: ValidationError, prefix: tuple[str | int, ...]) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors(include_url=False):
        item: dict[str, Any] = {
            "type": err["type"],
            "loc": [*prefix, *err["loc"]],
            "msg": err["msg"],
            "input": jsonable(err["input"]),
        }
        if "ctx" in err:
            item["ctx"] = jsonable(err["ctx"])
        out.append(item)
    return out


def validate_body(model: type[BaseModel], body: Any) -> BaseModel:
    if body is MISSING:
        raise ValidationFailed([{"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}])
    try:
        return model.model_validate(body, from_attributes=True)
    except ValidationError as e:
        raise ValidationFailed(errors_from(e, ("body",))) from None
    except RecursionError:  # absurdly nested input: FastAPI would fail to parse it first
        raise body_parse_error() from None


class JsonBody:
    """A route's JSON body, read as FastAPI reads it, in two steps because FastAPI checks security between
    them: ``parse`` (400 / ``json_invalid``), then ``validate`` against the route's model (422)."""

    def __init__(self, model: type[BaseModel], *, strict_content_type: bool, max_values: int) -> None:
        self.model, self.strict_content_type, self.max_values = model, strict_content_type, max_values

    def parse(self, body: bytes, content_type: str | None) -> Any:
        return parse_body(body, content_type, strict_content_type=self.strict_content_type, max_values=self.max_values)

    def validate(self, data: Any) -> BaseModel:
        return validate_body(self.model, data)


def missing_query(name: str) -> ValidationFailed:
    return ValidationFailed([{"type": "missing", "loc": ["query", name], "msg": "Field required", "input": None}])


# Starlette's JSONResponse arguments (``ensure_ascii=False, allow_nan=False, separators=(",", ":")``), as one
# C encoder built once: ``json.dumps`` with arguments builds an encoder (and a closure) per call, a tenth of
# a poll's time in the fake's own code (measured in-process through the ASGI app). No circular-reference
# markers: the fake renders trees it built (a cycle would end as RecursionError, answered 400, not a hang).
_STARLETTE = json.JSONEncoder(ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
if _c_make_encoder is not None:
    _c_encode = _c_make_encoder(
        None, _STARLETTE.default, json.encoder.encode_basestring, None, ":", ",", False, False, False
    )

    def _encode(obj: Any) -> str:
        return "".join(_c_encode(obj, 0))
else:  # pragma: no cover (CPython without its C accelerator)

    def _encode(obj: Any) -> str:
        return _STARLETTE.encode(obj)


def dumps(obj: Any) -> bytes:
    """Starlette's JSONResponse rendering, byte for byte.

    Where Starlette would crash (a lone surrogate echoed from the request), fall back to ASCII escapes.
    """
    text = _encode(obj)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(obj, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")
