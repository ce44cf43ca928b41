"""Every route the fake serves, as data: dispatch and ``/openapi.json`` are both built from these tables.

``api_routes(endpoints)`` are BFL's: one ``POST /v1/<name>`` per endpoint row, the utility endpoints and
result delivery. ``ADMIN_ROUTES`` are ``/_mock/``. A route names the handler method that serves it (the
``Router`` resolves it once, when the app is built), and what OpenAPI says of it (tag, summary, operation id,
body schema, query parameters, responses); its body schema is also what the request is validated against.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from mock_server.core.endpoints import Endpoint
from mock_server.core.errors import TASK_NOT_FOUND
from mock_server.http.types import Answer, Edge, HttpRequest

Responses = dict[str, tuple[str, "str | tuple[str, ...] | None"]]  # code -> (description, schema(s))


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # a template: /_mock/tasks/{task_id}/complete
    handler: str  # the method of the handler object that serves it
    tag: str
    summary: str
    operation_id: str
    body: str | None = None  # component schema of the JSON body
    query: tuple[str, ...] = ()  # required query parameters
    optional_query: tuple[str, ...] = ()
    secured: bool = False  # needs x-key
    prefix: bool = False  # serves every path below the template's fixed start (result delivery)
    journal: bool = True  # recorded in the request journal (the fake's own routes are not)
    edge: Edge = Edge.FULL
    responses: Responses = field(default_factory=dict, compare=False)
    endpoint: Endpoint | None = field(default=None, compare=False)

    @property
    def params(self) -> list[str]:
        return re.findall(r"\{(\w+)\}", self.path)


def _err(description: str) -> tuple[str, str]:
    return description, "ErrorDetail"


VALIDATION = ("Validation Error", "HTTPValidationError")
GENERATION_RESPONSES: Responses = {
    "200": ("Successful Response", ("AsyncResponse", "AsyncWebhookResponse")),
    "400": _err("Finetune not found or not ready / unparsable body"),
    "401": _err("Missing x-key (when configured to answer 401)"),
    "402": _err("Insufficient credits"),
    "403": _err("Not authenticated"),
    "413": _err("Body too large"),
    "422": VALIDATION,
    "429": _err("Too many active tasks"),
}


def api_routes(endpoints: Iterable[Endpoint]) -> list[Route]:
    routes = [
        Route(
            "POST",
            ep.path,
            "submit",
            "Models",
            ep.summary or f"Generate an image with {ep.name}",
            ep.operation_id,
            body=ep.schema_name,
            secured=True,
            responses=GENERATION_RESPONSES,
            endpoint=ep,
        )
        for ep in endpoints
    ]
    return [
        *routes,
        Route(
            "GET",
            "/v1/get_result",
            "get_result",
            "Utility",
            "Get Result",
            "get_result_v1_get_result_get",
            query=("id",),
            edge=Edge.HSTS,
            responses={
                "200": ("Successful Response", "ResultResponse"),
                "404": (TASK_NOT_FOUND, "ResultResponse"),
                "422": VALIDATION,
                "429": _err("Rate limited"),
            },
        ),
        Route(
            "GET",
            "/v1/credits",
            "get_credits",
            "Utility",
            "Get the user's credits",
            "get_credits_v1_credits_get",
            secured=True,
            responses={"200": ("OK", "CreditsResponse"), "403": _err("Not authenticated")},
        ),
        Route(
            "GET",
            "/v1/my_finetunes",
            "my_finetunes",
            "Utility",
            "My Finetunes",
            "my_finetunes_v1_my_finetunes_get",
            secured=True,
            responses={"200": ("OK", "MyFinetunesResponse"), "403": _err("Not authenticated")},
        ),
        Route(
            "GET",
            "/v1/finetune_details",
            "finetune_details",
            "Utility",
            "Finetune Details",
            "finetune_details_v1_finetune_details_get",
            query=("finetune_id",),
            secured=True,
            responses={
                "200": ("OK", "FinetuneDetailResponse"),
                "404": _err("Unknown finetune"),
                "403": _err("Not authenticated"),
                "422": VALIDATION,
            },
        ),
        Route(
            "POST",
            "/v1/delete_finetune",
            "delete_finetune",
            "Utility",
            "Delete Finetune",
            "delete_finetune_v1_delete_finetune_post",
            body="DeleteFinetuneInputs",
            secured=True,
            responses={
                "200": ("OK", "DeleteFinetuneResponse"),
                "404": _err("Unknown finetune"),
                "403": _err("Not authenticated"),
                "422": VALIDATION,
            },
        ),
        Route(
            "GET",
            "/results/{a}/{b}/{c}/{file}",
            "download",
            "Delivery",
            "Download a result (signed, expiring; Azure Blob semantics)",
            "download_result",
            optional_query=("se", "sp", "sv", "sr", "rsct", "sig"),
            prefix=True,
            edge=Edge.NONE,
            responses={
                "200": ("The image", None),
                "206": ("A byte range", None),
                "403": ("Bad signature or expired (XML)", None),
                "404": ("No such blob (XML)", None),
            },
        ),
        Route("GET", "/openapi.json", "openapi", "bfl-mock admin", "This document", "openapi"),
        Route(
            "GET",
            "/health",
            "health",
            "bfl-mock admin",
            "Liveness for CI service containers and orchestrators (not a BFL endpoint)",
            "health",
            journal=False,
            edge=Edge.NONE,
            responses={"200": ("The fake is serving", None)},
        ),
    ]


def _admin(method: str, path: str, handler: str, summary: str, body: str | None = None, **kw: object) -> Route:
    slug = path.strip("/").replace("/", "_").replace("{", "").replace("}", "")
    op = f"mock_{slug}_{method.lower()}"
    return Route(method, path, handler, "bfl-mock admin", summary, op, body, journal=False, edge=Edge.NONE, **kw)  # type: ignore[arg-type]


ADMIN_ANY = _admin("*", "/_mock/{path}", "index", "Any path under /_mock/: what its answers carry before routing")


ADMIN_ROUTES: list[Route] = [
    _admin("GET", "/_mock", "index", "What the admin API offers"),
    _admin("GET", "/_mock/", "index", "What the admin API offers"),
    _admin("POST", "/_mock/reset", "reset", "Reset the fake (X-Mock-Key: only that key's state)"),
    _admin("GET", "/_mock/config", "config", "Settings snapshot"),
    _admin("GET", "/_mock/stats", "stats", "Task store statistics"),
    _admin("GET", "/_mock/clock", "clock", "Read the fake clock"),
    _admin("POST", "/_mock/clock/advance", "clock_advance", "Advance the clock", "MockClockAdvance"),
    _admin("POST", "/_mock/clock/set", "clock_set", "Set the clock", "MockClockSet"),
    _admin("POST", "/_mock/clock/freeze", "clock_freeze", "Freeze the clock", "MockClockFreeze"),
    _admin("POST", "/_mock/clock/unfreeze", "clock_unfreeze", "Let the clock run"),
    _admin("GET", "/_mock/ui", "ui", "The dashboard (HTML; no build step, nothing from the internet)"),
    _admin("GET", "/_mock/ui/{file}", "ui_file", "The dashboard's script and style sheet"),
    _admin(
        "POST", "/_mock/ui/login", "ui_login", "Sign the dashboard in with the admin token (sets a cookie)", "MockLogin"
    ),
    _admin("GET", "/_mock/scenarios", "scenarios_list", "Built-in and defined scenarios"),
    _admin("GET", "/_mock/rules", "rules_list", "List rules"),
    _admin("POST", "/_mock/rules", "rules_add", "Add rule(s)", "MockRules"),
    _admin("DELETE", "/_mock/rules", "rules_clear", "Clear rules"),
    _admin("DELETE", "/_mock/rules/{rule_id}", "rules_remove", "Remove a rule"),
    _admin(
        "PUT", "/_mock/scenarios/{name}", "scenario_define", "Define a scenario for X-Mock-Scenario", "MockScenario"
    ),
    _admin(
        "POST", "/_mock/scenarios/{name}", "scenario_define", "Define a scenario for X-Mock-Scenario", "MockScenario"
    ),
    _admin(
        "GET",
        "/_mock/tasks",
        "tasks_list",
        "List tasks (oldest first; order=newest for the newest first)",
        optional_query=("status", "endpoint", "key_id", "key", "limit", "brief", "order"),
    ),
    _admin("GET", "/_mock/tasks/{task_id}", "task_get", "Inspect a task"),
    _admin(
        "GET",
        "/_mock/tasks/{task_id}/images/{name}",
        "task_image",
        "A thumbnail of a task's input image (by field), its edge map (edges, canny) or its result",
        optional_query=("max",),
    ),
    _admin("POST", "/_mock/tasks/{task_id}/complete", "task_complete", "Finish a task as Ready"),
    _admin("POST", "/_mock/tasks/{task_id}/fail", "task_fail", "Finish a task as Error", "MockTaskFail"),
    _admin(
        "POST", "/_mock/tasks/{task_id}/moderate", "task_moderate", "Finish a task as moderated", "MockTaskModerate"
    ),
    _admin(
        "GET",
        "/_mock/requests",
        "requests_list",
        "Request journal",
        optional_query=("method", "path", "status", "polls", "task_id", "api_key", "limit"),
    ),
    _admin("DELETE", "/_mock/requests", "requests_clear", "Clear the request journal"),
    _admin("GET", "/_mock/webhooks", "webhooks_list", "Webhook journal", optional_query=("task_id",)),
    _admin("DELETE", "/_mock/webhooks", "webhooks_clear", "Clear the webhook journal"),
    _admin(
        "GET",
        "/_mock/webhooks/wait",
        "webhooks_wait",
        "Wait for a webhook delivery to settle",
        query=("task_id",),
        optional_query=("timeout", "attempts"),
    ),
    _admin("GET", "/_mock/credits/{api_key}", "credits_get", "Credits of a key"),
    _admin("PUT", "/_mock/credits/{api_key}", "credits_set", "Set a key's credits", "MockCredits"),
    _admin("POST", "/_mock/credits/{api_key}", "credits_set", "Set a key's credits", "MockCredits"),
    _admin("GET", "/_mock/finetunes", "finetunes_list", "Finetune registry (X-Mock-Key: that account's view)"),
    _admin("PUT", "/_mock/finetunes/{finetune_id}", "finetune_put", "Register or change a finetune", "MockFinetune"),
    _admin("POST", "/_mock/finetunes/{finetune_id}", "finetune_put", "Register or change a finetune", "MockFinetune"),
    _admin("DELETE", "/_mock/finetunes/{finetune_id}", "finetune_delete", "Delete a finetune"),
]


Handler = Callable[[HttpRequest, dict[str, str]], Answer]  # (request, path parameters) -> answer


@dataclass(frozen=True)
class Bound:
    """A route and the callable that serves it, resolved once when the app is built (never per request)."""

    route: Route
    call: Handler


class Router:
    """Exact paths by dictionary (the hot path), templates by pattern, prefixes last. ``bind`` resolves each
    route's handler when the router is built, so a route naming no handler fails then, not on a request."""

    def __init__(self, routes: Iterable[Route], bind: Callable[[Route], Handler]) -> None:
        self.routes = list(routes)
        self.exact: dict[str, dict[str, Bound]] = {}
        self.patterns: list[tuple[re.Pattern[str], dict[str, Bound]]] = []
        self.prefixes: list[tuple[str, Bound]] = []
        by_template: dict[str, dict[str, Bound]] = {}
        for r in self.routes:
            bound = Bound(r, bind(r))
            if r.prefix:
                self.prefixes.append((r.path.split("{", 1)[0], bound))
            elif r.params:
                by_template.setdefault(r.path, {})[r.method] = bound
            else:
                self.exact.setdefault(r.path, {})[r.method] = bound
        for template, methods in by_template.items():
            pattern = re.escape(template)
            for name in re.findall(r"\\\{(\w+)\\\}", pattern):
                pattern = pattern.replace(f"\\{{{name}\\}}", f"(?P<{name}>[^/]+)")
            self.patterns.append((re.compile(f"^{pattern}$"), methods))

    def match(self, path: str) -> tuple[dict[str, Bound] | None, dict[str, str]]:
        """The routes serving ``path`` by method, and the path parameters; (None, {}) if none."""
        methods = self.exact.get(path)
        if methods is not None:
            return methods, {}
        for pattern, by_method in self.patterns:
            m = pattern.match(path)
            if m:
                return by_method, m.groupdict()
        for start, bound in self.prefixes:
            if path.startswith(start):
                return {"GET": bound, "HEAD": bound, "*": bound}, {}
        return None, {}
