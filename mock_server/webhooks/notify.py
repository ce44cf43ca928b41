"""What a webhook says: the profiles (``schemas/webhook_profiles.json``), the notification a finished task
sends, and the fault options that change it. Pure functions: no I/O."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from mock_server.core.errors import INVALID_SECRET, InvalidSecret
from mock_server.core.rules import valid_header_value, webhook_options
from mock_server.core.schemas import load_schema
from mock_server.core.status import TaskStatus

USER_AGENT = "bfl-mock-webhooks/0.1"  # the admin API refuses requests carrying it (the fake calling itself)


def load_profiles(schema_dir: str | None = None) -> dict[str, dict[str, Any]]:
    profiles: dict[str, dict[str, Any]] = load_schema("webhook_profiles", schema_dir)["profiles"]
    return profiles


def parse_fault_header(value: str | None) -> dict[str, Any]:
    """``drop`` / ``duplicate`` / ``delay=5`` / ``early=2`` / ``bad-secret``, comma-separated."""
    raw: dict[str, Any] = {}
    if not value:
        return raw
    for part in value.split(","):
        name, sep, arg = part.strip().partition("=")
        name = name.strip()
        if not name:
            continue
        if name.lower().replace("_", "-") in ("delay", "early", "profile"):
            raw[name] = arg if sep else ("" if name.lower() == "profile" else 1.0)
        else:
            raw[name] = True
    return webhook_options(raw, "X-Mock-Webhook-Fault")


def build_notification(
    profile: dict[str, Any],
    *,
    task_id: str,
    status: str,
    result: Any,
    details: Any,
    secret: str | None,
    now: float,
    forge: bool = False,
) -> tuple[bytes, dict[str, str]]:
    """The body and headers a profile sends for a finished task."""
    body: dict[str, Any] = {profile["id_field"]: task_id, "status": profile.get("status_map", {}).get(status, status)}
    include = profile.get("include", [])
    if "result" in include:
        body["result"] = result
    error = None
    if isinstance(details, dict):
        error = details.get("error") or (", ".join(details.get("Moderation Reasons", [])) or None)
    if "error" in include and status != TaskStatus.READY:
        body["error"] = error or status
    if "details" in include:
        body["details"] = details
    if "timestamp" in include:
        body["timestamp"] = int(now)
    raw = json.dumps(body, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    auth = profile.get("auth", {})
    if secret is not None:
        used = (secret + "-forged") if forge else secret
        if auth.get("scheme") == "raw-secret":
            if not valid_header_value(used):  # never raw header bytes: no injection, no encoding crash
                raise InvalidSecret(INVALID_SECRET)
            headers[auth["header"]] = used
        elif auth.get("scheme") == "hmac-sha256":
            digest = hmac.new(used.encode(), raw, hashlib.sha256).hexdigest()
            headers[auth["header"]] = auth.get("prefix", "") + digest
    return raw, headers
