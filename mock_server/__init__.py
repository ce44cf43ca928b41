"""bfl-mock: a high-fidelity local fake of Black Forest Labs' image API (every endpoint of its OpenAPI, and canny).

Everything a test needs is importable from here (``from mock_server import BflMock, mock_bfl, WebhookReceiver``);
names load lazily, so importing the package (the pytest plugin does) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mock_server.core.version import __version__

if TYPE_CHECKING:  # for IDEs and type checkers; at run time ``__getattr__`` loads them on first use
    from mock_server.core.config import Settings
    from mock_server.core.hosts import API_HOSTS, DELIVERY_HOSTS, is_bfl_host
    from mock_server.frontends.intercept import Interceptor, UnmockedRequestError
    from mock_server.frontends.server import LiveServer, Received, ThreadedServer, WebhookReceiver
    from mock_server.mock import BflMock
    from mock_server.testing import TEST_DEFAULTS, TINY_PNG_B64, control_image, mock_bfl, poll

_LAZY = {
    "BflMock": "mock_server.mock",
    "Settings": "mock_server.core.config",
    "API_HOSTS": "mock_server.core.hosts",
    "DELIVERY_HOSTS": "mock_server.core.hosts",
    "is_bfl_host": "mock_server.core.hosts",
    "Interceptor": "mock_server.frontends.intercept",
    "UnmockedRequestError": "mock_server.frontends.intercept",
    "LiveServer": "mock_server.frontends.server",
    "Received": "mock_server.frontends.server",
    "ThreadedServer": "mock_server.frontends.server",
    "WebhookReceiver": "mock_server.frontends.server",
    "TEST_DEFAULTS": "mock_server.testing",
    "TINY_PNG_B64": "mock_server.testing",
    "control_image": "mock_server.testing",
    "mock_bfl": "mock_server.testing",
    "poll": "mock_server.testing",
}

__all__ = [
    "API_HOSTS",
    "DELIVERY_HOSTS",
    "TEST_DEFAULTS",
    "TINY_PNG_B64",
    "BflMock",
    "Interceptor",
    "LiveServer",
    "Received",
    "Settings",
    "ThreadedServer",
    "UnmockedRequestError",
    "WebhookReceiver",
    "__version__",
    "control_image",
    "is_bfl_host",
    "mock_bfl",
    "poll",
]


def __getattr__(name: str) -> object:  # lazy: importing the package must stay cheap (pytest plugin)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mock_server' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
