"""BFL's host names, as data: the one list the local CA's leaf certificate, the intercepting proxy and the
pytest plugin agree on.

Sources (see /work/shared/reference/behaviour-dossier.md A3, A5, D1, S3): ``api.bfl.ai`` (global),
``api.eu.bfl.ai`` / ``api.us.bfl.ai`` (regional), the numbered clusters of older docs and of recorded
polling URLs (``api.eu1``, ``api.eu4``, ``api.us1`` were seen; the neighbouring numbers are listed so a new
cluster does not break a client), ``gateway.bfl.ai`` (named by LiteLLM as a polling host), and the result
hosts ``delivery-<region><n>.bfl.ai`` (recorded) and ``delivery.<region>.bfl.ai`` (current docs).
"""

from __future__ import annotations

REGIONS = ("eu", "us")
CLUSTERS = (1, 2, 3, 4)

API_HOSTS: tuple[str, ...] = (
    "api.bfl.ai",
    *(f"api.{r}.bfl.ai" for r in REGIONS),
    *(f"api.{r}{n}.bfl.ai" for r in REGIONS for n in CLUSTERS),
    "gateway.bfl.ai",
)
DELIVERY_HOSTS: tuple[str, ...] = (
    *(f"delivery.{r}.bfl.ai" for r in REGIONS),
    *(f"delivery-{r}{n}.bfl.ai" for r in REGIONS for n in CLUSTERS),
)
BFL_HOSTS: tuple[str, ...] = API_HOSTS + DELIVERY_HOSTS

LOOPBACK_NAMES: tuple[str, ...] = ("localhost",)
LOOPBACK_IPS: tuple[str, ...] = ("127.0.0.1", "::1")


def is_bfl_host(host: str) -> bool:
    """True for one of BFL's hosts (exact match, case-insensitive, a trailing dot allowed)."""
    return host.lower().rstrip(".") in _BFL_SET


_BFL_SET = frozenset(BFL_HOSTS)
