"""The webhook HTTP client: one POST per connection, the target resolved and checked first.

Deliberately small: nothing pooled (httpx's pool made a 500-delivery burst take >30 s and lose deliveries),
TLS for https, the whole exchange bounded by one timeout.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mock_server.core.egress import TargetRefused, ip_address_of, is_loopback
from mock_server.core.errors import InvalidSecret
from mock_server.core.rules import valid_header_value


class DeliveryError(Exception):
    """A retryable transport failure (connection refused/reset, timeout, malformed answer)."""


ANSWER_BYTES = 1024  # how much of the receiver's answer is read (and kept in the webhook journal)
MAX_ANSWER_HEADERS = 100  # as http.client: a receiver sending more answered malformed
ANSWER_SECONDS = 1.0  # how long after its status line the answer may take (a slow body never fails an attempt)


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes  # the first ANSWER_BYTES of the receiver's answer


def _unchunk(data: bytes) -> bytes:
    """The payload of (the start of) a chunked body: as much as the bytes read contain."""
    out, rest = b"", data
    while rest:
        size_line, sep, rest = rest.partition(b"\r\n")
        try:
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
        except ValueError:
            return out or data
        if not sep or size == 0:
            break
        out += rest[:size]
        rest = rest[size + 2 :]
    return out


async def post_once(
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    check: Any = None,
) -> Reply:
    """POST ``body`` to ``url`` on a fresh connection (``Connection: close``); return the status code and the
    start of the receiver's answer.

    A deliberately small HTTP/1.1 client: one request per connection, nothing pooled, TLS for https. The
    whole exchange (resolve, connect, send, status line and headers) is bounded by ``timeout``. The host is
    resolved first and ``check(host, port, addresses)`` may refuse it (TargetRefused); the connection then
    goes to a checked address, so a name cannot resolve to something else in between.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    for k, v in headers.items():
        if not valid_header_value(v) or not valid_header_value(k):
            raise InvalidSecret(f"header {k!r} has a value that cannot be sent")
    host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = f"[{host}]" if ":" in host else host
    if parts.port:
        host_header += f":{parts.port}"
    lines = [f"POST {target} HTTP/1.1", f"Host: {host_header}", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    async def exchange() -> Reply:
        ssl_ctx = True if parts.scheme == "https" else None
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = [str(info[4][0]) for info in infos]
        if check is not None:
            check(host, port, addresses)
        if not addresses:
            raise DeliveryError(f"{host} did not resolve")
        reader, writer = await asyncio.open_connection(
            addresses[0], port, ssl=ssl_ctx, server_hostname=host if ssl_ctx else None
        )
        try:
            writer.write(request)
            await writer.drain()
            status_line = await reader.readline()
            fields = status_line.split(b" ", 2)
            if len(fields) < 2 or not fields[0].startswith(b"HTTP/") or not fields[1].isdigit():
                raise DeliveryError(f"malformed response: {status_line[:80]!r}")
            length: int | None = None
            chunked = False
            count = 0
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                count += 1
                if count > MAX_ANSWER_HEADERS:
                    raise DeliveryError(f"malformed response: more than {MAX_ANSWER_HEADERS} headers")
                name, _, value = line.partition(b":")
                name, value = name.strip().lower(), value.strip()
                if name == b"content-length" and value.isdigit():
                    length = int(value)
                elif name == b"transfer-encoding" and b"chunked" in value.lower():
                    chunked = True
            want = ANSWER_BYTES if length is None else min(length, ANSWER_BYTES)
            answer = bytearray()

            async def read_answer() -> None:
                while len(answer) < want:
                    chunk = await reader.read(want - len(answer))
                    if not chunk:
                        break
                    answer.extend(chunk)

            try:  # the status decided the attempt; its answer is kept as far as it arrives within a moment
                await asyncio.wait_for(read_answer(), ANSWER_SECONDS)
            except (asyncio.TimeoutError, OSError, asyncio.IncompleteReadError):
                pass
            return Reply(int(fields[1]), _unchunk(bytes(answer)) if chunked else bytes(answer))
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (OSError, asyncio.IncompleteReadError):
                pass

    try:
        return await asyncio.wait_for(exchange(), timeout)
    except asyncio.TimeoutError:
        raise TimeoutError(f"no answer within {timeout}s") from None
    except socket.gaierror as e:
        raise DeliveryError(f"cannot resolve {host}: {e}") from None
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
        raise DeliveryError(f"{type(e).__name__}: {str(e)[:200]}") from None  # ValueError: a line over 64 KiB


__all__ = ["DeliveryError", "Reply", "TargetRefused", "ip_address_of", "is_loopback", "post_once"]
