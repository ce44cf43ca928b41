"""Bounded journal of the requests the fake served (``GET /_mock/requests``, ``BflMock.requests``).

Secrets never enter it: the fake's one redaction policy (``core.redact.JOURNAL``) redacts keys, tokens and
secrets, reduces every image field to its length and SHA-256 and clips long fields; the journal is bounded
by count and bytes.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mock_server.core.redact import JOURNAL, MAX_HEADER, MAX_ITEMS, MAX_STRING, clip, key_fingerprint
from mock_server.http.types import UNPARSED, HttpRequest


def summarize_body(
    body: bytes, content_type: str | None, parsed: Any = UNPARSED, images: dict[str, dict[str, Any]] | None = None
) -> Any:
    """The journal's view of a request body; ``parsed`` / ``images`` reuse work the handler already did."""
    if not body:
        return None
    if content_type and "json" in content_type:
        if parsed is UNPARSED or isinstance(parsed, (bytes, bytearray)):
            try:
                parsed = json.loads(body)
            except Exception:
                return {"raw_length": len(body), "json": False}
        if images and isinstance(parsed, dict):  # summarised by the handler already: not hashed again
            data = JOURNAL.json({**parsed, **dict.fromkeys(images)})
            data.update(images)
            return data
        return JOURNAL.json(parsed)
    return {"raw_length": len(body)}


def redact_response(value: Any) -> Any:
    """A 422 answer for the journal: what it echoes of the request (``input``) is redacted as the request
    was (``JOURNAL`` applies the policy's rules about 422 items)."""
    return JOURNAL.json(value)


def _size(value: Any) -> int:
    """A cheap estimate of a (bounded) JSON value's size in bytes."""
    if isinstance(value, str):
        return len(value) + 2
    if isinstance(value, dict):
        return 2 + sum(len(k) + 4 + _size(v) for k, v in value.items())
    if isinstance(value, list):
        return 2 + sum(_size(v) + 1 for v in value)
    return 8


@dataclass(slots=True)
class Entry:
    id: int
    at: float
    method: str
    path: str
    query: str
    request_headers: dict[str, str]  # as received; redacted whenever they are read (``headers``)
    body: Any
    status: int = 0
    response_raw: bytes | None = None  # JSON responses are parsed only when somebody looks
    task_id: str | None = None
    api_key: str | None = None  # redacted
    key_id: str | None = None  # key_fingerprint(x-key): what filters and scoped resets compare
    latency_ms: float = 0.0
    nbytes: int = 0

    @property
    def headers(self) -> dict[str, str]:
        return {k: JOURNAL.header(k, v) for k, v in self.request_headers.items()}

    @property
    def response(self) -> Any:
        if self.response_raw is None:
            return None
        try:
            return json.loads(self.response_raw)
        except ValueError:
            return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.body,
            "status": self.status,
            "response": self.response,
            "task_id": self.task_id,
            "api_key": self.api_key,
            "latency_ms": round(self.latency_ms, 3),
        }


