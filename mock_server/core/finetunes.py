"""Finetune registry behind ``finetune_id`` and BFL's finetune utility endpoints.

Lenient by default: an unknown id is registered on first use (and logged), so any id works out of the
box; strict mode answers the real 400 ``Finetune not found or not ready`` (dossier S7). Defaults come
from ``fixtures/finetunes.json`` (packaged), which includes the documented ``my-finetune``.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mock_server.core.redact import key_fingerprint

log = logging.getLogger("bfl_mock")

_BUILTIN = {
    "my-finetune": {
        "finetune_type": "lora",
        "trigger_word": "TOK",
        "mode": "general",
        "iterations": 300,
        "learning_rate": 0.00001,
        "captioning": True,
        "priority": "quality",
        "lora_rank": 32,
        "finetune_comment": "the documented example finetune",
        "status": "Ready",
    }
}


def default_finetunes_path() -> Path | None:
    here = Path(__file__).resolve().parent.parent  # mock_server/
    for candidate in (here / "fixtures" / "finetunes.json", here.parent / "fixtures" / "finetunes.json"):
        if candidate.is_file():
            return candidate
    return None


def load_defaults() -> dict[str, dict[str, Any]]:
    path = default_finetunes_path()
    if path is None:
        return copy.deepcopy(_BUILTIN)
    data = json.loads(path.read_text(encoding="utf-8"))
    return {str(k): dict(v) for k, v in data["finetunes"].items()}


@dataclass
class _Account:
    added: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)
    deleted: set[str] = field(default_factory=set)


class FinetuneRegistry:
    """A shared catalogue (the defaults, config files, the admin API without a key) that every account
    sees, plus each account's own changes: finetunes it registered (lenient mode) and ones it deleted.
    The real API scopes finetunes to the account, so ``mallory`` deleting ``my-finetune`` leaves it in
    ``alice``'s list. Per-account state is bounded: ``MAX_KEYS`` accounts (least recently used forgotten),
    ``MAX_PER_KEY`` registered ids each, and ids longer than ``MAX_ID_CHARS`` are accepted unregistered.
    """

    MAX_KEYS = 10_000
    MAX_PER_KEY = 200
    MAX_ID_CHARS = 256

    def __init__(self, *, strict: bool = False, defaults: dict[str, dict[str, Any]] | None = None) -> None:
        self.strict = strict
        self._defaults = defaults if defaults is not None else load_defaults()
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._items: dict[str, dict[str, Any]] = copy.deepcopy(self._defaults)
            self._accounts: OrderedDict[str, _Account] = OrderedDict()
            self._auto: deque[str] = deque(maxlen=1000)

    @property
    def auto_registered(self) -> list[str]:
        """Ids registered on first use (lenient mode), newest last; the last 1,000 (clipped to 80 chars)."""
        return list(self._auto)

    def reset_key(self, api_key: str) -> None:
        with self._lock:
            self._accounts.pop(key_fingerprint(api_key) or "", None)

    def _account(self, api_key: str | None, create: bool = False) -> _Account | None:
        if api_key is None:
            return None
        fp = key_fingerprint(api_key) or ""
        acc = self._accounts.get(fp)
        if acc is None and create:
            acc = self._accounts[fp] = _Account()
            while len(self._accounts) > self.MAX_KEYS:
                self._accounts.popitem(last=False)
        elif acc is not None:
            self._accounts.move_to_end(fp)
        return acc

    def _lookup(self, finetune_id: str, api_key: str | None) -> dict[str, Any] | None:
        acc = self._account(api_key)
        if acc is not None:
            if finetune_id in acc.added:
                return acc.added[finetune_id]
            if finetune_id in acc.deleted:
                return None
        return self._items.get(finetune_id)

    def usable(self, finetune_id: str, api_key: str | None = None) -> bool:
        with self._lock:
            item = self._lookup(finetune_id, api_key)
            if item is not None:
                return bool(item.get("status", "Ready") == "Ready")
            if self.strict:
                return False
            log.info("bfl-mock: unknown finetune_id %r registered on first use (lenient mode)", finetune_id[:80])
            self._auto.append(finetune_id[:80])
            if len(finetune_id) > self.MAX_ID_CHARS:
                return True
            entry = {"finetune_type": "lora", "status": "Ready", "auto_registered": True}
            acc = self._account(api_key, create=True)
            if acc is None:
                self._items[finetune_id] = entry
            else:
                acc.deleted.discard(finetune_id)
                acc.added[finetune_id] = entry
                while len(acc.added) > self.MAX_PER_KEY:
                    acc.added.popitem(last=False)
            return True

    def add(self, finetune_id: str, /, **details: Any) -> dict[str, Any]:
        """Add to the shared catalogue (every account sees it)."""
        with self._lock:
            item = {"finetune_type": "lora", "status": "Ready", **details}
            self._items[finetune_id] = item
            for acc in self._accounts.values():
                acc.deleted.discard(finetune_id)
            return item

    def add_for(self, api_key: str, finetune_id: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
        """Add to one account only."""
        with self._lock:
            item = {"finetune_type": "lora", "status": "Ready", **(details or {})}
            acc = self._account(api_key, create=True)
            assert acc is not None
            acc.deleted.discard(finetune_id)
            acc.added[finetune_id] = item
            while len(acc.added) > self.MAX_PER_KEY:
                acc.added.popitem(last=False)
            return item

    def get(self, finetune_id: str, api_key: str | None = None) -> dict[str, Any] | None:
        with self._lock:
            item = self._lookup(finetune_id, api_key)
            return None if item is None else copy.deepcopy(item)

    def ids(self, api_key: str | None = None) -> list[str]:
        with self._lock:
            acc = self._account(api_key)
            if acc is None:
                return list(self._items)
            shared = [i for i in self._items if i not in acc.deleted and i not in acc.added]
            return shared + list(acc.added)

    def delete(self, finetune_id: str, api_key: str | None = None) -> bool:
        """Delete for one account (``api_key``) or, without a key, from the shared catalogue."""
        with self._lock:
            if api_key is None:
                return self._items.pop(finetune_id, None) is not None
            if self._lookup(finetune_id, api_key) is None:
                return False
            acc = self._account(api_key, create=True)
            assert acc is not None
            acc.added.pop(finetune_id, None)
            if finetune_id in self._items:
                acc.deleted.add(finetune_id)
            return True

    @staticmethod
    def timestamp(now: float) -> str:
        return dt.datetime.fromtimestamp(now, tz=dt.timezone.utc).isoformat()
