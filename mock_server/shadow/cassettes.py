"""Exchanges as scrubbed go-vcr v2 cassettes (the contract kit's recording format), and back.

Scrubbed: ``x-key``, authorization and webhook secrets become ``REDACTED``; every image field of every
endpoint (the endpoint registry) becomes ``<scrubbed image: N chars sha256 H WxH>`` (its pixel size kept, so
a check can send an image of that size again); a result URL's ``sig`` becomes ``REDACTED``; a media answer
becomes ``<binary N bytes sha256 H format F size WxH>`` unless media are kept (``--record-media``: the bytes
go beside the cassette, ``<name>.media/<sha256>``). The recordings folder is bounded (``max_bytes``): once
full, further exchanges are counted, not written.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mock_server.core.redact import REDACTED_HEADERS
from mock_server.shadow.exchange import Exchange

SCRUBBED = "REDACTED"
SECRET_HEADERS = frozenset(REDACTED_HEADERS) | {"set-cookie", "proxy-authorization"}
SECRET_FIELDS = frozenset({"webhook_secret", "x-key", "api_key"})
IMAGE_SUMMARY = re.compile(r"^<scrubbed image: (\d+) chars sha256 ([0-9a-f]+)(?: (\d+)x(\d+))?>$")
MEDIA_SUMMARY = re.compile(
    r"^<binary (\d+) bytes sha256 ([0-9a-f]+)(?: format (\w+))?(?: size (\d+)x(\d+))?(?: file ([\w.\-/]+))?>$"
)
SIG = re.compile(r"([?&]sig=)[^&\"\s]+")
PER_FILE = 50  # interactions per cassette file: a long session is many small files, each rewritten as it grows


def _image_summary(value: str) -> str:
    from mock_server.core import imaging

    size = None
    if not value.startswith(("http://", "https://")):
        try:
            size = imaging.peek_size(value)
        except Exception:  # not an image: kept as length and hash only
            size = None
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"<scrubbed image: {len(value)} chars sha256 {digest}{f' {size[0]}x{size[1]}' if size else ''}>"


def scrub_json(value: Any, images: frozenset[str] | None = None) -> Any:
    if images is None:
        from mock_server.core.endpoints import all_image_fields

        images = all_image_fields()
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        loc = value.get("loc")
        about_image = isinstance(loc, list) and bool(loc) and loc[-1] in images
        for k, v in value.items():
            if (k in images or (about_image and k == "input")) and isinstance(v, str) and v:
                out[k] = v if IMAGE_SUMMARY.match(v) else _image_summary(v)
            elif k in SECRET_FIELDS and v is not None:
                out[k] = SCRUBBED
            elif isinstance(v, str):
                out[k] = SIG.sub(rf"\g<1>{SCRUBBED}", v) if "sig=" in v else v
            else:
                out[k] = scrub_json(v, images)
        return out
    if isinstance(value, list):
        return [scrub_json(v, images) for v in value]
    return value


def scrub_body(body: bytes) -> str:
    if not body:
        return ""
    try:
        return json.dumps(scrub_json(json.loads(body)), separators=(",", ":"))
    except ValueError:
        pass
    if b"\x00" in body[:512]:
        return f"<binary {len(body)} bytes sha256 {hashlib.sha256(body).hexdigest()[:16]}>"
    return body.decode("utf-8", "replace")


def scrub_headers(headers: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in headers:
        out.setdefault(k.title(), []).append(SCRUBBED if k.lower() in SECRET_HEADERS and v.strip() else v)
    return out


def scrub_request(ex: Exchange) -> dict[str, Any]:
    """The request as a report shows it: method, target, headers and body, scrubbed."""
    return {
        "method": ex.method,
        "url": SIG.sub(rf"\g<1>{SCRUBBED}", ex.target),
        "headers": scrub_headers(ex.headers),
        "body": scrub_body(ex.body)[:4096],
    }


def _media_summary(ex: Exchange, file: str | None) -> str:
    from mock_server.shadow.rules import artefact_facts

    facts = ex.facts or artefact_facts(ex.response_body)
    size = facts.get("size")
    text = f"<binary {ex.response_size} bytes sha256 {ex.response_sha256[:16]} format {facts['format']}"
    if isinstance(size, list):
        text += f" size {size[0]}x{size[1]}"
    return text + (f" file {file}" if file else "") + ">"


def is_media(ex: Exchange) -> bool:
    ctype = (ex.response_header("content-type") or "").lower()
    return ctype.startswith(("image/", "video/", "application/octet-stream")) or b"\x00" in ex.response_body[:512]


def to_interaction(ex: Exchange, origin: str, index: int, media_file: str | None = None) -> dict[str, Any]:
    body = _media_summary(ex, media_file) if is_media(ex) else scrub_body(ex.response_body)
    return {
        "id": index,
        "request": {
            "url": origin + SIG.sub(rf"\g<1>{SCRUBBED}", ex.target),
            "method": ex.method,
            "headers": scrub_headers(ex.headers),
            "body": scrub_body(ex.body),
        },
        "response": {
            "code": ex.status,
            "status": f"{ex.status} {_reason(ex.status)}",
            "headers": scrub_headers(ex.response_headers),
            "body": body,
            "duration": f"{ex.duration_ms:.0f}ms",
        },
    }


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


class Recorder:
    """Writes exchanges as cassettes in ``directory``, ``PER_FILE`` interactions a file, bounded in bytes."""

    def __init__(self, directory: Path, *, origin: str, max_bytes: int, media: bool = False) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.origin = origin
        self.max_bytes = max_bytes
        self.media = media
        self.written = 0
        self.dropped = 0
        self.bytes = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
        self._stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H%M%S")
        self._pending: list[dict[str, Any]] = []
        self._file_no = 0
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self.directory / f"{self._stamp}-shadow-{self._file_no:04d}.yaml"

    def record(self, ex: Exchange) -> None:
        with self._lock:
            if self.bytes >= self.max_bytes:
                self.dropped += 1
                return
            media_file = None
            if self.media and is_media(ex) and not ex.truncated and ex.response_body:
                media_dir = self.directory / f"{self._stamp}-shadow.media"
                media_dir.mkdir(exist_ok=True)
                name = ex.response_sha256
                (media_dir / name).write_bytes(ex.response_body)
                self.bytes += len(ex.response_body)
                media_file = f"{media_dir.name}/{name}"
            self._pending.append(to_interaction(ex, self.origin, len(self._pending), media_file))
            self.written += 1
            self._write()
            if len(self._pending) >= PER_FILE:
                self._pending = []
                self._file_no += 1

    def _write(self) -> None:
        import yaml

        text = yaml.safe_dump({"version": 2, "interactions": self._pending}, sort_keys=False, allow_unicode=True)
        path = self.path
        old = path.stat().st_size if path.exists() else 0
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(path)  # a reader (or a crash) sees the last whole file, never half of one
        self.bytes += len(text.encode()) - old

    def stats(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "written": self.written,
            "dropped": self.dropped,
            "bytes": self.bytes,
            "max_bytes": self.max_bytes,
        }


# ---------------------------------------------------------------------------------------------- reading
def cassette_files(directory: Path) -> list[Path]:
    if directory.is_file():
        return [directory]
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: no such folder of cassettes")
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def interactions(directory: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every interaction of every cassette in ``directory``, in file-name order then recorded order."""
    import yaml

    for path in cassette_files(directory):
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict) or not isinstance(data.get("interactions"), list):
            raise ValueError(f"{path}: not a go-vcr cassette (no interactions list)")
        for item in data["interactions"]:
            if isinstance(item, dict) and isinstance(item.get("request"), dict):
                yield path, item


