"""``GET /openapi.json``: an OpenAPI 3.1 document of what the fake serves, built from ``schemas/``."""

from __future__ import annotations

import re
from typing import Any

from mock_server import __version__
from mock_server.core.config import Settings
from mock_server.core.schemas import available, load_schema

_META = ("$schema", "$id", "$comment")


def _components(schema_dir: str | None) -> dict[str, Any]:
    comps: dict[str, Any] = {}

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: (("#/components/schemas/" + v.rsplit("/", 1)[-1]) if k == "$ref" else fix(v))
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [fix(x) for x in node]
        return node

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


def _json(ref: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


def _err(desc: str) -> dict[str, Any]:
    return {"description": desc, **_json("ErrorDetail")}


def build_openapi(settings: Settings) -> dict[str, Any]:
    sec = [{"APIKeyHeader": []}]
    query = lambda name: [{"name": name, "in": "query", "required": True, "schema": {"type": "string"}}]  # noqa: E731
    admin = {
        "tags": ["bfl-mock admin"],
        "parameters": [
            {
                "name": "X-Mock-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
                "description": "scope listings and reset to one API key (parallel workers)",
            }
        ],
        "security": [{}, {"AdminBearer": []}, {"AdminTokenHeader": []}],
        "responses": {
            "200": {"description": "OK"},
            "400": _err("A body or query that does not fit its schema (the detail names the field)"),
            "403": _err("Not loopback, or --admin-token set and the token missing or wrong"),
        },
    }
    paths: dict[str, Any] = {
        "/v1/flux-pro-1.0-canny-finetuned": {
            "post": {
                "tags": ["Models"],
                "summary": "Generate an image with FLUX.1 Canny [pro] finetune using a control image.",
                "operationId": "flux_pro_1_0_canny_finetuned_v1_flux_pro_1_0_canny_finetuned_post",
                "security": sec,
                "requestBody": {"required": True, **_json("FinetuneCannyInputs")},
                "responses": {
                    "200": {
                        "description": "Successful Response",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "anyOf": [
                                        {"$ref": "#/components/schemas/AsyncResponse"},
                                        {"$ref": "#/components/schemas/AsyncWebhookResponse"},
                                    ]
                                }
                            }
                        },
                    },
                    "400": _err("Finetune not found or not ready / unparsable body"),
                    "401": _err("Missing x-key (when configured to answer 401)"),
                    "402": _err("Insufficient credits"),
                    "403": _err("Not authenticated"),
                    "413": _err("Body too large"),
                    "422": {"description": "Validation Error", **_json("HTTPValidationError")},
                    "429": _err("Too many active tasks"),
                },
            }
        },
        "/v1/get_result": {
            "get": {
                "tags": ["Utility"],
                "summary": "Get Result",
                "operationId": "get_result_v1_get_result_get",
                "parameters": query("id"),
                "responses": {
                    "200": {"description": "Successful Response", **_json("ResultResponse")},
                    "404": {"description": "Task not found", **_json("ResultResponse")},
                    "422": {"description": "Validation Error", **_json("HTTPValidationError")},
                    "429": _err("Rate limited"),
                },
            }
        },
        "/v1/credits": {
            "get": {
                "tags": ["Utility"],
                "summary": "Get the user's credits",
                "security": sec,
                "operationId": "get_credits_v1_credits_get",
                "responses": {
                    "200": {"description": "OK", **_json("CreditsResponse")},
                    "403": _err("Not authenticated"),
                },
            }
        },
        "/v1/my_finetunes": {
            "get": {
                "tags": ["Utility"],
                "summary": "My Finetunes",
                "security": sec,
                "operationId": "my_finetunes_v1_my_finetunes_get",
                "responses": {
                    "200": {"description": "OK", **_json("MyFinetunesResponse")},
                    "403": _err("Not authenticated"),
                },
            }
        },
        "/v1/finetune_details": {
            "get": {
                "tags": ["Utility"],
                "summary": "Finetune Details",
                "security": sec,
                "operationId": "finetune_details_v1_finetune_details_get",
                "parameters": query("finetune_id"),
                "responses": {
                    "200": {"description": "OK", **_json("FinetuneDetailResponse")},
                    "404": _err("Unknown finetune"),
                    "403": _err("Not authenticated"),
                    "422": {"description": "Validation Error", **_json("HTTPValidationError")},
                },
            }
        },
        "/v1/delete_finetune": {
            "post": {
                "tags": ["Utility"],
                "summary": "Delete Finetune",
                "security": sec,
                "operationId": "delete_finetune_v1_delete_finetune_post",
                "requestBody": {"required": True, **_json("DeleteFinetuneInputs")},
                "responses": {
                    "200": {"description": "OK", **_json("DeleteFinetuneResponse")},
                    "404": _err("Unknown finetune"),
                    "403": _err("Not authenticated"),
                    "422": {"description": "Validation Error", **_json("HTTPValidationError")},
                },
            }
        },
        "/results/{a}/{b}/{c}/{file}": {
            "get": {
                "tags": ["Delivery"],
                "summary": "Download a result (signed, expiring; Azure Blob semantics)",
                "operationId": "download_result",
                "parameters": [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in "abc"]
                + [{"name": "file", "in": "path", "required": True, "schema": {"type": "string"}}]
                + [
                    {"name": n, "in": "query", "required": False, "schema": {"type": "string"}}
                    for n in ("se", "sp", "sv", "sr", "rsct", "sig")
                ],
                "responses": {
                    "200": {"description": "The image", "content": {"image/jpeg": {}, "image/png": {}}},
                    "206": {"description": "A byte range"},
                    "403": {"description": "Bad signature or expired (XML)"},
                    "404": {"description": "No such blob (XML)"},
                },
            }
        },
    }
    admin_ops = {
        "/_mock/reset": ("post", "Reset the fake"),
        "/_mock/config": ("get", "Settings snapshot"),
        "/_mock/stats": ("get", "Task store statistics"),
        "/_mock/clock": ("get", "Read the fake clock"),
        "/_mock/clock/advance": ("post", "Advance the clock: {seconds}"),
        "/_mock/clock/freeze": ("post", "Freeze the clock: {at?}"),
        "/_mock/clock/unfreeze": ("post", "Let the clock run"),
        "/_mock/clock/set": ("post", "Set the clock: {time}"),
        "/_mock/rules": ("get", "List rules (POST adds, DELETE clears)"),
        "/_mock/tasks": ("get", "List tasks (?status=)"),
        "/_mock/tasks/{task_id}": ("get", "Inspect a task"),
        "/_mock/tasks/{task_id}/complete": ("post", "Finish a task as Ready"),
        "/_mock/tasks/{task_id}/fail": ("post", "Finish a task as Error: {error}"),
        "/_mock/tasks/{task_id}/moderate": ("post", "Finish a task as moderated: {status, reasons}"),
        "/_mock/requests": ("get", "Request journal (?method&path&status&task_id&limit)"),
        "/_mock/webhooks": ("get", "Webhook journal (?task_id)"),
        "/_mock/webhooks/wait": ("get", "Wait for a webhook delivery (?task_id&timeout&attempts)"),
        "/_mock/credits/{api_key}": ("get", "Credits of a key (PUT {credits} sets)"),
        "/_mock/finetunes": ("get", "Finetune registry"),
        "/_mock/finetunes/{finetune_id}": ("put", "Register or change a finetune: {details}"),
        "/_mock/scenarios/{name}": ("put", "Define a named scenario usable with X-Mock-Scenario: {outcome}"),
    }
    bodies = {
        "/_mock/clock/advance": "MockClockAdvance",
        "/_mock/clock/set": "MockClockSet",
        "/_mock/clock/freeze": "MockClockFreeze",
        "/_mock/tasks/{task_id}/fail": "MockTaskFail",
        "/_mock/tasks/{task_id}/moderate": "MockTaskModerate",
        "/_mock/finetunes/{finetune_id}": "MockFinetune",
        "/_mock/scenarios/{name}": "MockScenario",
    }
    for path, (method, summary) in admin_ops.items():
        op = {
            **admin,
            "summary": summary,
            "operationId": "mock_" + path.strip("/").replace("/", "_").replace("{", "").replace("}", ""),
        }
        params = [
            {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
            for n in re.findall(r"\{(\w+)\}", path)
        ]
        if params:
            op["parameters"] = admin["parameters"] + params
        if method in ("post", "put"):
            schema = {"$ref": f"#/components/schemas/{bodies[path]}"} if path in bodies else {"type": "object"}
            op["requestBody"] = {"required": path in bodies, "content": {"application/json": {"schema": schema}}}
        paths[path] = {method: op}
    paths["/_mock/credits/{api_key}"]["put"] = {
        **paths["/_mock/credits/{api_key}"]["get"],
        "summary": "Set a key's credits",
        "operationId": "mock_credits_set",
        "requestBody": {"required": True, **_json("MockCredits")},
    }
    paths["/_mock/rules"]["post"] = {
        **admin,
        "summary": "Add rule(s)",
        "operationId": "mock_rules_add",
        "requestBody": {"required": True, **_json("MockRules")},
    }
    paths["/health"] = {
        "get": {
            "tags": ["bfl-mock admin"],
            "summary": "Liveness for CI service containers and orchestrators (not a BFL endpoint)",
            "operationId": "health",
            "responses": {"200": {"description": "The fake is serving"}},
        }
    }
    paths["/_mock/rules"]["delete"] = {**admin, "summary": "Clear rules", "operationId": "mock_rules_clear"}
    paths["/_mock/requests"]["delete"] = {**admin, "summary": "Clear the journal", "operationId": "mock_requests_clear"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "bfl-mock: FLUX.1 Canny [pro] finetune API (fake)",
            "version": __version__,
            "description": "A local fake of BFL's API. Driven by schemas/; admin endpoints under /_mock/.",
        },
        "servers": [{"url": settings.public_url or "/"}],
        "paths": paths,
        "components": {
            "schemas": _components(settings.schema_dir),
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
