"""bfl-mock: a high-fidelity local fake of Black Forest Labs' image API (every endpoint of its OpenAPI, and canny)."""

from __future__ import annotations

from mock_server.core.version import __version__

__all__ = ["BflMock", "Settings", "__version__"]


def __getattr__(name: str) -> object:  # lazy: importing the package must stay cheap (pytest plugin)
    if name == "BflMock":
        from mock_server.mock import BflMock

        return BflMock
    if name == "Settings":
        from mock_server.core.config import Settings

        return Settings
    raise AttributeError(name)
