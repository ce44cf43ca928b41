"""The contract kit's machinery: targets, the paid-call budget, recording with scrubbing, drift, reports,
and ``bfl-mock contract``. The checks themselves are the pytest suite in ``contract_tests/``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from mock_server.core.schemas import load_schema

LIVE_URL = "https://api.us1.bfl.ai"
SCRUBBED = "REDACTED"


# ---------------------------------------------------------------------------------------------- budget
class BudgetExhausted(Exception):
    pass


class Budget:
    """At most ``limit`` paid calls (valid submits) against a target that charges for them."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit  # None: unlimited (the fake)
        self.used = 0

    def spend(self, what: str = "submit") -> None:
        if self.limit is not None and self.used >= self.limit:
            raise BudgetExhausted(f"paid-call budget exhausted ({self.used} of {self.limit} used); not sending {what}")
        self.used += 1

    def describe(self) -> str:
        return f"{self.used} paid submit(s)" + ("" if self.limit is None else f" of a budget of {self.limit}")


# ---------------------------------------------------------------------------------------------- recording
def _image_summary(value: str) -> str:
    return f"<scrubbed image: {len(value)} chars sha256 {hashlib.sha256(value.encode()).hexdigest()[:16]}>"


def scrub_json(value: Any) -> Any:
    """Remove what must never be stored: keys, secrets and image payloads (kept as length + hash).

    The image fields are every endpoint's, from the endpoint registry (``core.endpoints.all_image_fields``);
    a 422 item whose ``loc`` names an image field has its echoed ``input`` scrubbed too."""
    from mock_server.core.endpoints import all_image_fields

    images = all_image_fields()
    if isinstance(value, dict):
        out = {}
        loc = value.get("loc")
        about_image = isinstance(loc, list) and bool(loc) and loc[-1] in images
        for k, v in value.items():
            if (k in images or (about_image and k == "input")) and isinstance(v, str) and v:
                out[k] = _image_summary(v)
            elif k == "input" and isinstance(v, str) and v[:1] in "{[":  # a 422 echoing a body sent as text
                out[k] = _scrub_text(v)
            elif k in ("webhook_secret", "x-key", "api_key") and v is not None:
                out[k] = SCRUBBED
            else:
                out[k] = scrub_json(v)
        return out
    if isinstance(value, list):
        return [scrub_json(v) for v in value]
    return value


def _scrub_text(text: str) -> str:
    """A JSON text with its secrets and images scrubbed; text that is not JSON is kept as its length and hash."""
    try:
        return json.dumps(scrub_json(json.loads(text)), separators=(",", ":"))
    except ValueError:
        return f"<text {len(text)} chars sha256 {hashlib.sha256(text.encode()).hexdigest()[:16]}>"


def _scrub_body(body: bytes, content_type: str) -> str:
    if not body:
        return ""
    try:  # whatever the content type says: a JSON body sent as text/plain holds images all the same
        return json.dumps(scrub_json(json.loads(body)), separators=(",", ":"))
    except ValueError:
        pass
    if content_type.startswith("image/") or b"\x00" in body[:512]:
        return f"<binary {len(body)} bytes sha256 {hashlib.sha256(body).hexdigest()[:16]}>"
    return body.decode("utf-8", "replace")


