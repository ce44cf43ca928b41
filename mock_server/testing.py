"""Helpers for users' tests (``from mock_server.testing import control_image``): nothing here is needed to
use the fake, but every example in the README and ``tests/examples/`` can be copied into a project that
only has ``pip install bfl-mock``.
"""

from __future__ import annotations

import base64
import functools
import inspect
import io
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from mock_server.frontends.intercept import Interceptor, UnmockedRequestError
    from mock_server.frontends.server import ThreadedServer, WebhookReceiver
    from mock_server.mock import BflMock

F = TypeVar("F", bound=Callable[..., Any])

#: The settings every test fake starts from (the fixtures and ``mock_bfl``): a frozen clock, two polls to
#: Ready, seed 0, webhooks to loopback only, one render thread.
TEST_DEFAULTS: dict[str, Any] = {
    "frozen_clock": True,
    "progression": "polls:2",
    "seed": 0,
    "webhook_allow": ("loopback",),
    "render_workers": 1,
}
_SECTIONS = ("scenarios", "finetunes", "credits", "moderation")  # config-file sections, not settings


def new_mock(settings: dict[str, Any]) -> BflMock:
    """A ``BflMock`` from one dict of settings and config-file sections (``scenarios``, ``finetunes``,
    ``credits``, ``moderation``), as a marker or ``bfl_mock_settings`` gives them."""
    from mock_server.mock import BflMock

    settings = dict(settings)
    # ``credits`` is both: a number is the setting (every key's starting balance), a mapping the section
    extra = {k: settings.pop(k) for k in _SECTIONS if k in settings and (k != "credits" or _is_mapping(settings[k]))}
    mock = BflMock(**settings)
    if extra:
        mock.configure(extra)
    return mock


def _is_mapping(value: Any) -> bool:
    return hasattr(value, "items")


class mock_bfl:
    """Serve BFL's hosts from an in-process fake outside pytest: scripts, ``unittest``, notebooks.

    ``with mock_bfl() as fake:`` (or ``async with``), ``@mock_bfl`` / ``@mock_bfl(**settings)`` on a
    function (it receives the fake as ``bfl_mock=`` if it has that parameter) or on a
    ``unittest.TestCase`` (each test gets ``self.bfl_mock``), or ``start()``/``stop()``. Inside, httpx,
    requests, urllib3, urllib and aiohttp calls to BFL's hosts are answered by the fake, exactly as under
    the ``bfl_mock`` fixture; on exit every patch is undone and the fake closed.

    ``settings`` are ``bfl-mock serve``'s (``progression="polls:1"``, ``seed=7`` ...) over the test defaults;
    pass an existing ``BflMock`` as the first argument to serve that one instead (it is not closed).
    ``assert_all_mocked=True`` refuses every host that is neither BFL's nor loopback nor in ``allow_hosts``.
    """

    def __init__(
        self,
        fake: BflMock | Callable[..., Any] | None = None,
        /,
        *,
        assert_all_mocked: bool = False,
        allow_hosts: Iterable[str] = (),
        **settings: Any,
    ) -> None:
        self._decorate: Callable[..., Any] | None = None
        if callable(fake) and not hasattr(fake, "serve"):  # bare @mock_bfl
            self._decorate, fake = fake, None
        self._given: BflMock | None = fake  # type: ignore[assignment]
        self.assert_all_mocked = assert_all_mocked
        self.allow_hosts = tuple(allow_hosts)
        self.settings = settings
        self.fake: BflMock | None = None
        self._interceptor: Interceptor | None = None
        if self._decorate is not None:
            functools.update_wrapper(self, self._decorate)

    def start(self) -> BflMock:
        """Start serving; returns the fake (``stop()`` undoes it)."""
        from mock_server.core.hosts import DEFAULT_BASE_URL, DEFAULT_DELIVERY_URL
        from mock_server.frontends.intercept import Interceptor

        if self._interceptor is not None:
            raise RuntimeError("mock_bfl is already started")
        fake = self._given or new_mock({"delivery_url": DEFAULT_DELIVERY_URL, **TEST_DEFAULTS, **self.settings})
        try:
            fake.url = fake.base_url = DEFAULT_BASE_URL
            self._interceptor = Interceptor(
                fake, assert_all_mocked=self.assert_all_mocked, allow_hosts=self.allow_hosts
            ).start()
        except BaseException:
            if self._given is None:
                fake.close()
            raise
        self.fake = fake
        return fake

    def stop(self) -> None:
        """Undo every patch, close the fake (unless it was given), re-raise what failed inside it."""
        interceptor, self._interceptor = self._interceptor, None
        fake, self.fake = self.fake, None
        if interceptor is not None:
            interceptor.stop()
        if fake is not None:
            if self._given is None:
                fake.close()
            fake.check()

    def __enter__(self) -> BflMock:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    async def __aenter__(self) -> BflMock:
        return self.start()

    async def __aexit__(self, *exc: Any) -> None:
        self.stop()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._decorate is not None:  # @mock_bfl without parentheses: this object is the wrapper
            target, self._decorate = self._decorate, None
            return self._wrap(target)(*args, **kwargs)
        (target,) = args
        return self._wrap(target)

    def _copy(self) -> mock_bfl:
        return mock_bfl(
            self._given, assert_all_mocked=self.assert_all_mocked, allow_hosts=self.allow_hosts, **self.settings
        )

    def _wrap(self, target: Any) -> Any:
        import unittest

        if isinstance(target, type) and issubclass(target, unittest.TestCase):
            original_setup = target.setUp
            make = self._copy

            def setUp(test: Any) -> None:
                ctx = make()
                test.bfl_mock = ctx.start()
                test.addCleanup(ctx.stop)
                original_setup(test)

            target.setUp = setUp  # type: ignore[method-assign,assignment]
            return target
        wants = "bfl_mock" in inspect.signature(target).parameters
        make = self._copy
        if inspect.iscoroutinefunction(target):

            @functools.wraps(target)
            async def async_wrapper(*a: Any, **kw: Any) -> Any:
                async with make() as fake:
                    if wants:
                        kw["bfl_mock"] = fake
                    return await target(*a, **kw)

            return async_wrapper

        @functools.wraps(target)
        def wrapper(*a: Any, **kw: Any) -> Any:
            with make() as fake:
                if wants:
                    kw["bfl_mock"] = fake
                return target(*a, **kw)

        return wrapper


