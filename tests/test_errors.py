"""``core.errors``: one vocabulary of errors. Each named constructor gives the status, message and headers the
fake answers with, a new exception on every call, its message read when called (so a test can change what the
fake says); the admin prefix is said once; the core's exceptions are gathered there."""

from __future__ import annotations

import ast
from pathlib import Path

import httpx
import pytest
from bfl_helpers import BASE

from mock_server.core import egress, errors, imaging
from mock_server.core.errors import ApiError
from mock_server.frontends.transport import BflTransport
from mock_server.mock import BflMock

CONSTRUCTORS = [  # (constructor, args, status, detail, headers)
    (errors.not_authenticated, (401,), 401, errors.NOT_AUTHENTICATED, {}),
    (errors.invalid_key, (), 403, errors.INVALID_KEY, {}),
    (errors.not_found, (), 404, errors.NOT_FOUND, {}),
    (errors.not_found, ("no task t1",), 404, "no task t1", {}),
    (errors.method_not_allowed, (["GET", "HEAD"],), 405, errors.METHOD_NOT_ALLOWED, {"allow": "GET, HEAD"}),
    (errors.body_parse_error, (), 400, errors.BODY_PARSE_ERROR, {}),
    (errors.finetune_not_found, (), 400, errors.FINETUNE_NOT_FOUND, {}),
    (errors.finetune_not_found_utility, (), 404, errors.FINETUNE_NOT_FOUND_UTILITY, {}),
    (errors.insufficient_credits, (), 402, errors.INSUFFICIENT_CREDITS, {}),
    (errors.store_full, (), 429, errors.STORE_FULL, {"Retry-After": "1"}),
    (errors.too_many_active_tasks, (), 429, errors.RATE_LIMITED_DETAIL, {"Retry-After": "1"}),
    (errors.rate_limit_exceeded, ({"Retry-After": "2"},), 429, errors.RATE_LIMIT_EXCEEDED, {"Retry-After": "2"}),
    (errors.conflict, ("task t1 is already Ready",), 409, "task t1 is already Ready", {}),
    (errors.too_many_requests, ("slow down", 7), 429, "slow down", {"Retry-After": "7"}),
    (errors.request_timeout, ("no webhook in 2 s",), 408, "no webhook in 2 s", {}),
    (errors.misdirected, ("not this host",), 421, "not this host", {}),
    (errors.bad_request, ("bfl-mock: no such rule key",), 400, "bfl-mock: no such rule key", {}),
    (errors.admin_bad_request, ("`seconds` must be finite",), 400, "bfl-mock admin API: `seconds` must be finite", {}),
    (errors.forbidden, ("cross-site",), 403, "cross-site", {}),
    (errors.admin_bad_token, (), 403, errors.ADMIN_BAD_TOKEN, {}),
    (errors.admin_loopback_only, (), 403, errors.ADMIN_LOOPBACK_ONLY, {}),
    (errors.admin_self_request, (), 403, errors.ADMIN_SELF_REQUEST, {}),
]


@pytest.mark.parametrize(("make", "args", "status", "detail", "headers"), CONSTRUCTORS)
def test_each_constructor_gives_its_status_message_and_headers(make, args, status, detail, headers):
    err = make(*args)
    assert isinstance(err, ApiError)
    assert (err.status, err.detail, err.headers) == (status, detail, headers)
    assert str(err) == f"{status}: {detail}"
    again = make(*args)
    assert again is not err and again.headers is not err.headers  # never one shared exception or dict


def test_a_message_is_read_when_the_error_is_made(monkeypatch):
    monkeypatch.setattr(errors, "INVALID_KEY", "Invalid API key")
    monkeypatch.setattr(errors, "STORE_FULL", "full")
    assert errors.invalid_key().detail == "Invalid API key" and errors.store_full().detail == "full"


def test_the_fake_answers_with_the_message_a_test_sets(monkeypatch):
    """What the contract kit's wrong server does to check that the kit notices a changed message."""
    monkeypatch.setattr(errors, "INVALID_KEY", "Invalid API key")
    with (
        BflMock(frozen_clock=True, api_keys=("good-key",)) as mock,
        httpx.Client(transport=BflTransport(mock), base_url=BASE) as client,
    ):
        wrong = client.get("/v1/credits", headers={"x-key": "wrong-key"})
        missing = client.get("/v1/credits")
    assert wrong.status_code == 403 and wrong.json() == {"detail": "Invalid API key"}
    assert missing.json() == {"detail": errors.NOT_AUTHENTICATED}


def test_a_full_store_answers_429_with_retry_after_through_the_fake():
    with (
        BflMock(frozen_clock=True, max_tasks=1, active_task_limit=0) as mock,
        httpx.Client(transport=BflTransport(mock), base_url=BASE, headers={"x-key": "k"}) as client,
    ):
        first = client.post("/v1/flux-dev", json={"prompt": "a"})
        second = client.post("/v1/flux-dev", json={"prompt": "b"})
    assert first.status_code == 200
    assert second.status_code == 429 and second.json() == {"detail": errors.STORE_FULL}
    assert second.headers["retry-after"] == "1"


@pytest.mark.parametrize(
    ("path", "admin"),
    [
        ("/_mock", True),
        ("/_mock/", True),
        ("/_mock/tasks/t1", True),
        ("/_mock/ui", True),
        ("/_mockery", False),
        ("/v1/_mock", False),
        ("/", False),
        ("", False),
    ],
)
def test_is_admin_path(path, admin):
    assert errors.ADMIN_PREFIX == "/_mock"
    assert errors.is_admin_path(path) is admin


def test_the_cores_exceptions_are_gathered_in_errors_under_their_old_names():
    assert imaging.InvalidImage is errors.InvalidImage
    assert egress.TargetRefused is errors.TargetRefused
    assert egress.FetchFailed is errors.FetchFailed and egress.TooLarge is errors.TooLarge
    assert issubclass(errors.TooLarge, OSError)
    bad = errors.InvalidImage("not a PNG")
    assert (bad.reason, bad.public_message) == ("not a PNG", errors.INVALID_IMAGE)


def test_errors_imports_nothing_of_the_fake():
    """Every layer imports it; it imports no module of the fake (no cycle can go through it)."""
    tree = ast.parse(Path(errors.__file__).read_text())
    imported = {
        getattr(node, "module", None) or alias.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert not {m for m in imported if m and m.startswith("mock_server")}
