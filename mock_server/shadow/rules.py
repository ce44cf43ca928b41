"""The comparison rules, one per behaviour: what must agree between the upstream's answer and the fake's
prediction, and what is compared by shape only (ids, seeds, timestamps, signatures, pixels).

Each behaviour names its evidence (the row of the behaviour dossier, /work/shared/reference, that says what
the real API does) and the settings by which the fake deviates from it on purpose: a divergence in such a
behaviour, while that setting has its deviating value, is reported as "deviates by setting", not as drift.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Behaviour:
    name: str
    what: str
    evidence: str


BEHAVIOURS: dict[str, Behaviour] = {
    b.name: b
    for b in (
        Behaviour("validation", "validation outcome (accepted or 422) and the exact 422 body", "S1, S2"),
        Behaviour("auth", "authentication errors: status and detail", "S5, S6"),
        Behaviour("status", "the HTTP status of an answer (finetunes, credits, limits, unknown paths)", "S7-S10, P5"),
        Behaviour("submit", "the submit answer's keys, id and polling_url shape, cost fields", "S3, S4"),
        Behaviour("poll", "poll status legal and in order, progress never decreasing, the final status", "P1-P7"),
        Behaviour("result-url", "result URL shape (host class, path, signed fields) and expiry", "D1, D2"),
        Behaviour("artefact", "the downloaded artefact's format, size rule and duration", "D3, D5"),
        Behaviour("rate-limit", "rate-limit and retry headers (names; values by shape)", "P6, S9"),
    )
}


@dataclass
class Divergence:
    behaviour: str
    endpoint: str  # the path compared (ids replaced by {id})
    detail: str  # what differs, in words, naming the field
    real: Any = None  # the upstream's answer as it was (status, headers, body)
    predicted: Any = None  # the fake's answer as it was
    request: Any = None  # the request (scrubbed)
    deviates_by_setting: str | None = None  # "strict_finetunes=false": the fake differs here on purpose
    seq: int = 0
    count: int = 1

    @property
    def evidence(self) -> str:
        return BEHAVIOURS[self.behaviour].evidence

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.behaviour, self.endpoint, _generic(self.detail))

    def as_dict(self) -> dict[str, Any]:
        return {
            "behaviour": self.behaviour,
            "evidence": self.evidence,
            "endpoint": self.endpoint,
            "detail": self.detail,
            "deviates_by_setting": self.deviates_by_setting,
            "count": self.count,
            "first_seen": self.seq,
            "request": self.request,
            "real": self.real,
            "predicted": self.predicted,
        }


def _generic(detail: str) -> str:
    """A detail with numbers and quoted values reduced, so one difference seen many times is one entry."""
    return re.sub(r"\d+(\.\d+)?", "N", detail)


# ---------------------------------------------------------------------------------------------- shapes
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SHAPE_ONLY = frozenset({"id", "seed", "start_time", "end_time", "duration", "sample", "polling_url", "preview"})
SHAPE_ONLY |= frozenset({"created_at", "updated_at", "timestamp"})


def kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "uuid" if UUID.match(value) else "url" if value.startswith(("http://", "https://")) else "string"
    if isinstance(value, list):
        return "array"
    return "object"


def json_differences(real: Any, predicted: Any, where: str = "", shape_only: frozenset[str] = SHAPE_ONLY) -> list[str]:
    """What differs between two JSON values: missing/extra keys, different values (by kind only for the
    keys in ``shape_only``). Paths read like ``result.sample``."""
    if isinstance(real, dict) and isinstance(predicted, dict):
        out: list[str] = []
        for k in real.keys() - predicted.keys():
            out.append(f"response key {where}{k} is sent by the upstream, not predicted")
        for k in predicted.keys() - real.keys():
            out.append(f"response key {where}{k} is predicted, not sent by the upstream")
        for k in real.keys() & predicted.keys():
            a, b = real[k], predicted[k]
            if k in shape_only:
                if kind(a) != kind(b) and not (k == "seed" and {kind(a), kind(b)} <= {"number", "string"}):
                    out.append(f"{where}{k} is {kind(a)} upstream, {kind(b)} predicted")
                continue
            out += json_differences(a, b, f"{where}{k}.", shape_only)
        return sorted(out)
    if isinstance(real, list) and isinstance(predicted, list):
        if len(real) != len(predicted):
            return [f"{where.rstrip('.') or 'body'} has {len(real)} items upstream, {len(predicted)} predicted"]
        out = []
        for i, (a, b) in enumerate(zip(real, predicted, strict=True)):
            out += json_differences(a, b, f"{where}{i}.", shape_only)
        return out
    if real != predicted or (type(real) is not type(predicted) and not _same_number(real, predicted)):
        return [f"{where.rstrip('.') or 'body'} is {_short(real)} upstream, {_short(predicted)} predicted"]
    return []


def _same_number(a: Any, b: Any) -> bool:
    return isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and a == b


def _short(value: Any, limit: int = 120) -> str:
    import json

    text = json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= limit else text[:limit] + "..."


# ---------------------------------------------------------------------------------------------- URLs
SAMPLE_PATH = re.compile(r"^/results/[0-9a-f]{2}/[0-9a-f]{14}/[0-9a-f]{32}/sample\.(?P<ext>[a-z0-9]+)$")


def polling_url_problems(body: dict[str, Any]) -> list[str]:
    """The polling URL is ``<origin>/v1/get_result?id=<the answer's id>`` (S3)."""
    url = body.get("polling_url")
    if url is None:
        return []
    if not isinstance(url, str):
        return [f"polling_url is {kind(url)}, not a URL"]
    parts = urlsplit(url)
    q = dict(parse_qsl(parts.query))
    out = []
    if parts.scheme not in ("http", "https") or parts.path != "/v1/get_result":
        out.append(f"polling_url path is {parts.path!r}, not '/v1/get_result'")
    if q.get("id") != body.get("id"):
        out.append("polling_url id is not the answer's id")
    return out


