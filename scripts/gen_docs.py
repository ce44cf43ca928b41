"""Generate the docs' reference tables from the code, so they cannot drift from it.

``python scripts/gen_docs.py --write`` rewrites every generated block; without ``--write`` it exits 1 and
names the stale pages (``tests/test_docs_reference.py`` runs it that way). A generated block sits between
``<!-- generated:NAME:start -->`` and ``<!-- generated:NAME:end -->`` in a page under ``docs/``; the text
around it is written by hand.

| block | page | source |
|---|---|---|
| ``home`` | docs/index.md | README.md, its links made relative to docs/ |
| ``endpoints`` | docs/endpoints.md | the endpoint registry, ``mock_server/core/endpoints/registry.py`` |
| ``python-api`` | docs/python-api.md | the docstrings of ``BflMock``, its clock, journal and webhooks |
| ``settings`` | docs/settings.md | the ``Settings`` dataclass, ``mock_server/core/config.py`` |
| ``cli`` | docs/cli.md | the argparse parser, ``mock_server/cli.py`` (``build_parser``) |
| ``admin-api`` | docs/admin-api.md | the route table ``ADMIN_ROUTES``, ``mock_server/http/routes.py`` |
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

from api_reference import endpoint_table, render  # noqa: E402

# One line per setting: what it means. Names, types, defaults and variables come from the dataclass; a
# setting missing here falls back to the comment beside its definition (and the test fails on one with neither).
MEANING: dict[str, str] = {
    "host": "address to bind (`0.0.0.0` serves a team network: see [Security](security.md))",
    "port": "port to bind; `0` picks any free port",
    "public_url": "origin used in `polling_url` (default: the origin the client called); another region's origin "
    "tests a client that must poll the exact `polling_url` ([A4](behaviour.md#A4))",
    "delivery_url": "origin of `result.sample` downloads (default: the API origin)",
    "api_keys": "only these `x-key` values are valid (comma-separated; default: any non-empty key)",
    "missing_key_status": "status for a request without `x-key`: 403 (that era's FastAPI) or 401 (current "
    "FastAPI) ([S6](behaviour.md#S6))",
    "schema_dir": "a folder of JSON Schemas to use instead of the packaged `schemas/`",
    "flux3_video_tiers": (
        "FLUX 3 video's short side in pixels per `resolution` tier, as `TIER=PIXELS` (BFL publishes no pixels: the "
        "clients map 720 to hd and 1080 to fhd); the long side follows `aspect_ratio`, rounded to an even number"
    ),
    "flux3_video_auto_seconds": (
        "the length in seconds (5..20) of a FLUX 3 clip whose `duration` is `auto` without timed keyframes (the model "
        "chooses; unpublished). With timed keyframes `auto` is the last pair's second rounded up, as BFL documents"
    ),
    "flux3_video_snapshot": (
        "which snapshot of BFL's FLUX 3 video spec the request models follow: `latest` (hd/fhd/qhd/uhd), `2026-08-04` "
        "(hd/fhd, draft-enhance with mode, draft_cache and safety_tolerance only) or `reseller` (9:21, draft_task_id)"
    ),
    "strict_content_type": "a body without a JSON `Content-Type` is not parsed as JSON (FastAPI's default since 0.11x)",
    "max_body_bytes": "larger request bodies get 413, refused while streaming",
    "seed": "makes task ids, generation seeds, delivery paths and images reproducible",
    "progression": "how tasks advance: `time:SECONDS`, `polls:N[,after=SECONDS]` or `manual` "
    "([Lifecycle](lifecycle.md))",
    "retention_seconds": "finished tasks are forgotten after this (then 404 `Task not found`)",
    "max_tasks": "tasks kept; beyond it the oldest finished task goes first, and new submits get 429 rather "
    "than drop an active task",
    "max_task_bytes": "bytes the task store keeps (prompts, keys, parameters); beyond it the oldest finished "
    "tasks go first, then 429",
    "delivery_ttl_seconds": "a result link expires this long after the task's `end_time` ([D2](behaviour.md#D2))",
    "max_image_pixels": "input images (and the output they give) above this end the task `Error`",
    "render_workers": "threads that check and render images",
    "lazy_render": "before a task finishes only its input images are fetched and checked; the output is "
    "rendered on the first download (the same bytes; `false` renders before finishing)",
    "lazy_render_bytes": "checked inputs kept for rendering on download; beyond it the oldest are rendered in "
    "the background, so memory and disk stay bounded when nobody downloads",
    "keep_inputs_bytes": "input images kept, as sent, for the dashboard's thumbnails (memory only, newest "
    "first; 0 keeps none)",
    "render_backlog_bytes": "control images waiting for a render thread; beyond it a submit waits "
    "(backpressure, never a refusal)",
    "inline_check_bytes": "a submit whose input images (base64, no URLs) are at most this many bytes has them "
    "checked on the request's thread, not a render thread (the same checks, the same outcome; a header read and "
    "a small decode cost less than the hand-off); 0 sends every check to the render pool",
    "inline_check_pixels": "the pixels (width x height, from the headers) an inline check decodes in all; "
    "inputs with more are checked on the render pool",
    "result_memory_bytes": "compressed edge maps and checked inputs kept in memory; older ones spill to segment "
    "files in a private temporary folder",
    "image_cache_bytes": "encoded outputs kept for fast downloads (re-rendered byte-identically on a miss)",
    "jpeg_quality": "quality of JPEG outputs",
    "ratelimit_limit": "`get_result` token bucket size per key or client address (`X-Ratelimit-Limit`, "
    "[P6](behaviour.md#P6)); 0 disables",
    "ratelimit_refill_per_second": "tokens the bucket regains per second (an assumption)",
    "credits": "starting balance of every key; a submit that costs more gets 402 ([S8](behaviour.md#S8))",
    "cost_per_request": "price of an endpoint without a sourced price ([Endpoints](endpoints.md))",
    "active_task_limit": "active (unfinished) tasks per key; the next submit gets 429 "
    "([S9](behaviour.md#S9)); 0 turns every limit off",
    "prices": "flat prices per endpoint instead of the registry's, e.g. `flux-dev=3,flux-2-pro=10`",
    "active_limits": "an endpoint's own active-task limit per key, e.g. `flux-kontext-max=6`",
    "max_accounts": "per-key accounts (credits, active tasks) kept; idle ones are forgotten, least recently used first",
    "max_clients": "`get_result` rate-limit buckets kept (least recently used go first)",
    "strict_finetunes": "an unknown `finetune_id` gets 400 `Finetune not found or not ready` instead of being "
    "registered on first use ([S7](behaviour.md#S7))",
    "isolate_keys": "a poll with another key's `x-key` gets 404; `X-Mock-Key: <key>` scopes admin listings and "
    "reset (parallel workers sharing one server)",
    "webhook_profile": "notification shape and authentication: `bfl` or `hmac` ([Webhooks](webhooks.md))",
    "webhook_allow": "hosts webhooks and input-image URLs may reach (`host`, `.suffix`, `loopback`; "
    "default: see [Webhooks](webhooks.md#where-webhooks-may-go))",
    "webhook_timeout_seconds": "seconds per webhook attempt (and per input-image fetch)",
    "webhook_backoff": "delays before attempts 2, 3, ... (seconds on the fake clock)",
    "webhook_per_host": "deliveries in flight to one host:port, so a stuck receiver delays only its own",
    "webhook_journal_size": "settled deliveries kept (pending ones are never dropped)",
    "header_timeout_seconds": "a request's headers must arrive within this, else 408 and close (real seconds)",
    "body_timeout_seconds": "a body must arrive within this after its headers, else 408 and close",
    "keepalive_timeout_seconds": "idle keep-alive connections are closed after this",
    "max_header_bytes": "larger request headers get 431",
    "max_connections": "open connections; beyond it the oldest still waiting for headers are closed",
    "access_log": "one line per request on stdout (no keys, tokens or link signatures)",
    "access_log_format": "`text` or `json` (JSON lines)",
    "submit_cost_fields": "the submit answer's `cost`, `input_mp`, `output_mp`: `absent`, `null` or `values`, "
    "for every endpoint or as `flux-dev=values,...` (default: each endpoint's evidence, "
    "[A7](behaviour.md#A7))",
    "edge_headers": "`Strict-Transport-Security`, `X-Cache`, `Accept-Ranges` as the real edge sends them "
    "([S14](behaviour.md#S14))",
    "admin_token": "require `Authorization: Bearer <token>` (or `X-Admin-Token`) on `/_mock/`; without it the "
    "admin API answers loopback clients only",
    "journal_size": "request journal entries kept",
    "journal_bytes": "the request journal's total size (long fields clipped, oldest entries go first)",
    "max_errors": "internal errors kept, as text (the pytest plugin raises the first)",
    "frozen_clock": "the fake clock stands still until advanced (the pytest plugin's default)",
    "clock_start": "the fake clock's start (epoch seconds; default: now)",
    "rules": "outcome rules (config files and the marker; see [Controlling outcomes](scenarios.md))",
}


def _comments() -> dict[str, str]:
    """The comment beside each field in config.py (the fallback description)."""
    text = (ROOT / "mock_server" / "core" / "config.py").read_text()
    found = {}
    for m in re.finditer(r"^    (\w+): [^=\n]+=[^#\n]*#\s*(.+)$", text, re.M):
        found[m[1]] = m[2].strip()
    return found


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n:,}"


def _default(name: str, value: Any) -> str:
    if value is None or value == ():
        return {
            "public_url": "the origin called",
            "delivery_url": "the API origin",
            "api_keys": "any non-empty key",
            "seed": "random",
            "schema_dir": "packaged",
            "prices": "per endpoint",
            "active_limits": "per endpoint",
            "submit_cost_fields": "per endpoint",
            "webhook_allow": "by bind address",
            "clock_start": "now",
            "admin_token": "none",
            "rules": "none",
        }.get(name, "none")
    if isinstance(value, bool):
        return str(value).lower()
    if name.endswith("_bytes") and isinstance(value, int):
        return _size(value)
    if isinstance(value, tuple):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return f"{value:,}" if value >= 10_000 else str(value)
    return str(value)


def _type(f: dataclasses.Field[Any]) -> str:
    t = str(f.type).replace(" | None", "")
    return {
        "tuple[str, ...]": "list",
        "tuple[float, ...]": "list of numbers",
        "tuple[Any, ...]": "list of rules",
        "float": "number",
        "int": "integer",
        "bool": "boolean",
        "str": "text",
        "Progression": "progression",
    }.get(t, t)


def settings_table() -> str:
    from mock_server.core.config import Settings

    default, comments = Settings(), _comments()
    flags = _serve_flags()
    rows = ["| setting, variable, flag | default | meaning |", "|---|---|---|"]
    for f in dataclasses.fields(Settings):
        meaning = str(f.metadata.get("help") or MEANING.get(f.name) or comments.get(f.name) or "")
        if not meaning:
            raise SystemExit(f"setting {f.name!r} has no description: add one to MEANING in scripts/gen_docs.py")
        names = [f"`{f.name}`", f"`BFL_MOCK_{f.name.upper()}`", *(f"`{o}`" for o in flags.get(f.name, ()))]
        value = f"{_default(f.name, getattr(default, f.name))} ({_type(f)})"
        rows.append(f"| {'<br>'.join(names)} | {value} | {meaning.replace('|', chr(92) + '|')} |")
    return "\n".join(rows)


def _serve_flags() -> dict[str, tuple[str, ...]]:
    """Setting name -> the `serve` flags that set it (by argparse dest)."""
    serve = _subparsers(_parser()).get("serve")
    out: dict[str, tuple[str, ...]] = {}
    if serve is None:
        return out
    for action in serve._actions:
        long = tuple(o for o in action.option_strings if o.startswith("--"))
        if long and action.dest not in ("help", "set", "config", "log_level"):
            out[action.dest] = long
    out["access_log_format"] = out.get("access_log", ())
    return out


def _parser() -> argparse.ArgumentParser:
    from mock_server.cli import build_parser

    return build_parser()


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _env_of(action: argparse.Action, command: str) -> str:
    from mock_server.core.config import Settings

    names = sorted(set(re.findall(r"\b(BFL_MOCK_[A-Z0-9_]+)", action.help or "")))
    if not names and command == "serve" and action.dest in {f.name for f in dataclasses.fields(Settings)}:
        names = [f"BFL_MOCK_{action.dest.upper()}"]
    if not names and command == "serve" and action.dest == "config":
        names = ["BFL_MOCK_CONFIG"]
    return ", ".join(f"`{n}`" for n in names)


def _flag(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"`{action.metavar or action.dest}`"
    name = ", ".join(action.option_strings)
    if action.nargs == 0:
        return f"`{name}`"
    if action.choices is not None:
        choices = "|".join(str(c) for c in action.choices)
        value = f"[{choices}]" if action.nargs == "?" else "{" + choices + "}"
    else:
        value = action.metavar or action.dest.upper()
        value = f"[{value}]" if action.nargs == "?" else value
    return f"`{name} {value}`"


def _help(action: argparse.Action) -> str:
    text = " ".join((action.help or "").split()).replace("%(default)s", str(action.default))
    if action.help == argparse.SUPPRESS:
        return ""
    return text.replace("|", "\\|").replace("<", "&lt;")


def cli_reference() -> str:
    parser = _parser()
    out = [f"`{parser.prog} [--version] COMMAND ...`: {parser.description}", ""]
    for name, sub in _subparsers(parser).items():
        out += [f"### `bfl-mock {name}`", ""]
        if sub.description:
            out += [" ".join(sub.description.split()), ""]
        out += ["| argument, environment variable | what it does |", "|---|---|"]
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
                continue
            repeat = ""
            if isinstance(action, argparse._AppendAction) and "repeatable" not in (action.help or ""):
                repeat = " (repeatable)"
            env = _env_of(action, name)
            out.append(f"| {_flag(action)}{'<br>' + env if env else ''} | {_help(action)}{repeat} |")
        if sub.epilog:
            out += ["", " ".join(sub.epilog.split())]
        out.append("")
    return "\n".join(out).rstrip()


def _body(name: str | None) -> str:
    """A body schema's name and its top-level fields (required ones in bold)."""
    if not name:
        return ""
    import json

    defs = json.loads((ROOT / "schemas" / "admin.json").read_text())["$defs"]
    schema = defs.get(name, {})
    if "anyOf" in schema:  # one object or a list of them
        ref = next((s["$ref"] for s in schema["anyOf"] if "$ref" in s), "")
        inner = ref.rsplit("/", 1)[-1]
        return f"`{name}`: {_body(inner)}, or a list of them" if inner else f"`{name}`"
    required = set(schema.get("required", ()))
    fields = [f"**`{k}`**" if k in required else f"`{k}`" for k in schema.get("properties", {})]
    return f"`{name}`" + (f": {', '.join(fields)}" if fields else "")


