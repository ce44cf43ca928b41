"""Forwarding to the upstream: the request unchanged (the app's own key), the answer back unchanged.

One pooled keep-alive client per shadow (httpcore): opening a connection per call added
2-4 ms p50 on loopback, a kept-alive one 0.87 ms (scripts/bench_shadow.py). Only the named upstream is
ever called, and only BFL's hosts unless another host is allowed explicitly (``--allow-upstream-host``,
``BFL_MOCK_ALLOW_UPSTREAM_HOST``): a shadow pointed at a typo must not send the app's key elsewhere.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mock_server.core.hosts import ALL_HOSTS

# Connection-level headers a proxy never forwards (RFC 9110 7.6.1); everything else goes as sent.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer"}
    | {"transfer-encoding", "upgrade"}
)
DEFAULT_UPSTREAM = "https://api.bfl.ai"


class UpstreamRefused(ValueError):
    """The upstream is not a host the shadow may send an app's key to."""


def host_allowed(host: str, allow: Sequence[str] = ()) -> bool:
    """BFL's hosts (``core.hosts``, any ``*.bfl.ai``), or a host named in ``allow`` (``.suffix`` for a
    domain, ``loopback`` for 127.0.0.0/8, ::1 and localhost)."""
    host = host.lower().strip("[]")
    if host in ALL_HOSTS or host == "bfl.ai" or host.endswith(".bfl.ai"):
        return True
    for name in allow:
        name = name.strip().lower()
        if not name:
            continue
        if name == "loopback":
            if host == "localhost":
                return True
            try:
                if ipaddress.ip_address(host).is_loopback:
                    return True
            except ValueError:
                pass
        elif (name.startswith(".") and host.endswith(name)) or host == name:
            return True
    return False


@dataclass(frozen=True)
class UpstreamOptions:
    url: str = DEFAULT_UPSTREAM
    allow: tuple[str, ...] = ()
    timeout: float = 120.0  # seconds without a byte from the upstream (a render can take a minute)
    connect_timeout: float = 10.0
    max_connections: int = 200


def check_upstream(url: str, allow: Sequence[str] = ()) -> tuple[str, str]:
    """``(origin, host)`` of ``url``, or UpstreamRefused saying why in one line."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UpstreamRefused(f"--upstream takes an origin such as https://api.bfl.ai, not {url!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise UpstreamRefused(f"--upstream takes an origin without a path or query, not {url!r}")
    if not host_allowed(parts.hostname, allow):
        raise UpstreamRefused(
            f"--upstream {parts.hostname} is not one of BFL's hosts: allow it explicitly with "
            f"--allow-upstream-host {parts.hostname} (or BFL_MOCK_ALLOW_UPSTREAM_HOST)"
        )
    return f"{parts.scheme}://{parts.netloc}", parts.netloc


class Answer:
    """The upstream's answer, streamed: ``status``, ``headers`` as received (bytes), ``chunks()``, ``aclose()``."""

    def __init__(self, response: Any) -> None:
        self._response = response
        self.status: int = response.status
        self.headers: list[tuple[bytes, bytes]] = list(response.headers)

    def chunks(self) -> AsyncIterator[bytes]:
        return self._response.aiter_stream()  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        await self._response.aclose()


class Upstream:
    """The pooled connections to one upstream origin (httpcore: the bytes as they are, no cookie jar, no
    redirects followed, no decoding; httpx's client model on top added measurable time per call)."""

    def __init__(self, options: UpstreamOptions) -> None:
        import httpcore

        self.options = options
        self.origin, self.host = check_upstream(options.url, options.allow)
        self._pool = httpcore.AsyncConnectionPool(
            max_connections=options.max_connections,
            max_keepalive_connections=options.max_connections,
            keepalive_expiry=60.0,
        )
        self._timeouts = {
            "connect": options.connect_timeout,
            "read": options.timeout,
            "write": options.timeout,
            "pool": options.timeout,
        }

    def outgoing_headers(self, headers: Sequence[tuple[str, str]], body: bytes) -> list[tuple[bytes, bytes]]:
        """The app's headers as sent, in order, except the hop-by-hop ones and Host (the upstream's own)."""
        out: list[tuple[bytes, bytes]] = [(b"Host", self.host.encode("latin-1"))]
        had_length = False
        for k, v in headers:
            low = k.lower()
            if low in HOP_BY_HOP or low == "host":
                continue
            had_length = had_length or low == "content-length"
            out.append((k.encode("latin-1"), v.encode("latin-1")))
        if body and not had_length:  # the app sent the body chunked: it goes with its length
            out.append((b"Content-Length", str(len(body)).encode()))
        return out

    async def send(self, method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes) -> Answer:
        """Send the request as it came (the target's bytes as sent); the answer is streamed."""
        import httpcore

        request = httpcore.Request(
            method.encode("latin-1"),
            (self.origin + target).encode("latin-1"),
            headers=self.outgoing_headers(headers, body),
            content=body,
            extensions={"timeout": self._timeouts},
        )
        response = await self._pool.handle_async_request(request)
        return Answer(response)

    async def aclose(self) -> None:
        await self._pool.aclose()
