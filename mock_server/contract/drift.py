"""Schema drift: ``schemas/`` and the fake's real answers compared with BFL's published references (the
vendored OpenAPI and endpoint page, optionally the live OpenAPI)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mock_server.contract.targets import LIVE_URL
from mock_server.core.schemas import SPEC_FILE, SPEC_LABEL, load_schema


def _endpoints() -> tuple[Any, ...]:
    from mock_server.core.endpoints import ENDPOINTS

    return ENDPOINTS


def reference_dir() -> Path:
    here = Path(__file__).resolve().parent.parent  # mock_server/: its own copy (a wheel), else the checkout's
    for c in (here / "fixtures" / "reference", here.parent / "fixtures" / "reference"):
        if c.is_dir():
            return c
    raise FileNotFoundError("no vendored reference directory (fixtures/reference)")


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        return _resolve(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    return node


def _shape(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """The comparable facts of a property: types, bounds, enum, default."""
    members = prop.get("anyOf", [prop])
    types: list[str] = []
    facts: dict[str, Any] = {}
    for m in members:
        m = _resolve(m, defs)
        types.append(m.get("type", "any") if "enum" not in m else "enum")
        for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "format"):
            if key in m:
                facts[key] = m[key]
        if "enum" in m:
            facts["enum"] = list(m["enum"])
    if "default" in prop:
        facts["default"] = prop["default"]
    return {"types": sorted(types), **facts}


def compare_object_schemas(
    name: str, ours: dict[str, Any], ours_defs: dict[str, Any], theirs: dict[str, Any], theirs_defs: dict[str, Any]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if "enum" in ours or "enum" in theirs:
        if ours.get("enum") != theirs.get("enum"):
            out.append(
                {
                    "schema": name,
                    "field": "(enum)",
                    "kind": "changed",
                    "ours": ours.get("enum"),
                    "theirs": theirs.get("enum"),
                }
            )
        return out
    op, tp = ours.get("properties", {}), theirs.get("properties", {})
    for f in tp.keys() - op.keys():
        out.append(
            {"schema": name, "field": f, "kind": "added upstream", "ours": None, "theirs": _shape(tp[f], theirs_defs)}
        )
    for f in op.keys() - tp.keys():
        out.append(
            {"schema": name, "field": f, "kind": "missing upstream", "ours": _shape(op[f], ours_defs), "theirs": None}
        )
    for f in op.keys() & tp.keys():
        a, b = _shape(op[f], ours_defs), _shape(tp[f], theirs_defs)
        if a != b:
            out.append({"schema": name, "field": f, "kind": "changed", "ours": a, "theirs": b})
    if set(ours.get("required", [])) != set(theirs.get("required", [])):
        out.append(
            {
                "schema": name,
                "field": "(required)",
                "kind": "changed",
                "ours": sorted(ours.get("required", [])),
                "theirs": sorted(theirs.get("required", [])),
            }
        )
    common = [f for f in op if f in tp]
    if common != [f for f in tp if f in op]:
        out.append(
            {
                "schema": name,
                "field": "(property order)",
                "kind": "changed",
                "ours": common,
                "theirs": [f for f in tp if f in op],
            }
        )
    return sorted(out, key=lambda d: (d["schema"], d["field"]))


def drift(
    schema_dir: str | None = None, refs: Path | None = None, live_openapi: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Differences between ``schemas/`` and the published references (added/removed/changed fields and bounds)."""
    refs = refs or reference_dir()
    endpoint = json.loads((refs / "canny-finetuned-endpoint.json").read_text())
    openapi = json.loads((refs / SPEC_FILE).read_text())
    ep_defs = endpoint["components"]["schemas"]
    findings: list[dict[str, Any]] = []

    def ours(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        s = load_schema(name, schema_dir)
        return s, s.get("$defs", {})

    req, req_defs = ours("FinetuneCannyInputs")
    findings += [
        dict(f, source="endpoint page")
        for f in compare_object_schemas("FinetuneCannyInputs", req, req_defs, ep_defs["FinetuneCannyInputs"], ep_defs)
    ]
    # the submit answers: what the fake really answers on each endpoint, against the answer schemas upstream
    canny = [ep for ep in _endpoints() if ep.name == "flux-pro-1.0-canny-finetuned"]
    findings += answer_drift("endpoint page", ep_defs, canny)
    sources = [(SPEC_LABEL, openapi)]
    if live_openapi is not None:
        sources.append(("BFL OpenAPI (live)", live_openapi))
    for label, spec in sources:
        comps = spec.get("components", {}).get("schemas", {})
        findings += answer_drift(label, comps, [ep for ep in _endpoints() if ep not in canny])
        for name in (
            "ResultResponse",
            "HTTPValidationError",
            "CreditsResponse",
            "MyFinetunesResponse",
            "FinetuneDetailResponse",
            "DeleteFinetuneInputs",
            "DeleteFinetuneResponse",
        ):
            if name in comps:
                s, d = ours(name)
                findings += [dict(f, source=label) for f in compare_object_schemas(name, s, d, comps[name], comps)]
        if "StatusResponse" in comps:
            s, d = ours("ResultResponse")
            findings += [
                dict(f, source=label)
                for f in compare_object_schemas(
                    "StatusResponse", d["StatusResponse"], d, comps["StatusResponse"], comps
                )
            ]
        path = spec.get("paths", {}).get("/v1/flux-pro-1.0-canny-finetuned", {}).get("post")
        if path:
            ref = path["requestBody"]["content"]["application/json"]["schema"]
            findings += [
                dict(f, source=label)
                for f in compare_object_schemas("FinetuneCannyInputs", req, req_defs, _resolve(ref, comps), comps)
            ]
    findings += endpoint_drift(openapi, live_openapi)
    return findings


def _minimal_body(endpoint: Any) -> dict[str, Any]:
    """A body ``endpoint`` accepts: its required fields, images as a small PNG."""
    import base64
    import io

    from PIL import Image

    from mock_server.core.endpoints import image_fields

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 40, 40)).save(buf, "PNG")
    png = base64.b64encode(buf.getvalue()).decode()
    body: dict[str, Any] = {"prompt": "a red cube"}
    if endpoint.requires_finetune:
        body["finetune_id"] = "my-finetune"
    first = image_fields(endpoint)[0] if image_fields(endpoint) else None
    if first and first != "image_prompt":
        body[first] = png
    if isinstance(endpoint.schema, dict):  # an inline schema (the 2026 additions): every required field
        schema = endpoint.schema
        if "oneOf" in schema:  # a discriminated union (FLUX 3 video): its first member, under its first tag
            schema = schema["$defs"][schema["oneOf"][0]["$ref"].rsplit("/", 1)[-1]]
            body = {"mode": schema["properties"]["mode"]["enum"][0], "prompt": "a red cube"}
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in body:
                kind = props.get(name, {}).get("type")
                body[name] = png if name in image_fields(endpoint) else 64 if kind == "integer" else "x"
        body = {k: v for k, v in body.items() if k in props or schema.get("additionalProperties") is not False}
    return body