def admin_table() -> str:
    from mock_server.http.routes import ADMIN_ROUTES

    rows = ["| method | path | what it does | body | query |", "|---|---|---|---|---|"]
    for r in ADMIN_ROUTES:
        body = _body(r.body)
        query = ", ".join([f"`{q}`" for q in r.query] + [f"`{q}`?" for q in r.optional_query])
        rows.append(f"| `{r.method}` | `{r.path}` | {r.summary.replace('|', chr(92) + '|')} | {body} | {query} |")
    return "\n".join(rows)


def home() -> str:
    """The site's home page: the README, with its links made relative to docs/."""
    text = (ROOT / "README.md").read_text().split("\n", 1)[1]  # the title is the page's own
    text = text.replace("The [docs](docs/) (also as a site: `make docs`, then open `site/index.html`):", "Pages:")
    text = text.replace("History: [CHANGELOG.md](CHANGELOG.md).", "History: `CHANGELOG.md` in the repository.")
    return text.replace("](docs/", "](").strip()


BLOCKS: dict[str, tuple[str, Callable[[], str]]] = {
    "home": ("index.md", home),
    "endpoints": ("endpoints.md", endpoint_table),
    "python-api": ("python-api.md", render),
    "settings": ("settings.md", settings_table),
    "cli": ("cli.md", cli_reference),
    "admin-api": ("admin-api.md", admin_table),
}


def splice(text: str, name: str, body: str) -> str:
    start, end = f"<!-- generated:{name}:start -->", f"<!-- generated:{name}:end -->"
    if start not in text or end not in text:
        raise SystemExit(f"no {start} ... {end} block")
    return text[: text.index(start) + len(start)] + "\n" + body + "\n" + text[text.index(end) :]


def main(argv: list[str] | None = None) -> int:
    write = "--write" in (sys.argv[1:] if argv is None else argv)
    stale = []
    for name, (page, make) in BLOCKS.items():
        path = DOCS / page
        text = path.read_text()
        new = splice(text, name, make())
        if new != text:
            stale.append(page)
            if write:
                path.write_text(new)
    if stale and not write:
        print(f"stale generated docs: {', '.join(stale)}: run python scripts/gen_docs.py --write")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