# A real 32x32 PNG (a dark square): small enough to paste into a curl command, with edges for Canny.
TINY_PNG_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAAACAAAAAgCAIAAAD8GO2jAAAAPUlEQVR42mP88OEDAy0BEwONwagFoxZQDlhwSaioqJBk0J07d0bjYNSCUQ"
    "tGLRi1YOhawDjaLhq1YNQCBgC24gjh2S6AywAAAABJRU5ErkJggg=="
)


def control_image(size: int = 64, *, fmt: str = "PNG") -> str:
    """A base64 control image of ``size`` x ``size``: a dark square on a light ground (clear Canny edges).

    The official ``blackforest`` SDK refuses sides under 256 px: use ``control_image(256)`` with it.
    """
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (size, size), (235, 235, 235))
    ImageDraw.Draw(im).rectangle((size // 4, size // 4, 3 * size // 4 - 1, 3 * size // 4 - 1), fill=(25, 25, 25))
    buf = io.BytesIO()
    im.save(buf, fmt)
    return base64.b64encode(buf.getvalue()).decode()


def poll(client: Any, polling_url: str, *, limit: int = 100) -> dict[str, Any]:
    """GET ``polling_url`` until the task is no longer Pending (the plugin's ``polls:2`` default needs no
    sleeping); return the final body."""
    for _ in range(limit):
        body: dict[str, Any] = client.get(polling_url).json()
        if body["status"] != "Pending":
            return body
    raise AssertionError(f"still Pending after {limit} polls: {polling_url}")


def __getattr__(name: str) -> Any:  # lazy: the servers import the whole fake
    if name in ("ThreadedServer", "WebhookReceiver", "LiveServer"):
        from mock_server.frontends import server

        return getattr(server, name)
    if name in ("Interceptor", "UnmockedRequestError"):
        from mock_server.frontends import intercept

        return getattr(intercept, name)
    raise AttributeError(name)


__all__ = [
    "TEST_DEFAULTS",
    "TINY_PNG_B64",
    "Interceptor",
    "ThreadedServer",
    "UnmockedRequestError",
    "WebhookReceiver",
    "control_image",
    "mock_bfl",
    "new_mock",
    "poll",
]
