"""Hypothesis on raw requests (methods, paths, query strings, headers, bodies) against the fake:
never a 5xx, never an unhandled exception inside it. ``make fuzz`` runs it with many more examples."""

from __future__ import annotations

import base64
import functools
import io
import json
import os

from bfl_helpers import body as valid_body
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from mock_server.http.types import HttpRequest
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


@functools.cache
def hostile_images() -> tuple[str, ...]:
    """Images that are small on the wire and huge in pixels: thin, wide, over the cap."""
    out = []
    for size in ((1, 5_000_000), (20_000, 16), (5_000, 5_000)):
        buf = io.BytesIO()
        Image.new("L", size, 128).save(buf, "PNG")
        out.append(base64.b64encode(buf.getvalue()).decode())
    return tuple(out)


CONTROL = "".join(chr(c) for c in range(32)) + "\x7f\u20ac\ud800"
hostile_strings = st.one_of(
    st.lists(st.sampled_from([*CONTROL, "a", "\r\n", ":"]), max_size=30).map("".join),
    st.sampled_from(["s3cr3t\r\nX-Injected: yes\r\nTransfer-Encoding: chunked", "s\u20accret", "x" * 100_000]),
)


def nested(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


@st.composite
def hostile(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    """Deep nesting, huge keys, control characters in every string field, thin or huge images, bad rules."""
    shape = draw(st.sampled_from(["deep", "key", "strings", "image", "rule"]))
    headers: dict[str, str] = {"content-type": "application/json", "x-key": "fuzz"}
    if shape == "deep":
        depth = draw(st.sampled_from([100, 600, 990, 1500, 20_000]))
        field = draw(st.sampled_from(["prompt", "seed", "webhook_secret", "match", "outcome"]))
        return f'{{"finetune_id":"x","control_image":"aa","{field}":{nested(depth)}}}'.encode(), headers
    if shape == "key":
        headers["x-key"] = draw(st.sampled_from(["k" * 1_000_000, "k\u20ac", "k\r\nx: y", ""]))
        return json.dumps(valid_body()).encode(), headers
    if shape == "strings":
        fields = ["prompt", "finetune_id", "webhook_url", "webhook_secret", "output_format", "control_image"]
        overrides = {f: draw(hostile_strings) for f in draw(st.lists(st.sampled_from(fields), max_size=6))}
        return json.dumps(valid_body(**overrides)).encode("utf-8", "surrogatepass"), headers
    if shape == "image":
        return json.dumps(valid_body(control_image=draw(st.sampled_from(hostile_images())))).encode(), headers
    outcome = draw(
        st.sampled_from(
            [
                {"webhook": {"early": "abc"}},
                {"webhook": {"delay": 1e308}},
                {"webhook": "drop"},
                {"http_status": 503, "headers": {"Retry-After": "\u20ac"}},
                {"http_status": 503, "headers": {"X\r\nY": "1"}},
                {"latency": {"poll": [5, 1]}},
            ]
        )
    )
    return json.dumps({"match": {}, "outcome": outcome}).encode(), headers


@st.composite
def requests(draw: st.DrawFn) -> HttpRequest:
    headers = draw(st.dictionaries(header_names, text, max_size=5))
    if draw(st.booleans()):
        headers.setdefault("x-key", "fuzz")
    kind = draw(st.sampled_from(["bytes", "json", "admin", "valid", "hostile"]))
    if kind == "hostile":
        payload, extra = draw(hostile())
        headers.update(extra)
    elif kind == "bytes":
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
        method=draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"]))
        if kind != "hostile"
        else "POST",
        path=draw(st.one_of(st.sampled_from(PATHS), text.map(lambda t: "/" + t)))
        if kind != "hostile"
        else draw(st.sampled_from(["/v1/flux-pro-1.0-canny-finetuned", "/_mock/rules", "/v1/get_result"])),
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
        for name, value in resp.headers:  # every header can go on the wire (uvicorn would 500 otherwise)
            assert "\r" not in value and "\n" not in value, (name, value)
            value.encode("latin-1")

    try:
        check()
    finally:
        mock.close()
