"""pytest plugin (entry point ``pytest11``): a fresh, controllable fake in every test.

* ``bfl_mock``: in-process. httpx traffic (sync and async) to BFL's hosts is intercepted with respx and
  answered by the fake without sockets; other hosts pass through untouched.
* ``bfl_server``: a live fake on ``127.0.0.1:<free port>`` (``.url``) for requests, aiohttp, subprocesses
  and other languages. One server per session, a fresh fake per test.

Both yield a ``BflMock`` (rules, clock, tasks, journal, webhooks, ``reset()``). Settings come from, in
order: defaults for tests (frozen clock, ``polls:2``, seed 0, loopback-only webhooks), ini options,
command-line options, then ``@pytest.mark.bfl_mock(**settings)``. Unexpected exceptions inside the fake
fail the test that caused them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

TEST_DEFAULTS: dict[str, Any] = {
    "frozen_clock": True,
    "progression": "polls:2",
    "seed": 0,
    "webhook_allow": ("loopback",),
    "render_workers": 1,
}
_OPTIONS = ("progression", "seed", "webhook_profile", "strict_finetunes", "missing_key_status")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bfl-mock", "bfl-mock fixtures")
    for name in _OPTIONS:
        flag = "--bfl-mock-" + name.replace("_", "-")
        group.addoption(flag, dest=f"bfl_mock_{name}", default=None, help=f"default {name} for bfl_mock/bfl_server")
        parser.addini(f"bfl_mock_{name}", f"default {name} for the bfl_mock/bfl_server fixtures", default=None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "bfl_mock(**settings): settings for the bfl_mock / bfl_server fixtures (as bfl-mock serve)"
    )


@pytest.fixture
def bfl_mock_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The settings of this test's fake. Override this fixture to change defaults for a directory."""
    settings = dict(TEST_DEFAULTS)
    for name in _OPTIONS:
        ini = request.config.getini(f"bfl_mock_{name}")
        if ini:
            settings[name] = ini
        opt = request.config.getoption(f"bfl_mock_{name}", default=None)
        if opt is not None:
            settings[name] = opt
    for marker in reversed(list(request.node.iter_markers("bfl_mock"))):
        if marker.args:
            raise pytest.UsageError("@pytest.mark.bfl_mock takes keyword settings only")
        settings.update(marker.kwargs)
    return settings


def _new_mock(settings: dict[str, Any]) -> Any:
    from mock_server.mock import BflMock

    settings = dict(settings)
    extra: dict[str, Any] = {
        k: settings.pop(k) for k in ("scenarios", "finetunes", "credits", "moderation") if k in settings
    }
    mock = BflMock(**settings)
    mock.configure(extra)
    return mock


@pytest.fixture
def bfl_mock(bfl_mock_settings: dict[str, Any]) -> Iterator[Any]:
    """An in-process fake behind BFL's hostnames (httpx only, sync and async)."""
    from mock_server.frontends.transport import respx_router

    settings = {"delivery_url": "https://delivery-us1.bfl.ai", **bfl_mock_settings}
    mock = _new_mock(settings)
    router = respx_router(mock)
    mock.base_url = "https://api.us1.bfl.ai"
    mock.url = mock.base_url
    try:
        with router:
            yield mock
    finally:
        mock.close()
    mock.check()


@pytest.fixture(scope="session")
def _bfl_live_server() -> Iterator[Any]:
    from mock_server.frontends.server import LiveServer

    server = LiveServer(_new_mock(TEST_DEFAULTS)).start()
    yield server
    server.stop()


@pytest.fixture
def bfl_server(_bfl_live_server: Any, bfl_mock_settings: dict[str, Any]) -> Iterator[Any]:
    """A live fake on 127.0.0.1 (``bfl_server.url``), reset for this test."""
    server = _bfl_live_server
    session_mock = server.mock
    if bfl_mock_settings == TEST_DEFAULTS:
        mock = session_mock
        mock.reset()
    else:
        mock = server.mock = _new_mock(bfl_mock_settings)
    mock.url = server.url
    mock.base_url = server.url
    mock.bound_port, mock.bound_host = server.port, server.host
    try:
        yield mock
    finally:
        if mock is not session_mock:
            server.mock = session_mock
            mock.close()
        else:
            mock.webhooks.reset()
    mock.check()
