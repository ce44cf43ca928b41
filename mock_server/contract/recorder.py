"""Recording with scrubbing: the exchanges of a contract run as a go-vcr v2 cassette, with keys, secrets and
image payloads removed before anything is written."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

from mock_server.core.redact import RECORDING

SCRUBBED = RECORDING.mask


def scrub_json(value: Any) -> Any:
    """Remove what must never be stored: keys, secrets and image payloads (kept as length + hash).

    The fake's one redaction policy, as recordings show it (``core.redact.RECORDING``): the image fields are
    every endpoint's, from the endpoint registry; a 422 item whose ``loc`` names an image field or a secret has
    its echoed ``input`` scrubbed too, and a body echoed as text is scrubbed as the JSON it holds."""
    return RECORDING.json(value)


def _scrub_body(body: bytes, content_type: str) -> str:
    if not body:
        return ""
    try:  # whatever the content type says: a JSON body sent as text/plain holds images all the same
        return json.dumps(scrub_json(json.loads(body)), separators=(",", ":"))
    except (ValueError, RecursionError):
        pass
    if content_type.startswith("image/") or b"\x00" in body[:512]:
        return f"<binary {len(body)} bytes sha256 {hashlib.sha256(body).hexdigest()[:16]}>"
    return body.decode("utf-8", "replace")


def _scrub_headers(headers: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in headers.multi_items():
        out.setdefault(k.title(), []).append(RECORDING.header(k, v))
    return out


def _scrub_url(url: Any) -> str:
    """The URL with the values of secret query parameters (a download link's ``sig``, keys, tokens) scrubbed."""
    query = url.query.decode("ascii", "replace") if isinstance(url.query, bytes) else str(url.query)
    text = str(url)
    return text.replace(query, RECORDING.query(query), 1) if query else text


class Recorder:
    """Collects exchanges (httpx event hook) and writes them as a go-vcr v2 cassette, scrubbed."""

    def __init__(self) -> None:
        self.interactions: list[dict[str, Any]] = []

    def hook(self, response: Any) -> None:
        response.read()
        req = response.request
        self.interactions.append(
            {
                "id": len(self.interactions),
                "request": {
                    "url": _scrub_url(req.url),
                    "method": req.method,
                    "headers": _scrub_headers(req.headers),
                    "body": _scrub_body(req.content, req.headers.get("content-type", "")),
                },
                "response": {
                    "code": response.status_code,
                    "status": f"{response.status_code} {response.reason_phrase}",
                    "headers": _scrub_headers(response.headers),
                    "body": _scrub_body(response.content, response.headers.get("content-type", "")),
                },
            }
        )

    def write(self, directory: Path, name: str) -> Path | None:
        if not self.interactions:
            return None
        import yaml

        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{dt.date.today():%Y-%m}-contract-{name}.yaml"
        path.write_text(yaml.safe_dump({"version": 2, "interactions": self.interactions}, sort_keys=False))
        return path
