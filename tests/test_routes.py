"""Routes bind when the app is built: every route of the tables resolves to a handler that takes what the
route gives it, a route naming no handler fails at start-up, and every body is read against its route's
schema in one place (``MockHTTP._bind``)."""

from __future__ import annotations

import dataclasses

import httpx
import pytest
from bfl_helpers import BASE, SUBMIT, body

from mock_server.core.errors import ConfigError
from mock_server.frontends.transport import BflTransport
from mock_server.http import app as http_app
from mock_server.http.routes import ADMIN_ROUTES, Route
from mock_server.mock import BflMock


def bound_routes(router):
    out = [b for methods in router.exact.values() for b in methods.values()]
    out += [b for _, methods in router.patterns for b in methods.values()]
    return out + [b for _, b in router.prefixes]


def test_every_route_resolves_when_the_app_is_built():
    with BflMock() as mock:
        for router in (mock.http.router, mock.http.admin_router):
            bound = bound_routes(router)
            assert sorted((b.route.method, b.route.path) for b in bound) == sorted(
                (r.method, r.path) for r in router.routes
            )
            assert all(callable(b.call) for b in bound)
        assert {b.route.handler for b in bound_routes(mock.http.admin_router)} == {r.handler for r in ADMIN_ROUTES}


@pytest.mark.parametrize(
    "route",
    [
        Route("GET", "/_mock/nothing", "no_such_handler", "t", "s", "o"),
        Route("GET", "/_mock/tasks/{tid}", "task_get", "t", "s", "o"),  # the handler's parameter is task_id
        Route("POST", "/_mock/clock/unfreeze", "clock_unfreeze", "t", "s", "o", body="MockClockSet"),  # no body=
        Route("POST", "/_mock/clock/set", "clock_set", "t", "s", "o", body="NoSuchSchema"),
    ],
    ids=["unknown handler", "wrong parameter", "body it does not take", "unknown schema"],
)
def test_a_route_that_does_not_bind_fails_at_start_up(monkeypatch, route):
    monkeypatch.setattr(http_app, "ADMIN_ROUTES", [*ADMIN_ROUTES, route])
    with pytest.raises(ConfigError, match=r"route (GET|POST) /_mock/"):
        BflMock()


def test_api_routes_bind_too(monkeypatch):
    real = http_app.api_routes

    def broken(endpoints):
        routes = real(endpoints)
        return [dataclasses.replace(r, handler="get_credit") if r.handler == "get_credits" else r for r in routes]

    monkeypatch.setattr(http_app, "api_routes", broken)
    with pytest.raises(ConfigError, match="ApiHandlers has no handler 'get_credit'"):
        BflMock()


@pytest.fixture
def client():
    with BflMock(frozen_clock=True) as mock, httpx.Client(transport=BflTransport(mock), base_url=BASE) as c:
        yield c


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"seconds": "5"}, "body.seconds: '5' is not of type 'number'"),
        ({"seconds": -1}, "body.seconds: -1 is less than the minimum of 0"),
        ([5], "body: [5] is not of type 'object'"),
        ({}, "body: 'seconds' is a required property"),
    ],
)
def test_clock_advance_validates_its_schema(client, body, words):
    r = client.post("/_mock/clock/advance", json=body)
    assert r.status_code == 400
    assert r.json() == {"detail": f"bfl-mock admin API: {words} (schema MockClockAdvance in /openapi.json)"}


def test_clock_advance_with_a_good_body(client):
    before = client.get("/_mock/clock").json()["now"]
    assert client.post("/_mock/clock/advance", json={"seconds": 2.5}).json()["now"] == before + 2.5


def test_an_admin_body_that_is_no_json_is_a_400_before_the_handler(client):
    r = client.post("/_mock/credits/k", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["detail"].startswith("bfl-mock admin API: body is not JSON")
    assert client.get("/_mock/credits/k").status_code == 200  # nothing was set


def test_api_bodies_keep_fastapis_order(client):
    # an unparsable body is answered before the key is checked, validation after it
    bad_json = client.post("/v1/delete_finetune", content=b"{", headers={"content-type": "application/json"})
    assert bad_json.status_code == 422 and bad_json.json()["detail"][0]["type"] == "json_invalid"
    assert client.post("/v1/delete_finetune", json={}).status_code == 403  # no x-key: security first
    r = client.post("/v1/delete_finetune", json={}, headers={"x-key": "k"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "finetune_id"]


# ---------------------------------------------------------------------------------------------- route flags
def edge(resp: httpx.Response) -> str:
    hsts, cache = "strict-transport-security" in resp.headers, resp.headers.get("x-cache") == "CONFIG_NOCACHE"
    return "full" if hsts and cache else "hsts" if hsts else "none" if not cache else "cache only?"


def test_edge_headers_and_journaling_come_from_the_route():
    with BflMock(frozen_clock=True) as mock, httpx.Client(transport=BflTransport(mock), base_url=BASE) as c:
        c.headers["x-key"] = "k"
        submitted = c.post(SUBMIT, json=body())
        task_id = submitted.json()["id"]
        polled = c.get("/v1/get_result", params={"id": task_id})
        seen = {
            "submit": (submitted, "full", True),
            "poll": (polled, "hsts", True),
            "credits": (c.get("/v1/credits"), "full", True),
            "unknown path": (c.get("/v1/nope"), "full", True),  # api.bfl.ai's 404
            "wrong method": (c.get("/v1/delete_finetune"), "full", True),
            "health": (c.get("/health"), "none", False),
            "wrong method on health": (c.post("/health"), "none", False),
            "admin": (c.get("/_mock/stats"), "none", False),
            "admin 404": (c.get("/_mock/nope"), "none", False),
        }
        journaled = {(e.method, e.path) for e in mock.requests}
        for name, (resp, want_edge, want_journal) in seen.items():
            assert edge(resp) == want_edge, name
            assert ((resp.request.method, resp.request.url.path) in journaled) == want_journal, name


def test_edge_headers_off():
    with BflMock(edge_headers=False) as mock, httpx.Client(transport=BflTransport(mock), base_url=BASE) as c:
        assert edge(c.get("/v1/credits", headers={"x-key": "k"})) == "none"
