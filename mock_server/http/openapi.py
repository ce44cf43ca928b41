"""``GET /openapi.json``: an OpenAPI 3.1 document of what the fake serves, built from ``schemas/``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mock_server.core.config import Settings
from mock_server.core.endpoints import Endpoint
from mock_server.core.errors import ADMIN_PREFIX
from mock_server.core.schemas import SPEC_PREFIX, available, load_schema, load_spec_component
from mock_server.core.version import __version__
from mock_server.http.routes import Route

_META = ("$schema", "$id", "$comment")


def _components(schema_dir: str | None) -> dict[str, Any]:
    comps: dict[str, Any] = {}
    fix = _fix_refs
    for name in available(schema_dir):
        if name == "webhook_profiles":
            continue
        if name == "admin":  # only its $defs: the admin bodies
            for dname, d in load_schema(name, schema_dir)["$defs"].items():
                comps[dname] = fix(d)
            continue
        s = load_schema(name, schema_dir)
        for meta in _META:
            s.pop(meta, None)
        for dname, d in s.pop("$defs", {}).items():
            comps[dname] = fix(d)
        comps[name] = fix(s)
    return comps


def _fix_refs(node: Any) -> Any:
    """Every ``$ref`` (``#/$defs/X``, a file's own or a bundled spec schema's) -> ``#/components/schemas/X``."""
    if isinstance(node, dict):
        return {
            k: ("#/components/schemas/" + v.rsplit("/", 1)[-1]) if k == "$ref" else _fix_refs(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_fix_refs(x) for x in node]
    return node


def _json(ref: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


def _err(desc: str) -> dict[str, Any]:
    return {"description": desc, **_json("ErrorDetail")}


def _responses(route: Route) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for code, (description, schema) in route.responses.items():
        if schema is None:
            out[code] = {"description": description}
        elif isinstance(schema, tuple):
            refs = [{"$ref": f"#/components/schemas/{name}"} for name in schema]
            out[code] = {"description": description, "content": {"application/json": {"schema": {"anyOf": refs}}}}
        else:
            out[code] = {"description": description, **_json(schema)}
    return out


ADMIN_RESPONSES = {
    "200": {"description": "OK"},
    "400": _err("A body or query that does not fit its schema (the detail names the field)"),
    "403": _err("Not loopback, or --admin-token set and the token missing or wrong"),
}
X_MOCK_KEY = {
    "name": "X-Mock-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "scope listings and reset to one API key (parallel workers)",
}


def operation(route: Route) -> dict[str, Any]:
    admin = route.path.startswith(ADMIN_PREFIX)
    op: dict[str, Any] = {"tags": [route.tag], "summary": route.summary, "operationId": route.operation_id}
    params: list[dict[str, Any]] = [X_MOCK_KEY] if admin else []
    params += [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in route.params]
    params += [{"name": n, "in": "query", "required": True, "schema": {"type": "string"}} for n in route.query]
    params += [
        {"name": n, "in": "query", "required": False, "schema": {"type": "string"}} for n in route.optional_query
    ]
    if params:
        op["parameters"] = params
    if route.secured:
        op["security"] = [{"APIKeyHeader": []}]
    if admin:
        op["security"] = [{}, {"AdminBearer": []}, {"AdminTokenHeader": []}]
    if route.body:
        op["requestBody"] = {"required": True, **_json(route.body)}
    op["responses"] = (
        _responses(route) if route.responses else ADMIN_RESPONSES if admin else {"200": {"description": "OK"}}
    )
    return op


def build_openapi(settings: Settings, routes: list[Route], endpoints: Sequence[Endpoint]) -> dict[str, Any]:
    """The document of ``routes`` (``routes.api_routes`` + ``ADMIN_ROUTES``): paths from the tables, schemas from
    ``schemas/`` plus any inline endpoint schema."""
    paths: dict[str, Any] = {}
    for route in routes:
        if route.handler == "openapi" or route.path == ADMIN_PREFIX:
            continue
        paths.setdefault(route.path, {})[route.method.lower()] = operation(route)
    components = _components(settings.schema_dir)
    for ep in endpoints:
        if isinstance(ep.schema, dict):
            components[ep.schema_name] = ep.schema
        elif ep.schema.startswith(SPEC_PREFIX):  # BFL's own schema, as published
            bundled = load_spec_component(ep.schema_name)
            for name, definition in bundled.pop("$defs", {}).items():
                components.setdefault(name, _fix_refs(definition))
            components[ep.schema_name] = _fix_refs(bundled)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "bfl-mock: BFL's image API (fake)",
            "version": __version__,
            "description": "A local fake of BFL's API. Driven by schemas/; admin endpoints under /_mock/.",
        },
        "servers": [{"url": settings.public_url or "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "APIKeyHeader": {"type": "apiKey", "in": "header", "name": "x-key"},
                "AdminBearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "bfl-mock admin API with --admin-token: `Authorization: Bearer <token>`",
                },
                "AdminTokenHeader": {"type": "apiKey", "in": "header", "name": "X-Admin-Token"},
            },
        },
        "tags": [
            {"name": "Models"},
            {"name": "Utility"},
            {"name": "Delivery"},
            {"name": "bfl-mock admin", "description": "Control the fake (loopback only unless --admin-token)."},
        ],
    }
