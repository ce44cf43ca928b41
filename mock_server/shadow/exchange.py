"""One request and the answer it got, as the shadow saw them on the wire (and as a cassette stores them)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Exchange:
    method: str
    path: str
    query: str  # the query string as sent, without "?"
    headers: list[tuple[str, str]]  # request headers as sent (names as sent, in order)
    body: bytes
    status: int = 0  # 0: no answer from the upstream (a timeout or a network error, see ``error``)
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    response_body: bytes = b""  # kept up to the compare limit; ``response_size`` is the whole size
    response_size: int = 0
    response_sha256: str = ""
    truncated: bool = False
    error: str = ""  # why there is no (complete) answer
    started: float = 0.0  # wall-clock time the request arrived
    duration_ms: float = 0.0
    seq: int = 0
    inputs_lost: bool = False  # replayed from a cassette: the input images were scrubbed (outcome unknown)
    facts: dict[str, Any] | None = None  # a media answer known only by its facts (a cassette's summary)

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    def response_header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.response_headers if k.lower() == name), None)

    @property
    def target(self) -> str:
        return self.path + (f"?{self.query}" if self.query else "")

    def seal(self) -> None:
        """Fill in the size and hash from the kept body (when the body was kept whole)."""
        if not self.response_sha256 and not self.truncated:
            self.response_size = len(self.response_body)
            self.response_sha256 = hashlib.sha256(self.response_body).hexdigest()
