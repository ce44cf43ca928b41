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
from pathlib import Path
from typing import Any

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
    here = Path(__file__).resolve().parent
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


class FinetuneRegistry:
    def __init__(self, *, strict: bool = False, defaults: dict[str, dict[str, Any]] | None = None) -> None:
        self.strict = strict
        self._defaults = defaults if defaults is not None else load_defaults()
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._items: dict[str, dict[str, Any]] = copy.deepcopy(self._defaults)
            self.auto_registered: list[str] = []

    def usable(self, finetune_id: str, api_key: str | None = None) -> bool:
        with self._lock:
            item = self._items.get(finetune_id)
            if item is not None:
                return item.get("status", "Ready") == "Ready"
            if self.strict:
                return False
            log.info("bfl-mock: unknown finetune_id %r registered on first use (lenient mode)", finetune_id)
            self._items[finetune_id] = {"finetune_type": "lora", "status": "Ready", "auto_registered": True}
            self.auto_registered.append(finetune_id)
            return True

    def add(self, finetune_id: str, /, **details: Any) -> dict[str, Any]:
        with self._lock:
            item = {"finetune_type": "lora", "status": "Ready", **details}
            self._items[finetune_id] = item
            return item

    def get(self, finetune_id: str) -> dict[str, Any] | None:
        with self._lock:
            item = self._items.get(finetune_id)
            return None if item is None else copy.deepcopy(item)

    def ids(self) -> list[str]:
        with self._lock:
            return list(self._items)

    def delete(self, finetune_id: str) -> bool:
        with self._lock:
            return self._items.pop(finetune_id, None) is not None

    @staticmethod
    def timestamp(now: float) -> str:
        return dt.datetime.fromtimestamp(now, tz=dt.timezone.utc).isoformat()