def _scrub_headers(headers: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in headers.multi_items():
        name = k.title()
        out.setdefault(name, []).append(SCRUBBED if k.lower() in ("x-key", "authorization", "x-webhook-secret") else v)
    return out


class Recorder:
    """Collects exchanges (httpx event hook) and writes them as a go-vcr v2 cassette, scrubbed."""

    def __init__(self) -> None:
        self.interactions: list[dict[str, Any]] = []

    def hook(self, response: Any) -> None:
        response.read()
        req = response.request
        self.interactions.append(
            {
                "id": len(self.interactions),
                "request": {
                    "url": str(req.url).replace(f"key={SCRUBBED}", ""),
                    "method": req.method,
                    "headers": _scrub_headers(req.headers),
                    "body": _scrub_body(req.content, req.headers.get("content-type", "")),
                },
                "response": {
                    "code": response.status_code,
                    "status": f"{response.status_code} {response.reason_phrase}",
                    "headers": _scrub_headers(response.headers),
                    "body": _scrub_body(response.content, response.headers.get("content-type", "")),
                },
            }
        )

    def write(self, directory: Path, name: str) -> Path | None:
        if not self.interactions:
            return None
        import yaml

        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{dt.date.today():%Y-%m}-contract-{name}.yaml"
        path.write_text(yaml.safe_dump({"version": 2, "interactions": self.interactions}, sort_keys=False))
        return path


# ---------------------------------------------------------------------------------------------- failures
def shorten(text: str, limit: int) -> str:
    """``text`` on one line, at most ``limit`` characters, cut at a space or punctuation (never inside a word,
    number or escape) and marked with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = max(text.rfind(c, 0, limit - 2) for c in " ,:;")
    if cut <= limit // 2:
        cut = limit - 2
        while cut > 0 and (text[cut - 1].isalnum() or text[cut - 1] in "\\_-."):
            cut -= 1
    return text[: cut + 1].rstrip() + " …"


def compact(value: Any, string_limit: int = 60, items: int = 8) -> str:
    """A JSON value written short and still valid JSON: images as their size, long strings as their start and
    length, long lists and objects cut with a count of what is left out."""
    from mock_server.core.endpoints import all_image_fields

    images = all_image_fields()

    def walk(v: Any, key: str | None = None) -> Any:
        if isinstance(v, str):
            if key in images and len(v) > 64:
                return f"<image: {len(v)} chars>"
            if len(v) > string_limit:
                return f"{shorten(v, string_limit // 2)} (+{len(v) - string_limit // 2} chars)"
            return v
        if isinstance(v, dict):
            out = {str(k): walk(x, str(k)) for k, x in list(v.items())[:items]}
            if len(v) > items:
                out["…"] = f"{len(v) - items} more"
            return out
        if isinstance(v, list):
            return [walk(x) for x in v[:items]] + ([f"… {len(v) - items} more"] if len(v) > items else [])
        return v

    return json.dumps(walk(value), ensure_ascii=False)


def answer_of(response: Any) -> tuple[int, Any]:
    """(status, JSON body or text) of an httpx response."""
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.text


def _locs(body: Any) -> list[str]:
    detail = body.get("detail") if isinstance(body, dict) else None
    if not isinstance(detail, list):
        return []
    return [".".join(str(p) for p in e.get("loc", [])) for e in detail if isinstance(e, dict)]


def differing_fields(a: tuple[int | None, Any], b: tuple[int | None, Any]) -> list[str]:
    """The request fields two answers disagree about: 422 items in one and not the other, by ``loc``."""
    la, lb = _locs(a[1]), _locs(b[1])
    if la or lb:
        da = (a[1].get("detail") if isinstance(a[1], dict) else None) or []
        db = (b[1].get("detail") if isinstance(b[1], dict) else None) or []
        ja = {json.dumps(e, sort_keys=True) for e in da or []}
        jb = {json.dumps(e, sort_keys=True) for e in db or []}
        diff = [loc for loc, e in zip(la, da, strict=False) if json.dumps(e, sort_keys=True) not in jb]
        diff += [loc for loc, e in zip(lb, db, strict=False) if json.dumps(e, sort_keys=True) not in ja]
        return list(dict.fromkeys(diff)) or ["(order of the 422 items)"]
    if isinstance(a[1], dict) and isinstance(b[1], dict):
        return sorted(k for k in a[1].keys() | b[1].keys() if a[1].get(k) != b[1].get(k))
    return []


class Mismatch(AssertionError):
    """The target answered otherwise than the oracle (or the evidence): everything a reader needs, short."""

    def __init__(
        self,
        *,
        target: tuple[int | None, Any],
        expected: tuple[int | None, Any],
        expected_label: str,
        request: tuple[str, str, Any] | None = None,
        field: str | None = None,
    ) -> None:
        self.request, self.target, self.expected, self.expected_label = request, target, expected, expected_label
        self.field = field if field is not None else ", ".join(differing_fields(target, expected)) or None
        super().__init__(self.summary())

    def summary(self) -> str:
        ts, es = self.target[0], self.expected[0]
        about = f"{self.field}: " if self.field else ""
        if ts != es and es is not None:
            return f"{about}the target answered {ts}, {self.expected_label} {es}"
        shown = "" if self.expected[1] is None else f" {compact(self.expected[1])}"
        return f"{about}the target answered {compact(self.target[1])}; {self.expected_label}:{shown}"

    def lines(self) -> list[str]:
        def answer(a: tuple[int | None, Any]) -> str:
            shown = "" if a[1] is None else compact(a[1])
            return f"{'' if a[0] is None else a[0]} {shown}".strip()

        out = []
        if self.request is not None:
            method, path, body = self.request
            out.append(f"request:  {method} {path} {compact(body)}")
        if self.field:
            out.append(f"field:    {self.field}")
        out.append(f"target:   {answer(self.target)}")
        out.append(f"{self.expected_label}: {answer(self.expected)}")
        return out


def expect(
    response: Any,
    status: int | set[int] | None,
    body: Any = None,
    *,
    source: str,
    request: tuple[str, str, Any] | None = None,
    field: str | None = None,
    check: Any = None,
) -> None:
    """Raise ``Mismatch`` unless ``response`` has ``status`` (one of) and, if given, ``body`` (or passes
    ``check(json)``). ``source`` labels the expectation, e.g. "the real API (dossier S5)"."""
    got = answer_of(response)
    statuses = {status} if isinstance(status, int) else status
    ok = statuses is None or got[0] in statuses
    if ok and body is not None:
        ok = got[1] == body
    if ok and check is not None:
        ok = bool(check(got[1]))
    if not ok:
        shown = status if isinstance(status, int) or status is None else "/".join(map(str, sorted(status)))
        raise Mismatch(target=got, expected=(shown, body), expected_label=source, request=request, field=field)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- drift
def reference_dir() -> Path:
    here = Path(__file__).resolve().parent
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
    openapi = json.loads((refs / "bfl-openapi-2026-04-23.json").read_text())
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
    sources = [("BFL OpenAPI 2026-04-23 (vendored)", openapi)]
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
        {"source": "BFL OpenAPI 2026-04-23 (vendored)", "schema": "(endpoints)", "field": path, "kind": kind,
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


# ---------------------------------------------------------------------------------------------- reports
def render_report(
    results: list[dict[str, Any]], *, target: str, budget: str, drift_findings: list[dict[str, Any]], fmt: str
) -> str:
    """The run as Markdown (a table, then every difference in full) or JSON; nothing is cut."""
    if fmt == "json":
        return json.dumps({"target": target, "budget": budget, "results": results, "drift": drift_findings}, indent=2)

    def cell(text: str) -> str:
        return " ".join(str(text).split()).replace("|", "\\|")

    lines = [
        f"# bfl-mock contract report: {target}",
        "",
        f"Paid calls: {budget}.",
        "",
        "| behaviour | evidence | outcome | endpoints | detail |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        endpoints = ", ".join(r.get("endpoints") or [r.get("endpoint") or "(any)"])
        lines.append(
            f"| {cell(r['behaviour'])} | {cell(r['evidence'])} | {r['outcome']} | {cell(endpoints)} | "
            f"{cell(r.get('detail') or '')} |"
        )
    failures = [r for r in results if r["outcome"] in ("DIFFERS", "FAILED") and r.get("lines")]
    if failures:
        lines += ["", "## Differences", ""]
        for r in failures:
            lines += [
                f"### {r['outcome']}: {r['behaviour']}",
                "",
                f"Test: `{r['test']}`",
                "",
                "```",
                *r["lines"],
                "```",
                "",
            ]
    lines += ["", f"## Schema drift ({len(drift_findings)} finding(s))", ""]
    if drift_findings:
        lines += ["| source | schema | field | kind | ours | theirs |", "|---|---|---|---|---|---|"]
        for f in drift_findings:
            lines.append(
                f"| {cell(f['source'])} | {cell(f['schema'])} | {cell(f['field'])} | {cell(f['kind'])} | "
                f"{cell(json.dumps(f['ours']))} | {cell(json.dumps(f['theirs']))} |"
            )
    return "\n".join(lines) + "\n"


def render_junit(results: list[dict[str, Any]], *, target: str) -> str:
    """JUnit XML (the schema Jenkins, GitLab, GitHub test reporters read): one testsuite, one testcase per
    behaviour and endpoint (classname: the endpoint, name: the behaviour); DIFFERS and FAILED are failures,
    deviations and checks not run are skipped with their reason."""
    import xml.etree.ElementTree as ET

    cases: dict[tuple[str, str], dict[str, Any]] = {}
    rank = {"FAILED": 4, "DIFFERS": 3, "deviates": 2, "agrees": 1, "not run": 0}
    for r in results:
        key = (r.get("endpoint") or "(any)", r["behaviour"])
        prev = cases.get(key)
        if prev is None or rank[r["outcome"]] > rank[prev["outcome"]]:
            cases[key] = r
    failures = sum(1 for r in cases.values() if r["outcome"] == "DIFFERS")
    errors = sum(1 for r in cases.values() if r["outcome"] == "FAILED")
    skipped = sum(1 for r in cases.values() if r["outcome"] in ("deviates", "not run"))
    suites = ET.Element("testsuites")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=f"bfl-mock contract: {target}",
        tests=str(len(cases)),
        failures=str(failures),
        errors=str(errors),
        skipped=str(skipped),
        timestamp=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
    )
    for (endpoint, behaviour), r in cases.items():
        case = ET.SubElement(suite, "testcase", classname=f"bfl-mock.contract.{endpoint}", name=behaviour)
        body = "\n".join([f"test: {r['test']}", f"evidence: {r['evidence']}", *r.get("lines", [])])
        if r["outcome"] == "DIFFERS":
            ET.SubElement(case, "failure", message=r["detail"], type="DIFFERS").text = body
        elif r["outcome"] == "FAILED":
            ET.SubElement(case, "error", message=r["detail"], type="FAILED").text = body
        elif r["outcome"] in ("deviates", "not run"):
            ET.SubElement(case, "skipped", message=r["detail"] or r["outcome"])
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


# ---------------------------------------------------------------------------------------------- CLI
def contract_tests_dir() -> Path:
    here = Path(__file__).resolve().parent
    for c in (here / "contract_tests", here.parent / "contract_tests"):
        if (c / "conftest.py").is_file():
            return c
    raise FileNotFoundError("contract_tests/ not found (install bfl-mock[contract])")


ORACLE_NAMES = ("canny", "openapi")  # contract_tests/conftest.py ORACLES


def add_contract_parser(sub: Any) -> None:
    p = sub.add_parser(
        "contract",
        help="run the contract suite against the fake, a URL, or the real API",
        description=(
            "Check a target (the in-process fake, a served bfl-mock or any server at a URL, or the real API) "
            "against BFL's documented behaviour and two oracles (FastAPI + pydantic models). Exit 0: every "
            "behaviour agrees or deviates by a setting; 1: a difference, or a check that could not run; 2: "
            "bad usage."
        ),
        epilog=(
            "examples:\n"
            "  bfl-mock contract --junitxml reports/contract.xml --report reports/contract.md\n"
            "  bfl-mock contract --target http://127.0.0.1:8787 --endpoint flux-2-pro\n"
            "  bfl-mock contract --drift --fail-on-drift\n"
            "  bfl-mock contract --target live --budget 3   (key from BFL_API_KEY)"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--target", default="inprocess", help="inprocess (default) | URL | live (key from BFL_API_KEY)")
    p.add_argument(
        "--budget", type=int, default=0, help="paid submits allowed against live (default 0: free calls only)"
    )
    p.add_argument("--record", action="store_true", help="store exchanges, scrubbed, in fixtures/recordings/")
    p.add_argument("--report", default=None, metavar="FILE", help="write a report: FILE.md or FILE.json")
    p.add_argument(
        "--junitxml", default=None, metavar="PATH", help="write JUnit XML (one testcase per behaviour and endpoint)"
    )
    p.add_argument("--drift", action="store_true", help="only compare schemas/ with the published references")
    p.add_argument("--drift-live", action="store_true", help="also fetch https://api.bfl.ai/openapi.json")
    p.add_argument("--fail-on-drift", action="store_true", help="with --drift: exit 1 when there is any finding")
    p.add_argument("-k", dest="keyword", default=None, help="pytest -k expression")
    p.add_argument(
        "--endpoint",
        action="append",
        default=[],
        metavar="NAME",
        help="only this endpoint's tests, e.g. flux-2-pro (repeat or comma-separate; endpoint-free checks still run)",
    )
    p.add_argument(
        "--skip-oracle",
        action="append",
        default=[],
        metavar="NAME",
        help=f"do not run this oracle ({', '.join(ORACLE_NAMES)}; repeatable): its checks are reported not run",
    )
    p.add_argument(
        "--allow-skip",
        action="store_true",
        help="an oracle that cannot run (a package missing) is reported not run instead of failing the run",
    )
    p.add_argument(
        "--strict-settings",
        action="store_true",
        help="count a bfl-mock target's configured deviations (e.g. strict_finetunes=false) as DIFFERS (exit 1)",
    )
    p.set_defaults(func=cmd_contract)


class PreflightError(Exception):
    """The run cannot work: said in one line, before any request (and so before any paid call)."""


def _writable(path: Path, what: str) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PreflightError(f"{what} {path} cannot be created: {e.strerror or e}") from None
    if not os.access(path, os.W_OK):
        raise PreflightError(f"{what} {path} is not writable")


def check_output_file(value: str, option: str) -> None:
    """``value`` can be written as a file: not a folder, its folder exists or can be created, and a file can be
    created there (tried, then removed if it was not there before). Raises PreflightError in one line."""
    path = Path(value)
    if path.is_dir():
        raise PreflightError(f"{option} {value}: is a folder, not a file")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():  # missing folders are created, as pytest does for --junitxml
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise PreflightError(f"{option} {value}: its folder cannot be created ({e.strerror or e})") from None
    existed = path.exists()
    try:
        with open(path, "a"):
            pass
    except OSError as e:
        raise PreflightError(f"{option} {value}: cannot be written ({e.strerror or e})") from None
    if not existed:
        path.unlink()


def preflight(args: argparse.Namespace) -> None:
    """Everything that would make the run fail or waste paid calls, checked first."""
    if args.report:
        if not args.report.endswith((".md", ".json")):
            raise PreflightError(f"--report takes FILE.md or FILE.json, not {args.report!r}")
        check_output_file(args.report, "--report")
    if getattr(args, "junitxml", None):
        check_output_file(args.junitxml, "--junitxml")
    unknown_oracles = sorted(set(getattr(args, "skip_oracle", [])) - set(ORACLE_NAMES))
    if unknown_oracles:
        raise PreflightError(
            f"--skip-oracle {', '.join(unknown_oracles)}: not an oracle (known: {', '.join(ORACLE_NAMES)})"
        )
    if args.drift:
        return
    target = args.target
    if target not in ("inprocess", "live"):
        from urllib.parse import urlsplit

        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise PreflightError(f"--target must be inprocess, live or an http(s):// URL, not {target!r}")
    if target == "live" and not os.environ.get("BFL_API_KEY"):
        raise PreflightError("--target live needs your API key in BFL_API_KEY (free calls only unless --budget N)")
    if args.budget < 0:
        raise PreflightError("--budget is a number of paid submits (0 or more)")
    unknown = set(endpoint_selection(args.endpoint)) - {e.name for e in _endpoints()}
    if unknown:
        known = ", ".join(e.name for e in _endpoints())
        raise PreflightError(f"--endpoint {', '.join(sorted(unknown))}: not an endpoint (known: {known})")
    if args.record:
        _writable(Path(os.environ.get("BFL_RECORD_DIR") or Path.cwd() / "fixtures" / "recordings"), "--record folder")
    if target == "inprocess":
        return
    import httpx

    base = os.environ.get("BFL_LIVE_BASE_URL", LIVE_URL) if target == "live" else target
    try:  # a free call: polling an unknown id costs nothing on the real API
        httpx.get(f"{base.rstrip('/')}/v1/get_result", params={"id": "bfl-mock-preflight"}, timeout=10)
    except httpx.HTTPError as e:
        raise PreflightError(f"cannot reach {base}: {type(e).__name__}: {e}") from None


def endpoint_selection(values: list[str] | None) -> list[str]:
    """``--endpoint`` values (repeated and/or comma-separated) as a list of names."""
    return [name.strip() for value in values or [] for name in value.split(",") if name.strip()]


def _endpoints() -> tuple[Any, ...]:
    from mock_server.core.endpoints import ENDPOINTS

    return ENDPOINTS


def cmd_contract(args: argparse.Namespace) -> int:
    try:
        import hypothesis  # noqa: F401
        import pytest
    except ImportError as e:
        print(
            f"bfl-mock contract needs the contract extra ({e.name} is missing): pip install 'bfl-mock[contract]'",
            file=sys.stderr,
        )
        return 2
    try:
        preflight(args)
    except PreflightError as e:
        print(f"bfl-mock contract: {e}", file=sys.stderr)
        return 2
    if args.drift:
        findings = drift(live_openapi=fetch_live_openapi() if args.drift_live else None)
        for f in findings:
            print(
                f"{f['source']}: {f['schema']}.{f['field']}: {f['kind']} (ours {json.dumps(f['ours'])}, "
                f"theirs {json.dumps(f['theirs'])})"
            )
        print(f"{len(findings)} drift finding(s)")
        if args.report:
            Path(args.report).write_text(
                render_report(
                    [],
                    target="drift only",
                    budget="none",
                    drift_findings=findings,
                    fmt="json" if args.report.endswith(".json") else "md",
                )
            )
        return 1 if findings and args.fail_on_drift else 0
    if args.fail_on_drift:
        print("bfl-mock contract: --fail-on-drift goes with --drift", file=sys.stderr)
        return 2

    argv = [
        str(contract_tests_dir()),
        "-p",
        "no:cacheprovider",
        "-q",
        "--tb=no",  # the kit's own summary says what differs, in a few lines per behaviour
        "-rN",
        f"--bfl-target={args.target}",
        f"--bfl-budget={args.budget}",
        "-o",
        "addopts=",
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",  # httpx (and so anyio's plugin) is imported already
    ]
    if args.record:
        argv.append("--bfl-record")
    if args.report:
        argv.append(f"--bfl-report={args.report}")
    if args.junitxml:
        argv.append(f"--bfl-junitxml={args.junitxml}")
    if args.drift_live:
        argv.append("--bfl-drift-live")
    if args.strict_settings:
        argv.append("--bfl-strict-settings")
    if args.allow_skip:
        argv.append("--bfl-allow-skip")
    for name in args.skip_oracle:
        argv.append(f"--bfl-skip-oracle={name}")
    if args.keyword:
        argv += ["-k", args.keyword]
    for name in endpoint_selection(args.endpoint):
        argv.append(f"--bfl-endpoint={name}")
    os.environ.setdefault("BFL_CONTRACT_EXAMPLES", "200")
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bfl-contract-") as scratch:
        # Hypothesis keeps examples and caches in ./.hypothesis: the kit leaves nothing in the user's folder,
        # and a run never depends on what an earlier run found (every bound's edges are sent on every run).
        os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", scratch)
        code = pytest.main(argv)
    if code == pytest.ExitCode.NO_TESTS_COLLECTED:
        print("bfl-mock contract: no tests ran", file=sys.stderr)
        return 1
    return int(code)