@dataclass
class UrlShape:
    path_shape: str
    fields: tuple[str, ...]
    expiry: float | None  # se, as epoch seconds
    content_type: str | None
    ext: str | None = field(default=None)


def url_shape(url: str) -> UrlShape:
    from mock_server.core.blobs import parse_iso_z

    parts = urlsplit(url)
    m = SAMPLE_PATH.match(parts.path)
    shape = "/results/<2hex>/<14hex>/<32hex>/sample.<ext>" if m else re.sub(r"[0-9a-f]{8,}", "<hex>", parts.path)
    q = parse_qsl(parts.query, keep_blank_values=True)
    values = dict(q)
    expiry = None
    if "se" in values:
        try:
            expiry = parse_iso_z(values["se"])
        except ValueError:
            expiry = None
    return UrlShape(shape, tuple(k for k, _ in q), expiry, values.get("rsct"), m["ext"] if m else None)


def result_url_differences(real: dict[str, Any], predicted: dict[str, Any], tolerance: float = 5.0) -> list[str]:
    """``result.sample`` of two Ready answers: same path shape and extension, same signed fields in the same
    order, and the same expiry relative to ``end_time`` (D2: end_time + 10 minutes), within ``tolerance``."""
    a, b = real.get("sample"), predicted.get("sample")
    if not isinstance(a, str) or not isinstance(b, str):
        return [] if kind(a) == kind(b) else [f"result.sample is {kind(a)} upstream, {kind(b)} predicted"]
    ra, rb = url_shape(a), url_shape(b)
    out = []
    if ra.path_shape != rb.path_shape or ra.ext != rb.ext:
        out.append(f"result.sample path is {ra.path_shape} ({ra.ext}) upstream, {rb.path_shape} ({rb.ext}) predicted")
    if ra.fields != rb.fields:
        out.append(f"result.sample query fields are {','.join(ra.fields)} upstream, {','.join(rb.fields)} predicted")
    if ra.content_type != rb.content_type:
        out.append(f"result.sample rsct is {ra.content_type} upstream, {rb.content_type} predicted")
    ea, eb = _lifetime(ra.expiry, real.get("end_time")), _lifetime(rb.expiry, predicted.get("end_time"))
    if ea is not None and eb is not None and abs(ea - eb) > tolerance:
        out.append(f"result.sample expires {ea:.0f} s after end_time upstream, {eb:.0f} s predicted")
    return out


def _lifetime(expiry: float | None, end: Any) -> float | None:
    if expiry is None or not isinstance(end, (int, float)):
        return None
    return expiry - float(end)