def answer_drift(source: str, upstream: dict[str, Any], endpoints: list[Any], **settings: Any) -> list[dict[str, Any]]:
    """The fake's real submit answers (polling and webhook) on each of ``endpoints`` against the upstream
    ``AsyncResponse`` / ``AsyncWebhookResponse``: a field upstream that the answer lacks, a field of the answer
    upstream lacks, a value that does not fit the upstream type. ``settings``: the fake's (default: defaults)."""
    import httpx
    import jsonschema

    from mock_server.frontends.transport import BflTransport
    from mock_server.mock import BflMock

    out: list[dict[str, Any]] = []
    mock = BflMock(frozen_clock=True, active_task_limit=0, credits=1e12, webhook_allow=("loopback",), **settings)
    with mock, httpx.Client(transport=BflTransport(mock), base_url=LIVE_URL) as client:
        for ep in endpoints:
            for name, extra in (
                ("AsyncResponse", {}),
                ("AsyncWebhookResponse", {"webhook_url": "http://127.0.0.1:9/"}),
            ):
                if name not in upstream:
                    continue
                if extra and isinstance(ep.schema, dict) and "webhook_url" not in ep.schema.get("properties", {}):
                    continue  # an endpoint without webhooks (outpainting-v1): only the polling answer
                r = client.post(ep.path, json={**_minimal_body(ep), **extra}, headers={"x-key": "bfl-mock-drift"})
                if r.status_code != 200:
                    out.append({"source": source, "schema": f"{name} ({ep.name})", "field": "(answer)",
                                "kind": f"the fake did not accept a minimal body ({r.status_code})",
                                "ours": r.json(), "theirs": None})  # fmt: skip
                    continue
                answer, props = r.json(), upstream[name].get("properties", {})
                where = f"{name} ({ep.name})"
                for f in sorted(props.keys() - answer.keys()):
                    out.append({"source": source, "schema": where, "field": f, "kind": "upstream, not in our answer",
                                "ours": None, "theirs": _shape(props[f], upstream)})  # fmt: skip
                for f in sorted(answer.keys() - props.keys()):
                    out.append({"source": source, "schema": where, "field": f, "kind": "in our answer, not upstream",
                                "ours": answer[f], "theirs": None})  # fmt: skip
                for f in sorted(answer.keys() & props.keys()):
                    schema = {**props[f], "components": {"schemas": upstream}}
                    if not jsonschema.Draft202012Validator(schema).is_valid(answer[f]):
                        out.append({"source": source, "schema": where, "field": f,
                                    "kind": "our answer does not fit upstream's type", "ours": answer[f],
                                    "theirs": _shape(props[f], upstream)})  # fmt: skip
    return out


