"""pytest plugin (entry point ``pytest11``): a fresh, controllable fake in every test.

* ``bfl_mock``: in-process. httpx, requests, urllib3, urllib and aiohttp traffic (sync and async) to BFL's
  hosts is answered by the fake without sockets; other hosts pass through untouched, unless the test asks
  ``assert_all_mocked=True`` (then they fail the test, naming the host). See ``mock_server.testing.mock_bfl``
  for the same outside pytest.
* ``bfl_server``: a live fake on ``127.0.0.1:<free port>`` (``.url``) for requests, aiohttp, subprocesses
  and other languages. One server per session, a fresh fake per test.

Both yield a ``BflMock`` (rules, clock, tasks, journal, webhooks, ``reset()``). Settings come from, in
order: defaults for tests (frozen clock, ``polls:2``, seed 0, loopback-only webhooks), ini options,
command-line options, then ``@pytest.mark.bfl_mock(**settings)``. Unexpected exceptions inside the fake
fail the test that caused them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from mock_server.mock import BflMock

from mock_server.testing import TEST_DEFAULTS, new_mock

_OPTIONS = ("progression", "seed", "webhook_profile", "strict_finetunes", "missing_key_status")
_INTERCEPT = ("assert_all_mocked", "allow_hosts")  # bfl_mock's own options, not settings of the fake


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bfl-mock", "bfl-mock fixtures")
    for name in _OPTIONS:
        flag = "--bfl-mock-" + name.replace("_", "-")
        group.addoption(flag, dest=f"bfl_mock_{name}", default=None, help=f"default {name} for bfl_mock/bfl_server")
        parser.addini(f"bfl_mock_{name}", f"default {name} for the bfl_mock/bfl_server fixtures", default=None)
    group.addoption(
        "--bfl-mock-assert-all-mocked",
        dest="bfl_mock_assert_all_mocked",
        action="store_true",
        default=None,
        help="bfl_mock fails a test that reaches any host other than BFL's and loopback",
    )
    parser.addini("bfl_mock_assert_all_mocked", "bfl_mock refuses hosts other than BFL's and loopback", type="bool")
    parser.addini("bfl_mock_allow_hosts", "hosts bfl_mock lets through under assert_all_mocked", type="linelist")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "bfl_mock(**settings): settings for the bfl_mock / bfl_server fixtures (as bfl-mock serve), and"
        " bfl_mock's assert_all_mocked=True / allow_hosts=[...]",
    )


@pytest.fixture
def bfl_mock_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The settings of this test's fake: the test defaults, then ini options, command-line options and
    ``@pytest.mark.bfl_mock(...)`` markers. Override this fixture (in a ``conftest.py``) to change them for
    a directory, as pytest-httpserver's ``httpserver_listen_address``."""
    settings = dict(TEST_DEFAULTS)
    if request.config.getini("bfl_mock_assert_all_mocked"):
        settings["assert_all_mocked"] = True
    allow = request.config.getini("bfl_mock_allow_hosts")
    if allow:
        settings["allow_hosts"] = tuple(allow)
    if request.config.getoption("bfl_mock_assert_all_mocked", default=None):
        settings["assert_all_mocked"] = True
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
    return new_mock({k: v for k, v in settings.items() if k not in _INTERCEPT})


@pytest.fixture
def bfl_mock(bfl_mock_settings: dict[str, Any]) -> Iterator[BflMock]:
    """An in-process fake behind BFL's host names (``.url`` is ``https://api.bfl.ai``): httpx, requests,
    urllib3, urllib and aiohttp calls to those hosts are answered without a socket."""
    from mock_server.core.hosts import DEFAULT_DELIVERY_URL
    from mock_server.testing import mock_bfl

    settings = {"delivery_url": DEFAULT_DELIVERY_URL, **bfl_mock_settings}
    mock = _new_mock(settings)
    ctx = mock_bfl(
        mock,
        assert_all_mocked=bool(settings.get("assert_all_mocked")),
        allow_hosts=tuple(settings.get("allow_hosts") or ()),
    )
    try:
        with ctx:
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
def bfl_server(_bfl_live_server: Any, bfl_mock_settings: dict[str, Any]) -> Iterator[BflMock]:
    """A live fake on 127.0.0.1 (``bfl_server.url``), reset for this test."""
    server = _bfl_live_server
    session_mock = server.mock
    bfl_mock_settings = {k: v for k, v in bfl_mock_settings.items() if k not in _INTERCEPT}
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
