"""Bounded storage for results.

``ResultStore`` keeps each finished task's compressed edge map (16-45 KB per megapixel) in memory up to
a byte budget and spills older ones to a private temporary directory beyond it (an entry over the whole
budget goes to disk at once), so nothing accepted is lost and memory stays bounded. ``BytesLRU`` caches
encoded outputs (what downloads serve) by size.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import threading
from collections import OrderedDict
from typing import Any


class SizedLRU:
    """Values with a declared size, the most recently used kept up to a byte budget (the others are forgotten):
    what is nice to have (encoded outputs, the dashboard's input images) and must never cost disk I/O or
    unbounded memory."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._items: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def put(self, key: str, value: Any, nbytes: int) -> None:
        if nbytes > self.budget:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= old[1]
            self._items[key] = (value, nbytes)
            self._size += nbytes
            while self._size > self.budget:
                _, (_, evicted) = self._items.popitem(last=False)
                self._size -= evicted

    def get(self, key: str) -> Any | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def pop(self, key: str) -> None:
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= old[1]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._size = 0

    @property
    def size(self) -> int:
        return self._size


class BytesLRU(SizedLRU):
    """Encoded outputs by their length."""

    def put(self, key: str, value: bytes, nbytes: int | None = None) -> None:
        super().put(key, value, len(value) if nbytes is None else nbytes)


class ResultStore:
    """What a finished task needs for its downloads (checked inputs or a compact intermediate), by task id:
    in memory up to ``memory_budget`` bytes, the oldest spilled to a private temporary directory beyond it."""

    def __init__(self, memory_budget: int) -> None:
        self.memory_budget = memory_budget
        self._mem: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._mem_size = 0
        self._disk: dict[str, str] = {}
        self._dir: str | None = None
        self._lock = threading.Lock()

    def put(self, key: str, value: Any, nbytes: int) -> None:
        with self._lock:
            self._drop(key)
            self._mem[key] = (value, nbytes)
            self._mem_size += nbytes
            while self._mem_size > self.memory_budget and self._mem:  # the newest too, when it alone is over
                old_key, (old_value, old_size) = self._mem.popitem(last=False)
                self._mem_size -= old_size
                self._spill(old_key, old_value)

    def get(self, key: str) -> Any | None:
        with self._lock:
            item = self._mem.get(key)
            if item is not None:
                return item[0]
            path = self._disk.get(key)
        if path is None:
            return None
        try:
            with open(path, "rb") as fh:
                return pickle.load(fh)  # our own file in our own private directory
        except OSError:
            return None

    def delete(self, key: str) -> None:
        with self._lock:
            self._drop(key)

    def _drop(self, key: str) -> None:
        item = self._mem.pop(key, None)
        if item is not None:
            self._mem_size -= item[1]
        path = self._disk.pop(key, None)
        if path is not None:
            try:
                os.unlink(path)
            except OSError:
                pass

    def _spill(self, key: str, value: Any) -> None:
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="bfl-mock-results-")
        path = os.path.join(self._dir, key)
        with open(path, "wb") as fh:
            pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
        self._disk[key] = path

    def clear(self) -> None:
        with self._lock:
            self._mem.clear()
            self._mem_size = 0
            self._disk.clear()
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None

    def stats(self) -> dict[str, int]:
        return {"in_memory": len(self._mem), "memory_bytes": self._mem_size, "on_disk": len(self._disk)}
