"""Hypothesis on raw requests (methods, paths, query strings, headers, bodies) against the fake:
never a 5xx, never an unhandled exception inside it. ``make fuzz`` runs it with many more examples."""

from __future__ import annotations

import json
import os

from bfl_helpers import body as valid_body
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mock_server.http import HttpRequest
from mock_server.mock import BflMock

EXAMPLES = int(os.environ.get("BFL_FUZZ_EXAMPLES", "250"))
PATHS = [
    "/v1/flux-pro-1.0-canny-finetuned",
    "/v1/flux-pro-1.0-canny-finetuned/",
    "/v1/get_result",
    "/v1/credits",
    "/v1/my_finetunes",
    "/v1/finetune_details",
    "/v1/delete_finetune",
    "/openapi.json",
    "/",
    "/v1/",
    "/results/aa/bbbbbbbbbbbbbb/cccccccccccccccccccccccccccccccc/sample.jpeg",
    "/results/x",
    "/_mock/reset",
    "/_mock/config",
    "/_mock/stats",
    "/_mock/clock",
    "/_mock/clock/advance",
    "/_mock/clock/set",
    "/_mock/clock/freeze",
    "/_mock/clock/unfreeze",
    "/_mock/rules",
    "/_mock/rules/1",
    "/_mock/tasks",
    "/_mock/tasks/x",
    "/_mock/tasks/x/complete",
    "/_mock/tasks/x/fail",
    "/_mock/tasks/x/moderate",
    "/_mock/requests",
    "/_mock/webhooks",
    "/_mock/credits/k",
    "/_mock/finetunes",
    "/_mock/finetunes/f",
    "/_mock/scenarios/s",
]  # /_mock/webhooks/wait is left out: it blocks by design
text = st.text(max_size=40)
header_names = st.sampled_from(
    [
        "x-key",
        "content-type",
        "range",
        "x-mock-scenario",
        "x-mock-webhook-fault",
        "if-none-match",
        "host",
        "x-mock-key",
        "content-length",
        "authorization",
    ]
)
numbers = st.one_of(st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5))
admin_bodies = st.fixed_dictionaries(
    {},
    optional={
        "seconds": numbers,
        "time": numbers,
        "at": numbers,
        "credits": numbers,
        "error": text,
        "status": text,
        "reasons": st.lists(text, max_size=2),
        "match": st.dictionaries(text, numbers, max_size=2),
        "outcome": st.one_of(text, st.dictionaries(text, numbers, max_size=2)),
        "times": numbers,
    },
)


@st.composite
def requests(draw: st.DrawFn) -> HttpRequest:
    headers = draw(st.dictionaries(header_names, text, max_size=5))
    if draw(st.booleans()):
        headers.setdefault("x-key", "fuzz")
    kind = draw(st.sampled_from(["bytes", "json", "admin", "valid"]))
    if kind == "bytes":
        payload = draw(st.binary(max_size=200))
    elif kind == "admin":
        payload = json.dumps(draw(admin_bodies)).encode()
    elif kind == "valid":
        payload = json.dumps(
            valid_body(
                **draw(
                    st.dictionaries(
                        st.sampled_from(["seed", "steps", "output_format", "webhook_url"]), numbers, max_size=2
                    )
                )
            )
        )
        payload = payload.encode()
    else:
        payload = json.dumps(
            draw(
                st.recursive(
                    st.none() | st.booleans() | numbers | text,
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(text, c, max_size=3),
                    max_leaves=8,
                )
            ),
            allow_nan=True,
        ).encode()
    return HttpRequest(
        method=draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"])),
        path=draw(st.one_of(st.sampled_from(PATHS), text.map(lambda t: "/" + t))),
        query_string=draw(
            st.one_of(
                st.just(""),
                text,
                st.sampled_from(
                    ["id=x", "id=", "id", "finetune_id=my-finetune", "status=Pending", "limit=-1", "status=abc"]
                ),
            )
        ),
        headers=headers,
        body=payload,
        scheme="http",
        host=draw(st.sampled_from(["localhost", "127.0.0.1:8787", "[::1]:1", "weird host", ""])),
        client="127.0.0.1",
    )


def test_no_request_gives_a_5xx_or_an_internal_error():
    mock = BflMock(frozen_clock=True, progression="polls:1", seed=1, active_task_limit=0, credits=1e12)

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    @given(req=requests())
    def check(req):
        resp = mock.serve(req)
        assert resp.status < 500 or req.headers.get("x-mock-scenario") in (
            "server-error",
            "bad-gateway",
            "service-unavailable",
        ), (req, resp.status, resp.body[:300])
        assert not mock.backend.errors, (req, mock.backend.errors)

    try:
        check()
    finally:
        mock.close()
