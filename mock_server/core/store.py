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
    in memory up to ``memory_budget`` bytes, the oldest spilled to disk beyond it.

    Spilled entries are appended to segment files in a private temporary directory (creating a file per
    entry cost ~0.35 ms on an ext4 disk: more than the rest of a submit; an append costs microseconds). A
    segment is deleted once nothing in it is live, and a full segment whose live bytes fall under a quarter
    of its size has them moved to the newest one, so the disk holds at most about four times what is live
    (plus one segment)."""

    def __init__(self, memory_budget: int, segment_bytes: int = 64 * 1024 * 1024) -> None:
        self.memory_budget = memory_budget
        self.segment_bytes = segment_bytes
        self._mem: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._mem_size = 0
        self._disk: dict[str, tuple[_Segment, int, int]] = {}  # key -> (segment, offset, length)
        self._segment: _Segment | None = None  # the one being appended to
        self._dir: str | None = None
        self._next_segment = 0
        self._lock = threading.Lock()

    def put(self, key: str, value: Any, nbytes: int) -> None:
        with self._lock:
            self._drop(key)
            self._mem[key] = (value, nbytes)
            self._mem_size += nbytes
            while self._mem_size > self.memory_budget and self._mem:  # the newest too, when it alone is over
                old_key, (old_value, old_size) = self._mem.popitem(last=False)
                self._mem_size -= old_size
                self._spill(old_key, pickle.dumps(old_value, protocol=pickle.HIGHEST_PROTOCOL))

    def get(self, key: str) -> Any | None:
        with self._lock:
            item = self._mem.get(key)
            if item is not None:
                return item[0]
            where = self._disk.get(key)
            if where is None:
                return None
            try:
                data = where[0].read(where[1], where[2])  # under the lock: a segment is never closed meanwhile
            except OSError:
                return None
        return pickle.loads(data)  # our own bytes in our own private directory

    def delete(self, key: str) -> None:
        with self._lock:
            self._drop(key)

    def _drop(self, key: str) -> None:
        item = self._mem.pop(key, None)
        if item is not None:
            self._mem_size -= item[1]
        where = self._disk.pop(key, None)
        if where is not None:
            segment = where[0]
            segment.live -= where[2]
            segment.keys.discard(key)
            if segment is not self._segment:
                if not segment.keys:
                    segment.remove()
                elif segment.live * 4 < segment.size:
                    self._compact(segment)

    def _compact(self, segment: _Segment) -> None:
        """(Under the lock.) Move a mostly dead segment's live entries to the newest one and delete it."""
        for key in list(segment.keys):
            _, offset, length = self._disk[key]
            try:
                data = segment.read(offset, length)
            except OSError:
                del self._disk[key]
                continue
            self._spill(key, data)
        segment.remove()

    def _spill(self, key: str, data: bytes) -> None:
        segment = self._segment
        if segment is None or segment.size >= self.segment_bytes:
            if self._dir is None:
                self._dir = tempfile.mkdtemp(prefix="bfl-mock-results-")
            if segment is not None and not segment.keys:
                segment.remove()
            segment = self._segment = _Segment(os.path.join(self._dir, f"segment-{self._next_segment}"))
            self._next_segment += 1
        offset = segment.append(data)
        segment.keys.add(key)
        self._disk[key] = (segment, offset, len(data))

    def clear(self) -> None:
        with self._lock:
            self._mem.clear()
            self._mem_size = 0
            for segment in self._segments():
                segment.close()
            self._disk.clear()
            self._segment = None
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None

    def stats(self) -> dict[str, int]:
        return {"in_memory": len(self._mem), "memory_bytes": self._mem_size, "on_disk": len(self._disk)}

    def disk_bytes(self) -> int:
        """The bytes of the segment files (live entries and not yet reclaimed dead ones)."""
        with self._lock:
            return sum(segment.size for segment in self._segments())

    def _segments(self) -> set[_Segment]:
        """(Under the lock.) Every open segment: those holding an entry, and the one being appended to."""
        found = {where[0] for where in self._disk.values()}
        if self._segment is not None:
            found.add(self._segment)
        return found


class _Segment:
    """One append-only spill file (``ResultStore``): its size, its live bytes and the keys still in it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        self.size = 0
        self.live = 0
        self.keys: set[str] = set()

    def append(self, data: bytes) -> int:
        if self.fd is None:
            raise OSError("segment closed")
        offset = self.size
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]
        self.size += len(data)
        self.live += len(data)
        return offset

    def read(self, offset: int, length: int) -> bytes:
        if self.fd is None:
            raise OSError("segment closed")
        data = os.pread(self.fd, length, offset)
        if len(data) != length:
            raise OSError("short read")
        return data

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def remove(self) -> None:
        self.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass
