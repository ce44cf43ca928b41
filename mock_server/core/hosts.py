"""BFL's host names, as data: the pytest plugin serves requests to these in-process, the TLS helpers issue
certificates for them, the proxy terminates them.

Sources: BFL's OpenAPI (``servers``: ``api.bfl.ai``; the finetune paths ``api.us1.bfl.ai``), BFL's docs and
help centre (global ``api.bfl.ai``, regional ``api.eu.bfl.ai``/``api.us.bfl.ai``, older single-cluster
``api.eu1``/``api.us1``; results on ``delivery.<region>.bfl.ai``, older ``delivery-eu1``/``delivery-us1``),
recorded traffic (polling on ``api.eu4.bfl.ai``, results on ``bfldeliveryprodeu4.blob.core.windows.net``),
client libraries (LiteLLM accepts polling URLs on ``bfl.ai`` or any subdomain, e.g. ``gateway.bfl.ai``) and
the legacy ``bfl.ml`` domain.
"""

from __future__ import annotations

import re

#: API hosts a client submits to or polls.
API_HOSTS: tuple[str, ...] = (
    "api.bfl.ai",
    "api.eu.bfl.ai",
    "api.us.bfl.ai",
    "api.eu1.bfl.ai",
    "api.eu2.bfl.ai",
    "api.eu3.bfl.ai",
    "api.eu4.bfl.ai",
    "api.us1.bfl.ai",
    "api.us2.bfl.ai",
    "api.us3.bfl.ai",
    "gateway.bfl.ai",
    "api.bfl.ml",
)

#: Hosts that serve result downloads (``result.sample``).
DELIVERY_HOSTS: tuple[str, ...] = (
    "delivery.eu.bfl.ai",
    "delivery.us.bfl.ai",
    "delivery-eu1.bfl.ai",
    "delivery-eu2.bfl.ai",
    "delivery-eu4.bfl.ai",
    "delivery-us1.bfl.ai",
    "delivery-us2.bfl.ai",
    "bfldeliveryprodeu4.blob.core.windows.net",
)

#: Every named host (certificates list these; matching also accepts the patterns below).
ALL_HOSTS: tuple[str, ...] = API_HOSTS + DELIVERY_HOSTS

#: The names the local CA's leaf certificate carries and the intercepting proxy terminates (``mock_server/tls``):
#: every named host of ``bfl.ai`` (the CA is name-constrained to ``bfl.ai`` and loopback, so no other domain), and
#: the neighbouring numbers of the clusters, so a new cluster does not break a client.
CERT_HOSTS: tuple[str, ...] = tuple(
    sorted(
        {h for h in ALL_HOSTS if h.endswith(".bfl.ai")}
        | {f"api.{r}{n}.bfl.ai" for r in ("eu", "us") for n in range(1, 5)}
        | {f"delivery-{r}{n}.bfl.ai" for r in ("eu", "us") for n in range(1, 5)}
    )
)
#: Loopback names and addresses on that certificate.
CERT_LOOPBACK_NAMES: tuple[str, ...] = ("localhost",)
CERT_LOOPBACK_IPS: tuple[str, ...] = ("127.0.0.1", "::1")


def is_cert_host(host: str) -> bool:
    """One of ``CERT_HOSTS`` (case-insensitive, a trailing dot allowed): what the proxy answers with the fake."""
    return host.lower().rstrip(".") in _CERT_SET


#: Patterns for hosts not named above: any ``api*``/``gateway`` host of bfl.ai/bfl.ml, any ``delivery*``
#: host of bfl.ai, BFL's Azure delivery accounts.
HOST_PATTERNS: tuple[str, ...] = (
    r"(api(\.[a-z0-9-]+)?|api[0-9a-z-]*|gateway(\.[a-z0-9-]+)?)\.bfl\.(ai|ml)",
    r"delivery([.-][a-z0-9-]+)*\.bfl\.ai",
    r"bfldelivery[a-z0-9]*\.blob\.core\.windows\.net",
)

_HOST_RE = re.compile(r"\A(?:" + "|".join(HOST_PATTERNS) + r")\Z")

#: The same as a URL regex (scheme, host, optional port, then ``/``), for respx and friends.
URL_REGEX = r"^https?://(?:" + "|".join(HOST_PATTERNS) + r")(?::\d+)?/"

#: What the in-process fake calls itself (the base URL the fixtures and ``mock_bfl`` report).
DEFAULT_BASE_URL = "https://api.bfl.ai"
#: Where result downloads point when no ``delivery_url`` is set.
DEFAULT_DELIVERY_URL = "https://delivery-us1.bfl.ai"


_CERT_SET = frozenset(CERT_HOSTS)


def is_bfl_host(host: str | None) -> bool:
    """``True`` for BFL's API and delivery hosts (case-insensitive, port and trailing dot ignored)."""
    if not host:
        return False
    host = host.lower().rstrip(".")
    if host.startswith("["):
        return False
    host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return host in ALL_HOSTS or _HOST_RE.match(host) is not None


LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


def is_loopback(host: str | None) -> bool:
    """``True`` for ``localhost``, 127.0.0.0/8 and ``::1`` (the only addresses tests may reach)."""
    import ipaddress

    if not host:
        return False
    host = host.lower().rstrip(".").strip("[]")
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


__all__ = [
    "ALL_HOSTS",
    "API_HOSTS",
    "CERT_HOSTS",
    "CERT_LOOPBACK_IPS",
    "CERT_LOOPBACK_NAMES",
    "DEFAULT_BASE_URL",
    "DEFAULT_DELIVERY_URL",
    "DELIVERY_HOSTS",
    "HOST_PATTERNS",
    "URL_REGEX",
    "is_bfl_host",
    "is_cert_host",
    "is_loopback",
]