# ---------------------------------------------------------------------------------------------- headers
RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "retry-after")


def rate_header_differences(real: list[tuple[str, str]], predicted: list[tuple[str, str]]) -> list[str]:
    names_a = {k.lower() for k, _ in real} & set(RATE_HEADERS)
    names_b = {k.lower() for k, _ in predicted} & set(RATE_HEADERS)
    out = [f"header {n} is sent by the upstream, not predicted" for n in sorted(names_a - names_b)]
    out += [f"header {n} is predicted, not sent by the upstream" for n in sorted(names_b - names_a)]
    return out


# ---------------------------------------------------------------------------------------------- artefacts
def artefact_facts(data: bytes) -> dict[str, Any]:
    """Format (from the magic bytes, never the name) and pixel size of a downloaded image."""
    import io

    fmt = (
        "jpeg"
        if data[:3] == b"\xff\xd8\xff"
        else "png"
        if data[:8] == b"\x89PNG\r\n\x1a\n"
        else "webp"
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP"
        else "mp4"
        if data[4:8] == b"ftyp"
        else "unknown"
    )
    facts: dict[str, Any] = {"format": fmt, "bytes": len(data)}
    if fmt == "mp4":
        facts.update(video_facts(data))
    if fmt in ("jpeg", "png", "webp"):
        try:
            from PIL import Image

            with Image.open(io.BytesIO(data)) as im:
                facts["size"] = list(im.size)
        except Exception:  # a broken image: its format is what the magic says, its size unknown
            facts["size"] = None
    return facts


def video_facts(data: bytes) -> dict[str, Any]:
    """Pixel size and duration (seconds, to 0.1 s) of an MP4, read by PyAV when it is installed."""
    import io

    try:
        import av
    except ImportError:  # without PyAV a video is compared by its format only
        return {}
    try:
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.video[0]
            duration = container.duration / 1_000_000 if container.duration else None
            return {
                "size": [stream.codec_context.width, stream.codec_context.height],
                "duration": round(duration, 1) if duration is not None else None,
            }
    except Exception:  # a broken or truncated video: format only
        return {}


def artefact_differences(real: dict[str, Any], predicted: dict[str, Any]) -> list[str]:
    out = []
    if real.get("format") != predicted.get("format"):
        out.append(f"artefact format is {real.get('format')} upstream, {predicted.get('format')} predicted")
    if real.get("size") != predicted.get("size"):
        out.append(f"artefact size is {_wh(real.get('size'))} upstream, {_wh(predicted.get('size'))} predicted")
    if real.get("duration") != predicted.get("duration"):
        out.append(f"artefact duration is {real.get('duration')} upstream, {predicted.get('duration')} predicted")
    return out


def _wh(size: Any) -> str:
    return f"{size[0]}x{size[1]}" if isinstance(size, list) and len(size) == 2 else str(size)


# ---------------------------------------------------------------------------------------------- poll sequence
LEGAL_NEXT = {
    "Task not found": {"Task not found", "Pending", "Ready", "Error", "Request Moderated", "Content Moderated"},
    "Pending": {"Pending", "Ready", "Error", "Request Moderated", "Content Moderated"},
}
TERMINAL = {"Ready", "Error", "Request Moderated", "Content Moderated"}
STATUSES = set(LEGAL_NEXT) | TERMINAL


@dataclass
class PollTrack:
    """One task's poll answers as seen from the upstream, checked as they arrive (P1, P7)."""

    statuses: list[str] = field(default_factory=list)
    progress: float | None = None

    def observe(self, body: dict[str, Any]) -> list[str]:
        status = body.get("status")
        out = []
        if not isinstance(status, str) or status not in STATUSES:
            out.append(f"poll status {status!r} is not one of the documented statuses")
        elif self.statuses:
            last = self.statuses[-1]
            if (last in TERMINAL and status != last) or (last not in TERMINAL and status not in LEGAL_NEXT[last]):
                out.append(f"poll status went from {last} to {status}")
        progress = body.get("progress")
        if isinstance(progress, (int, float)) and not isinstance(progress, bool):
            if self.progress is not None and progress < self.progress:
                out.append(f"poll progress went down from {self.progress} to {progress}")
            self.progress = float(progress)
        if isinstance(status, str):
            self.statuses.append(status)
            del self.statuses[:-8]
        return out