class Journal:
    """The newest requests, bounded by count (``size``) and by total bytes (``max_bytes``)."""

    def __init__(self, size: int = 1000, max_bytes: int = 16 * 1024 * 1024) -> None:
        self._entries: deque[Entry] = deque()
        self.size = max(1, size)
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def record(self, entry: Entry) -> Entry:
        entry.nbytes += len(entry.response_raw or b"")
        return self._append(entry)

    def _append(self, entry: Entry) -> Entry:
        entries = self._entries
        with self._lock:
            entry.id = next(self._ids)
            entries.append(entry)
            self.nbytes += entry.nbytes
            if len(entries) > self.size or self.nbytes > self.max_bytes:
                while len(entries) > self.size or (self.nbytes > self.max_bytes and len(entries) > 1):
                    self.nbytes -= entries.popleft().nbytes
        return entry

    def add(self, at: float, req: HttpRequest, status: int, response_raw: bytes | None, latency_ms: float) -> Entry:
        """Record the answer ``status`` (and its JSON, ``response_raw``) to ``req``: ``new_entry`` + ``record``.
        A request without a body with short headers (every poll) takes a path of its own: the same entry,
        built in one step (the journal was a third of a poll's time in the fake's own code)."""
        headers, path, query = req.headers, req.path, req.query_string
        if req.body or len(headers) > MAX_ITEMS or len(path) > MAX_STRING or len(query) > MAX_STRING:
            entry = self.new_entry(
                at, req.method, path, query, headers, req.body, headers.get("content-type"), req.parsed, req.images
            )
            entry.status, entry.task_id, entry.response_raw = status, req.task_id, response_raw
            entry.latency_ms = latency_ms
            return self.record(entry)
        header_chars = sum(map(len, headers)) + sum(map(len, headers.values()))
        if header_chars > 128 and (max(map(len, headers)) > 128 or max(map(len, headers.values())) > MAX_HEADER):
            headers = {clip(k, 128): clip(v, MAX_HEADER) for k, v in headers.items()}
        key = headers.get("x-key")
        raw_size = len(response_raw) if response_raw is not None else 0
        entry = Entry(
            0,
            at,
            req.method,
            path,
            query,
            headers,
            None,
            status,
            response_raw,
            req.task_id,
            JOURNAL.secret(key),
            key_fingerprint(key),
            latency_ms,
            300 + len(path) + len(query) + header_chars + raw_size,
        )
        return self._append(entry)

    def new_entry(
        self,
        at: float,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        content_type: str | None,
        parsed: Any = UNPARSED,
        images: dict[str, dict[str, Any]] | None = None,
    ) -> Entry:
        summary = summarize_body(body, content_type, parsed, images) if body else None
        # one pass in C over the names and values (a poll's journal entry is on the hot path): no name or
        # value can be too long while all of them together are short
        header_chars = sum(map(len, headers)) + sum(map(len, headers.values()))
        if len(headers) > MAX_ITEMS or (
            header_chars > 128 and (max(map(len, headers)) > 128 or max(map(len, headers.values())) > MAX_HEADER)
        ):
            headers = {clip(k, 128): clip(v, MAX_HEADER) for k, v in list(headers.items())[:MAX_ITEMS]}
        # a summary is never much larger than a small body; a large body's summary is measured (it may be
        # far smaller: an image becomes its hash)
        size = len(body) if len(body) < 65536 else _size(summary)
        key = headers.get("x-key")
        return Entry(
            0,
            at,
            method,
            path if len(path) <= MAX_STRING else clip(path),
            query if len(query) <= MAX_STRING else clip(query),
            headers,
            summary,
            0,
            None,
            None,
            JOURNAL.secret(key),
            key_fingerprint(key),
            0.0,
            300 + size + len(path) + len(query) + header_chars,
        )

    def clear(self, api_key: str | None = None) -> None:
        with self._lock:
            if api_key is None:
                self._entries.clear()
            else:
                keep = [e for e in self._entries if e.key_id != key_fingerprint(api_key)]
                self._entries.clear()
                self._entries.extend(keep)
            self.nbytes = sum(e.nbytes for e in self._entries)

    def filter(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        task_id: str | None = None,
        api_key: str | None = None,
        limit: int | None = None,
    ) -> list[Entry]:
        """Entries matching every given criterion, oldest first (``path`` may end with ``*``; ``api_key``
        compares fingerprints; ``limit`` keeps the newest N)."""
        with self._lock:
            items = list(self._entries)
        out = [
            e
            for e in items
            if (method is None or e.method == method.upper())
            and (path is None or e.path == path or (path.endswith("*") and e.path.startswith(path[:-1])))
            and (status is None or e.status == status)
            and (task_id is None or e.task_id == task_id)
            and (api_key is None or e.key_id == key_fingerprint(api_key))
        ]
        return out[-limit:] if limit else out

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(list(self._entries))

    @property
    def last(self) -> Entry | None:
        """The newest entry (``.status``, ``.body``, ``.response``, ``.headers``, ``.task_id``), or None."""
        return self._entries[-1] if self._entries else None
