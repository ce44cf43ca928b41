"""Recording with scrubbing: the exchanges of a contract run as a go-vcr v2 cassette, with keys, secrets and
image payloads removed before anything is written."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

SCRUBBED = "REDACTED"


def _image_summary(value: str) -> str:
    return f"<scrubbed image: {len(value)} chars sha256 {hashlib.sha256(value.encode()).hexdigest()[:16]}>"


def scrub_json(value: Any) -> Any:
    """Remove what must never be stored: keys, secrets and image payloads (kept as length + hash).

    The image fields are every endpoint's, from the endpoint registry (``core.endpoints.all_image_fields``);
    a 422 item whose ``loc`` names an image field has its echoed ``input`` scrubbed too."""
    from mock_server.core.endpoints import all_image_fields

    images = all_image_fields()
    if isinstance(value, dict):
        out = {}
        loc = value.get("loc")
        about_image = isinstance(loc, list) and bool(loc) and loc[-1] in images
        for k, v in value.items():
            if (k in images or (about_image and k == "input")) and isinstance(v, str) and v:
                out[k] = _image_summary(v)
            elif k == "input" and isinstance(v, str) and v[:1] in "{[":  # a 422 echoing a body sent as text
                out[k] = _scrub_text(v)
            elif k in ("webhook_secret", "x-key", "api_key") and v is not None:
                out[k] = SCRUBBED
            else:
                out[k] = scrub_json(v)
        return out
    if isinstance(value, list):
        return [scrub_json(v) for v in value]
    return value


def _scrub_text(text: str) -> str:
    """A JSON text with its secrets and images scrubbed; text that is not JSON is kept as its length and hash."""
    try:
        return json.dumps(scrub_json(json.loads(text)), separators=(",", ":"))
    except ValueError:
        return f"<text {len(text)} chars sha256 {hashlib.sha256(text.encode()).hexdigest()[:16]}>"


def _scrub_body(body: bytes, content_type: str) -> str:
    if not body:
        return ""
    try:  # whatever the content type says: a JSON body sent as text/plain holds images all the same
        return json.dumps(scrub_json(json.loads(body)), separators=(",", ":"))
    except ValueError:
        pass
    if content_type.startswith("image/") or b"\x00" in body[:512]:
        return f"<binary {len(body)} bytes sha256 {hashlib.sha256(body).hexdigest()[:16]}>"
    return body.decode("utf-8", "replace")


def _scrub_headers(headers: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in headers.multi_items():
        name = k.title()
        out.setdefault(name, []).append(SCRUBBED if k.lower() in ("x-key", "authorization", "x-webhook-secret") else v)
    return out


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
                    "url": str(req.url).replace(f"key={SCRUBBED}", ""),
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
