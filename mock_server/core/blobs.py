"""Result delivery URLs shaped like BFL's Azure SAS links (dossier D1-D4).

``/results/<2hex>/<14hex>/<32hex>/sample.<ext>?se=<ISO>&sp=r&sv=2024-11-04&sr=b&rsct=image/<ext>&sig=<b64>``
The signature is an HMAC-SHA256 (per-fake secret) over the path and the signed fields, so a tampered
URL is refused; ``se`` is checked against the fake clock. Error bodies are Azure Blob Storage's XML.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import random
import threading
import uuid
from email.utils import formatdate
from urllib.parse import parse_qs, quote, unquote_plus

from mock_server.core.errors import AUTH_FAILED, AzureError

SAS_VERSION = "2024-11-04"
RESULTS_PREFIX = "/results/"


def iso_z(ts: float) -> str:
    return dt.datetime.fromtimestamp(int(ts), tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso_z(text: str) -> float:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc).timestamp()


def http_date(ts: float) -> str:
    return formatdate(ts, usegmt=True)


def new_blob_path(rng: random.Random, extension: str) -> str:
    """``results/84/3791956b97bc01/6b97bc012a934cb2a7bd5b7d2660a640/sample.jpeg`` (the recorded shape:
    the 14-hex segment ends with the first 8 hex of the 32-hex one; the extension is the media type's)."""
    blob = uuid.UUID(int=rng.getrandbits(128), version=4).hex
    return f"{RESULTS_PREFIX}{rng.getrandbits(8):02x}/{rng.getrandbits(24):06x}{blob[:8]}/{blob}/sample.{extension}"


SIGNED_FIELDS = ("se", "sp", "sv", "sr", "rsct", "sig")  # what the signature covers, and the signature
VERIFIED_CACHE_BYTES = 4 * 1024 * 1024  # remembered valid links (~250 bytes each: ~16,000 links)


def cache_key(query_string: str) -> str | tuple[str, ...]:
    """What identifies a link in the verified cache: the query itself when it holds exactly the six signed
    fields (``&`` only separates, so five of them and each name once is that; a few substring tests: the
    download hot path), else its signed fields."""
    q = query_string
    if (
        len(q) < 512
        and q.count("&") == 5
        and q.startswith("se=")
        and "&sp=" in q
        and "&sv=" in q
        and "&sr=" in q
        and "&rsct=" in q
        and "&sig=" in q
    ):
        return q
    return signed_fields(q)


def signed_fields(query_string: str) -> tuple[str, ...]:
    """The signed fields of a query as sent (the last of repeated names, as ``parse_qs`` takes them); every
    other parameter is ignored, as Azure ignores parameters it does not know."""
    got: dict[str, str] = {}
    for pair in query_string.split("&"):
        name, _, value = pair.partition("=")
        if "%" in name or "+" in name:  # named as parse_qs names it: ``s%69g`` is ``sig``
            name = unquote_plus(name)
        if name in SIGNED_FIELDS:
            got[name] = value
    return tuple(got.get(n, "") for n in SIGNED_FIELDS)


class Signer:
    """Signs and verifies delivery links as Azure Blob Storage SAS URLs (HMAC-SHA256 over the signed fields
    with a per-fake secret). Verified links are cached by path and signed fields, bounded by bytes, so a
    repeated download skips the HMAC."""

    def __init__(self, secret: bytes, cache_bytes: int = VERIFIED_CACHE_BYTES) -> None:
        self._secret = secret
        # valid links by path + signed fields -> expiry (still checked), oldest first, bounded by bytes: junk
        # extra parameters neither make new entries nor grow one
        self._verified: dict[tuple[str, str | tuple[str, ...]], float] = {}
        self._verified_bytes = 0
        self.cache_bytes = cache_bytes
        self._lock = threading.Lock()

    def _sig(self, path: str, se: str, rsct: str) -> str:
        to_sign = "\n".join(["r", se, path, SAS_VERSION, "b", rsct]).encode()
        return base64.b64encode(hmac.new(self._secret, to_sign, hashlib.sha256).digest()).decode()

    def url(self, origin: str, path: str, expires_at: float, content_type: str) -> str:
        se = iso_z(expires_at)
        sig = self._sig(path, se, content_type)
        return (
            f"{origin}{path}?se={quote(se, safe='')}&sp=r&sv={SAS_VERSION}&sr=b"
            f"&rsct={quote(content_type, safe='/')}&sig={quote(sig, safe='/')}"
        )

    def verify(self, path: str, query_string: str, now: float) -> float:
        """Return the expiry of a valid URL, or raise AzureError as Azure Blob Storage would."""
        key = (path, cache_key(query_string))
        expiry = self._verified.get(key)  # a dict read is atomic: the hit path takes no lock
        if expiry is None:
            expiry = self._verify_signature(path, query_string)
            with self._lock:
                self._remember(key, expiry)
        if now >= expiry:
            raise AzureError(
                403,
                "AuthenticationFailed",
                AUTH_FAILED,
                f"Signed expiry time [{http_date(expiry)}] must be after signed start time [{http_date(now)}]",
            )
        return expiry

    def _remember(self, key: tuple[str, str | tuple[str, ...]], expiry: float) -> None:
        size = _entry_bytes(key)
        if size > self.cache_bytes or key in self._verified:
            return
        self._verified[key] = expiry
        self._verified_bytes += size
        while self._verified_bytes > self.cache_bytes:  # the oldest first
            old = next(iter(self._verified))
            del self._verified[old]
            self._verified_bytes -= _entry_bytes(old)

    def cache_stats(self) -> dict[str, int]:
        return {"entries": len(self._verified), "bytes": self._verified_bytes}

    def _verify_signature(self, path: str, query_string: str) -> float:
        q = {k: v[-1] for k, v in parse_qs(query_string, keep_blank_values=True).items()}
        if "sig" not in q:
            raise AzureError(404, "ResourceNotFound", "The specified resource does not exist.")
        se, rsct = q.get("se", ""), q.get("rsct", "")
        ok = q.get("sp") == "r" and q.get("sr") == "b" and q.get("sv") == SAS_VERSION
        expected = self._sig(path, se, rsct)
        if not ok or not hmac.compare_digest(expected.encode(), q["sig"].encode()):
            raise AzureError(
                403, "AuthenticationFailed", AUTH_FAILED, "Signature did not match. String to sign used was r"
            )
        try:
            expiry = parse_iso_z(se)
        except ValueError:
            raise AzureError(403, "AuthenticationFailed", AUTH_FAILED, "se is not a valid ISO 8601 time") from None
        return expiry


def _entry_bytes(key: tuple[str, str | tuple[str, ...]]) -> int:
    fields = key[1]
    return 120 + len(key[0]) + (len(fields) if isinstance(fields, str) else sum(len(v) for v in fields))


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """A single ``bytes=a-b`` / ``a-`` / ``-n`` range as (start, end inclusive); None = whole blob.

    Raises AzureError 416 for an unsatisfiable range (Azure: InvalidRange).
    """
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    spec = header[6:].strip()
    start_s, sep, end_s = spec.partition("-")
    if not sep:
        return None
    try:
        if start_s == "":
            n = int(end_s)
            if n <= 0:
                raise ValueError
            start, end = max(0, size - n), size - 1
        else:
            start = int(start_s)
            end = int(end_s) if end_s else size - 1
    except ValueError:
        return None
    if start >= size:
        raise AzureError(416, "InvalidRange", "The range specified is invalid for the current size of the resource.")
    if start < 0 or end < start:
        return None
    return start, min(end, size - 1)


def md5_b64(data: bytes) -> str:
    """``Content-MD5`` as Azure sends it."""
    return base64.b64encode(hashlib.md5(data).digest()).decode()