def generation_paths(spec: dict[str, Any]) -> set[str]:
    """The POST /v1/<name> operations of an OpenAPI document that take a JSON body (the generation endpoints)."""
    utility = {"/v1/delete_finetune"}
    return {
        path
        for path, ops in spec.get("paths", {}).items()
        if path.startswith("/v1/") and path not in utility and "requestBody" in (ops.get("post") or {})
    }


def endpoint_drift(vendored: dict[str, Any], live: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Endpoints the fake serves that the published spec lacks (or the reverse), and, with the live spec,
    endpoints BFL added or removed since the vendored copy."""
    from mock_server.core.endpoints import ENDPOINTS
    from mock_server.core.spec_additions import added_paths

    served = {ep.path for ep in ENDPOINTS}
    published = generation_paths(vendored)
    added = set(added_paths())  # BFL's endpoints since the April spec (schemas/openapi): listed on their own
    out = [
        {"source": SPEC_LABEL, "schema": "(endpoints)", "field": path, "kind": kind,
         "ours": ours, "theirs": theirs}
        for path, kind, ours, theirs in [
            *((p, "served, not in the spec", "served", None) for p in sorted(served - published - added)),
            *((p, "in the spec, not served", None, "published") for p in sorted(published - served)),
        ]
    ]  # fmt: skip
    out += [
        {"source": "BFL API additions 2026-12 (vendored)", "schema": "(endpoints since 2026-04-23)", "field": path,
         "kind": "added since the April spec" + ("" if path in served else ", not served"),
         "ours": "served" if path in served else None, "theirs": "published"}
        for path in sorted(added_paths())
    ]  # fmt: skip
    if live is not None:
        now = generation_paths(live)
        out += [
            {"source": "BFL OpenAPI (live)", "schema": "(endpoints)", "field": path, "kind": kind,
             "ours": None, "theirs": None}
            for path, kind in [
                *((p, "added upstream since the vendored spec") for p in sorted(now - published)),
                *((p, "removed upstream since the vendored spec") for p in sorted(published - now)),
            ]
        ]  # fmt: skip
    return out


def fetch_live_openapi(url: str = "https://api.bfl.ai/openapi.json") -> dict[str, Any]:
    import httpx

    spec: dict[str, Any] = httpx.get(url, timeout=30).json()
    return spec
