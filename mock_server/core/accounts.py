"""Who may call and how much: API keys, per-key accounts (credits, active tasks) and the get_result rate
limit. Bounded by construction: accounts and buckets are kept by key fingerprint (a 64 KB key costs 16
bytes) in LRU maps of ``max_accounts`` / ``max_clients`` entries. Not thread-safe by itself: the backend
calls it under its lock."""

from __future__ import annotations

import itertools
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from mock_server.core.config import Settings
from mock_server.core.errors import invalid_key, not_authenticated, rate_limit_exceeded
from mock_server.core.redact import key_fingerprint

V = TypeVar("V")


@dataclass
class Account:
    """One API key's account: its balance and the ids of its tasks still Pending (the active-task limit)."""

    key: str  # the key's fingerprint
    credits: float
    active: set[str] = field(default_factory=set)


def check_key(settings: Settings, key: str | None) -> str:
    """The x-key as the real API judges it (dossier S5, S6): missing, empty, or not one of ``api_keys``."""
    if key is None:
        raise not_authenticated(settings.missing_key_status)
    if not key or (settings.api_keys and key not in settings.api_keys):
        raise invalid_key()
    return key


class _ByKey(Generic[V]):
    """Entries kept by key fingerprint, least recently used first (the subclasses decide what goes when)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._items: OrderedDict[str, V] = OrderedDict()

    def forget(self, key: str) -> None:
        self._items.pop(key_fingerprint(key) or "", None)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


class Accounts(_ByKey[Account]):
    """The accounts by key fingerprint, at most ``max_accounts`` (idle ones forgotten first)."""

    def get(self, key: str) -> Account:
        """The key's account, created on first use; beyond ``max_accounts`` the least recently used idle
        account is forgotten (its balance starts again), an account with active tasks never is."""
        fp = key_fingerprint(key) or ""
        acc = self._items.get(fp)
        if acc is None:
            acc = self._items[fp] = Account(fp, self.settings.credits)
            excess = len(self._items) - self.settings.max_accounts
            if excess > 0:
                idle = (f for f, a in self._items.items() if not a.active and f != fp)
                for old_fp in list(itertools.islice(idle, excess)):
                    del self._items[old_fp]
        else:
            self._items.move_to_end(fp)
        return acc

    def find(self, key: str) -> Account | None:
        """The key's account if it has one (reading creates nothing)."""
        return self._items.get(key_fingerprint(key) or "")


class TokenBuckets(_ByKey[list[float]]):
    """get_result's rate limit per key (or client address), dossier P6: ``ratelimit_limit`` tokens, refilled
    at ``ratelimit_refill_per_second`` (an assumption), with the recorded ``X-Ratelimit-*`` headers."""

    def take(self, client: str, now: float) -> list[tuple[str, str]]:
        """Spend one token; the headers to send, or ApiError 429 when none is left."""
        limit = self.settings.ratelimit_limit
        if limit <= 0:
            return []
        rate = max(self.settings.ratelimit_refill_per_second, 1e-9)
        fp = key_fingerprint(client) or ""
        bucket = self._items.get(fp)
        if bucket is None:  # the least recently used buckets go first
            bucket = self._items[fp] = [float(limit), now]
            while len(self._items) > self.settings.max_clients:
                self._items.popitem(last=False)
        else:
            self._items.move_to_end(fp)
        tokens = min(float(limit), bucket[0] + (now - bucket[1]) * rate)
        bucket[1] = now
        regain = (1.0 - (tokens % 1.0)) / rate
        if tokens < 1.0:
            bucket[0] = tokens
            raise rate_limit_exceeded(
                {
                    "X-Ratelimit-Limit": str(limit),
                    "X-Ratelimit-Remaining": "0",
                    "X-Ratelimit-Reset": repr(now + regain),
                    "Retry-After": str(max(1, math.ceil(regain))),
                },
            )
        tokens -= 1.0
        bucket[0] = tokens
        return [
            ("X-Ratelimit-Limit", str(limit)),
            ("X-Ratelimit-Remaining", str(int(tokens))),
            ("X-Ratelimit-Reset", repr(now + 1.0 + regain)),
        ]
