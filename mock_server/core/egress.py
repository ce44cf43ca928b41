"""Where the fake itself may connect: webhooks and input-image URLs share one policy.

``webhook_allow`` (hosts, ``.suffix``, ``loopback``) restricts targets by name; every target is checked again
by the addresses it resolves to. The fake never calls its own port (its admin API trusts loopback callers),
and a fake bound beyond loopback refuses loopback and link-local addresses unless they are listed.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from mock_server.core.config import Settings


class TargetRefused(Exception):
    """A URL the fake will not call (allow-list, its own address, loopback on a shared fake)."""


def _is_loopback_name(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost")


def ip_address_of(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def is_loopback(host: str) -> bool:
    """A loopback address literal (127.0.0.0/8, ::1, ::ffff:127.x) or ``localhost``; never a name like
    ``127.attacker.example``."""
    if _is_loopback_name(host.lower()):
        return True
    ip = ip_address_of(host)
    return ip is not None and ip.is_loopback


@dataclass
class EgressPolicy:
    settings: Settings
    bound_port: int | None = None  # the server serving this fake
    bound_host: str | None = None

    def allowed(self, url: str) -> bool:
        """The allow-list by name (``webhook_allow``); addresses are checked again after resolving."""
        allow = self.settings.webhook_allow
        if not allow:
            return True
        host = (urlsplit(url).hostname or "").lower()
        for entry in allow:
            entry = entry.lower()
            if entry == "loopback" and is_loopback(host):
                return True
            if host == entry or (entry.startswith(".") and host.endswith(entry)):
                return True
        return False

    def check(self, host: str, port: int, addresses: list[str]) -> None:
        """Refuse targets the fake must never call, by resolved address (raises TargetRefused)."""
        ips = [ip for ip in (ip_address_of(a) for a in addresses) if ip is not None]
        own_port = self.bound_port
        if own_port is not None and port == own_port and any(ip.is_loopback or ip.is_unspecified for ip in ips):
            raise TargetRefused(f"{host}:{port} is bfl-mock itself")
        allow = [e.lower() for e in self.settings.webhook_allow]
        named = host.lower() in allow or any(e.startswith(".") and host.lower().endswith(e) for e in allow)
        if "loopback" in allow and not named and not all(ip.is_loopback for ip in ips):
            raise TargetRefused(f"{host} resolves to {addresses}, not only loopback addresses")
        bound = self.bound_host or self.settings.host
        if not allow and not is_loopback(bound):
            bad = [str(ip) for ip in ips if ip.is_loopback or ip.is_link_local or ip.is_unspecified]
            if bad:
                raise TargetRefused(
                    f"{host} resolves to {bad}: a fake bound to {bound} does not call loopback or "
                    "link-local addresses unless webhook_allow lists them"
                )

    def fetch(self, url: str, *, timeout: float, max_bytes: int) -> bytes:
        """GET ``url`` (an input image) under the policy: allow-list by name, then by resolved address, then a
        connection to a checked address; at most ``max_bytes``. Raises TargetRefused or OSError."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TargetRefused(f"not an http(s) URL: {url[:100]!r}")
        if not self.allowed(url):
            raise TargetRefused(f"{parts.hostname} is not in webhook_allow")
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
        addresses = [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
        self.check(host, port, addresses)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn: http.client.HTTPConnection
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(host, port, timeout=timeout)  # TLS needs the name
        else:
            conn = http.client.HTTPConnection(addresses[0], port, timeout=timeout)  # the checked address
        try:
            conn.request("GET", target, headers={"Host": parts.netloc, "User-Agent": "bfl-mock-fetch/0.1"})
            resp = conn.getresponse()
            if resp.status != 200:
                raise OSError(f"GET {host}{target[:60]} answered {resp.status}")
            data = resp.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise OSError(f"{host} sent more than {max_bytes} bytes")
            return data
        finally:
            conn.close()