def _pairs(headers: Any) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if isinstance(headers, dict):
        for k, values in headers.items():
            for v in values if isinstance(values, list) else [values]:
                out.append((str(k), str(v)))
    return out


def placeholder_image(width: int, height: int) -> str:
    """A base64 PNG of the recorded size, sent in place of a scrubbed input image."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (128, 128, 128)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def unscrub_body(text: str) -> tuple[bytes, bool]:
    """A recorded request body to send again: scrubbed images replaced by an image of their size. The flag
    says whether an image's content was lost (its task's outcome is then not predictable)."""
    if not text:
        return b"", False
    try:
        data = json.loads(text)
    except ValueError:
        return text.encode(), False
    lost = False

    def walk(v: Any) -> Any:
        nonlocal lost
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, str):
            m = IMAGE_SUMMARY.match(v)
            if m:
                lost = True
                return placeholder_image(int(m[3]), int(m[4])) if m[3] else v
        return v

    return json.dumps(walk(data), separators=(",", ":")).encode(), lost


def media_facts(text: str) -> dict[str, Any] | None:
    m = MEDIA_SUMMARY.match(text or "")
    if not m:
        return None
    facts: dict[str, Any] = {"format": m[3] or "unknown", "bytes": int(m[1])}
    if m[4]:
        facts["size"] = [int(m[4]), int(m[5])]
    return facts


def to_exchange(item: dict[str, Any], seq: int = 0) -> tuple[Exchange, bool]:
    """An interaction back as an Exchange (scrubbed secrets stay scrubbed; images become placeholders)."""
    from urllib.parse import urlsplit

    req, resp = item["request"], item.get("response") or {}
    url = urlsplit(str(req.get("url", "")))
    body, lost = unscrub_body(str(req.get("body") or ""))
    raw = resp.get("body") or ""
    resp_bytes = raw if isinstance(raw, bytes) else str(raw).encode()  # go-vcr keeps binary bodies as YAML binary
    resp_text = "" if isinstance(raw, bytes) else str(raw)
    ctype = next((v for k, v in _pairs(resp.get("headers")) if k.lower() == "content-type"), "")
    if resp_text and ctype.startswith(("image/", "video/")) and not resp_text.startswith("<binary "):
        try:  # a recorder that stored the bytes as text, one character per byte
            resp_bytes, resp_text = resp_text.encode("latin-1"), ""
        except UnicodeEncodeError:  # stored as text, decoded lossily: the artefact is not in the cassette
            resp_bytes, resp_text = b"", "<binary 0 bytes sha256 0 format unrecorded>"
    facts = media_facts(resp_text)
    headers = [(k, v) for k, v in _pairs(req.get("headers")) if k.lower() != "content-length"]
    code = int(resp.get("code") or 0)
    if not any(k.lower() == "x-key" for k, _ in headers) and (code < 400 or "Invalid Authentication" in resp_text):
        headers.append(("X-Key", SCRUBBED))  # a recorder that dropped the key (go-vcr filters): it was sent
    ex = Exchange(
        method=str(req.get("method", "GET")).upper(),
        path=url.path or "/",
        query=url.query,
        headers=headers,
        body=body,
        status=code,
        response_headers=_pairs(resp.get("headers")),
        response_body=b"" if facts else resp_bytes,
        facts=facts,
        seq=seq,
        inputs_lost=lost,
    )
    ex.seal()
    return ex, lost
