"""Result downloads as Azure Blob Storage answers them (dossier D1-D4): the recorded headers, ``Range``,
``HEAD``, ``If-None-Match``, and Azure's XML errors. The backend says which bytes; this says how."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import uuid

from mock_server.core.backend import Task
from mock_server.core.blobs import http_date, md5_b64, parse_range
from mock_server.core.endpoints import family as families
from mock_server.core.errors import AzureError
from mock_server.http.types import HttpResponse

SERVER = "Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0"
UNSUPPORTED_VERB = AzureError(405, "UnsupportedHttpVerb", "The resource doesn't support specified Http Verb.")


def azure_error(err: AzureError, now: float) -> HttpResponse:
    rid = str(uuid.uuid4())
    when = dt.datetime.fromtimestamp(now, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
    body = (
        '\ufeff<?xml version="1.0" encoding="utf-8"?><Error>'
        f"<Code>{err.code}</Code><Message>{err.message}\nRequestId:{rid}\nTime:{when}</Message>"
    )
    if err.detail:
        body += f"<AuthenticationErrorDetail>{err.detail}</AuthenticationErrorDetail>"
    return HttpResponse(
        err.status,
        (body + "</Error>").encode("utf-8"),
        [
            ("Content-Type", "application/xml"),
            ("Server", "Microsoft-HTTPAPI/2.0"),
            ("x-ms-request-id", rid),
            ("x-ms-error-code", err.code),
        ],
    )


def blob_headers(task: Task, now: float) -> list[tuple[str, str]]:
    """The recorded per-blob headers, built once per task."""
    if task.blob_headers is None:
        end = task.finished_at or now
        task.blob_headers = [
            ("Content-Type", families.output_media_type(task.endpoint.family, task.output_format)),
            ("Cache-Control", "max-age=1200"),
            ("Last-Modified", http_date(end)),
            ("Accept-Ranges", "bytes"),
            ("ETag", '"0x8DE' + hashlib.sha1(task.id.encode()).hexdigest()[:11].upper() + '"'),
            ("Server", SERVER),
            ("x-ms-version", "2024-11-04"),
            ("x-ms-creation-time", http_date(end)),
            ("x-ms-lease-status", "unlocked"),
            ("x-ms-lease-state", "available"),
            ("x-ms-blob-type", "BlockBlob"),
            ("x-ms-server-encrypted", "true"),
        ]
    return task.blob_headers


def blob_response(
    task: Task,
    data: bytes,
    *,
    now: float,
    method: str,
    range_header: str | None,
    if_none_match: str | None,
    edge_headers: bool,
    artefact: families.Artefact | None = None,
) -> HttpResponse:
    fixed, md5 = blob_headers(task, now), task.md5 or ""
    if artefact is not None and artefact.name != families.SAMPLE:  # a further artefact: its own type, tag, MD5
        tag = '"0x8DE' + hashlib.sha1(f"{task.id}/{artefact.name}".encode()).hexdigest()[:11].upper() + '"'
        own = {"Content-Type": artefact.media_type, "ETag": tag}
        fixed, md5 = [(k, own.get(k, v)) for k, v in fixed], md5_b64(data)
    headers = [*fixed, ("x-ms-request-id", str(uuid.UUID(int=random.getrandbits(128), version=4)))]
    etag = fixed[4][1]
    if if_none_match is not None and if_none_match == etag:
        return HttpResponse(304, b"", [(k, v) for k, v in headers if k in ("ETag", "Last-Modified")])
    size = len(data)
    rng = parse_range(range_header, size)
    if rng is None:
        status, body = 200, data
        headers.append(("Content-MD5", md5))
    else:
        start, stop = rng
        status, body = 206, data[start : stop + 1]
        headers += [("Content-Range", f"bytes {start}-{stop}/{size}"), ("x-ms-blob-content-md5", md5)]
    headers.append(("Content-Length", str(len(body))))
    if edge_headers:  # delivery-us1.bfl.ai is behind Azure Front Door (recorded)
        headers.append(("X-Cache", "TCP_MISS"))
    return HttpResponse(status, b"" if method == "HEAD" else body, headers)
