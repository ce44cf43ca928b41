"""Settings of one fake: every option of ``bfl-mock serve``, the pytest marker and the config file.

Each field has an environment variable ``BFL_MOCK_<FIELD>`` (read only by ``Settings.from_env`` /
the CLI, never at import time). Unknown behaviours of the real service are settings here, with the
best-evidenced choice as the default (see README, "Fidelity").
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mock_server.core.errors import ConfigError


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"did you mean 'x'?"`` for the closest of ``choices`` (difflib), or ``""`` when none is close."""
    close = difflib.get_close_matches(str(word), sorted({str(c) for c in choices}), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else ""


class ConfigProblem(ConfigError):
    """A ``ConfigError`` in parts: the problem and an optional hint (``did you mean ...?``), so whoever knows
    where the value came from (a file and line, a rule's index, a flag, a variable) can say so in between:
    ``unknown match key 'x' in rule 2 of rules.yaml; did you mean 'y'?``."""

    def __init__(self, problem: str, hint: str = "") -> None:
        self.problem, self.hint = problem, hint
        super().__init__(f"{problem}; {hint}" if hint else problem)

    def located(self, where: str) -> ConfigProblem:
        return ConfigProblem(f"{self.problem} {where}", self.hint)


def locate(error: ConfigError, where: str, *, prefix: bool = False) -> ConfigError:
    """``error`` with where it happened added: after the problem (``... in rule 2 of FILE; did you mean``),
    or before it (``prefix=True``: ``FILE, line 3: ...``)."""
    if prefix:
        if isinstance(error, ConfigProblem):
            return ConfigProblem(f"{where}: {error.problem}", error.hint)
        return ConfigError(f"{where}: {error}")
    if isinstance(error, ConfigProblem):
        return error.located(where)
    return ConfigError(f"{error} {where}")


def unknown_name(kind: str, name: Any, known: Iterable[str], listing: str = "") -> ConfigProblem:
    """``unknown KIND 'name'; did you mean 'x'?`` (or, with nothing close, ``listing`` or the known names)."""
    names = sorted(set(known))
    hint = did_you_mean(str(name), names)
    if not hint:
        hint = listing or f"expected one of {', '.join(names)}"
    return ConfigProblem(f"unknown {kind} {str(name)!r}", hint)


_PROGRESSION = re.compile(
    r"^(?:time:(?P<seconds>\d+(?:\.\d+)?)|polls:(?P<polls>\d+)(?:,after=(?P<after>\d+(?:\.\d+)?))?|(?P<manual>manual))$"
)


@dataclass(frozen=True)
class Progression:
    """How a Pending task advances to its final state.

    ``time:S`` finishes S seconds (fake clock) after submit; ``polls:N`` finishes on the N-th poll (and,
    if nobody polls it, ``after`` seconds after submit); ``manual`` waits for ``complete``/``fail``.
    """

    mode: str = "time"
    seconds: float = 5.0
    polls: int = 3
    after: float = 1.0

    @classmethod
    def parse(cls, text: str | Progression) -> Progression:
        if isinstance(text, Progression):
            return text
        m = _PROGRESSION.match(str(text).strip())
        if not m:
            raise ConfigError(f"progression must be time:SECONDS, polls:N[,after=SECONDS] or manual, not {text!r}")
        if m["manual"]:
            return cls(mode="manual")
        if m["seconds"] is not None:
            return cls(mode="time", seconds=float(m["seconds"]))
        polls = int(m["polls"])
        if polls < 1:
            raise ConfigError("polls:N needs N >= 1")
        return cls(mode="polls", polls=polls, after=float(m["after"]) if m["after"] else 1.0)

    def __str__(self) -> str:
        if self.mode == "manual":
            return "manual"
        if self.mode == "time":
            return f"time:{self.seconds:g}"
        return f"polls:{self.polls},after={self.after:g}"


@dataclass
class Settings:
    # network / identity
    host: str = "127.0.0.1"
    port: int = 8787
    public_url: str | None = None  # origin used in polling_url; default: the origin the client used
    delivery_url: str | None = None  # origin of result downloads; default: same as the API origin
    # authentication
    api_keys: tuple[str, ...] = ()  # empty: any non-empty x-key is valid
    missing_key_status: int = 403  # FastAPI < 0.115-era APIKeyHeader; current FastAPI answers 401
    # validation
    schema_dir: str | None = None
    strict_content_type: bool = True  # FastAPI >= 0.13x: a body without Content-Type is not JSON
    max_body_bytes: int = 30 * 1024 * 1024
    # the FLUX 3 video spec's snapshots disagree (tiers, aspect ratios, draft-enhance fields): which one the
    # request models follow (latest | 2026-08-04 | reseller; schemas/openapi/bfl-2026-12-additions.json)
    flux3_video_snapshot: str = "latest"
    # FLUX 3 video's unpublished choices: each tier's short side in pixels, and the length of a clip whose
    # ``duration`` is ``auto`` without timed keyframes (docs/api-2026-12.md)
    flux3_video_tiers: tuple[str, ...] = ("hd=720", "fhd=1080", "qhd=1440", "uhd=2160")
    flux3_video_auto_seconds: int = 5
    flux2_flex_outpainting: bool = False  # serve /v1/flux-2-flex-outpainting (a spring-2026 spec; still live: unknown)
    # lifecycle
    seed: int | None = None
    progression: Progression = field(default_factory=Progression)
    retention_seconds: float = 3600.0  # finished tasks answer 404 "Task not found" after this
    max_tasks: int = 100_000
    max_task_bytes: int = 256 * 1024 * 1024  # prompts, keys and parameters the task store keeps
    delivery_ttl_seconds: float = 600.0  # se = end_time + 10 minutes (dossier D2)
    # images
    max_image_pixels: int = 20_000_000
    render_workers: int = 2
    lazy_render: bool = True  # before finishing only check input images; render on the first download
    lazy_render_bytes: int = 256 * 1024 * 1024  # inputs kept for that; beyond it the oldest are rendered now
    keep_inputs_bytes: int = 64 * 1024 * 1024  # input images kept for the dashboard, newest first (0: none)
    render_backlog_bytes: int = 16 * 1024 * 1024  # queued control images; beyond it submits wait
    # a submit whose inputs (base64, no URLs) are at most this many bytes and, by their headers, at most
    # inline_check_pixels pixels in all, has them checked on the request's thread (a header read and a small
    # decode: cheaper than the hand-off to a render thread); larger ones go to the render pool (0: all do)
    inline_check_bytes: int = 64 * 1024
    inline_check_pixels: int = 512 * 512
    result_memory_bytes: int = 32 * 1024 * 1024  # compressed edge maps kept in RAM, then spilled to disk
    image_cache_bytes: int = 16 * 1024 * 1024  # encoded outputs kept for fast downloads
    jpeg_quality: int = 90
    # decode and parse bounds (hostile input): every decode counts progressive-JPEG scans first (libjpeg-turbo's
    # -maxscans idea; a normal progressive JPEG has about 10), and a JSON body with more value separators than
    # this is refused (400) before it is parsed (a real BFL body has a few dozen)
    max_jpeg_scans: int = 100  # progressive-JPEG scans an input may have; more: an unusable image
    max_json_values: int = 10_000  # JSON value separators a body may have; more: 400 before parsing (0: off)
    # rate limits on get_result (dossier P6; refill rate is an assumption)
    ratelimit_limit: int = 1200
    ratelimit_refill_per_second: float = 2.0  # 0 limit disables
    # accounts
    credits: float = 10_000.0
    cost_per_request: float = 5.0  # endpoints without a sourced price (README "Endpoints")
    active_task_limit: int = 24
    prices: tuple[str, ...] = ()  # per endpoint, "flux-dev=3": a flat price in credits instead of the row's
    active_limits: tuple[str, ...] = ()  # per endpoint, "flux-kontext-max=6": active tasks per key
    max_accounts: int = 50_000  # per-key accounts (credits, active tasks); idle ones forgotten LRU beyond it
    max_clients: int = 10_000  # get_result rate-limit buckets (per key or client address), LRU
    strict_finetunes: bool = False
    isolate_keys: bool = False
    # webhooks
    webhook_profile: str = "bfl"
    webhook_allow: tuple[str, ...] = ()  # empty: any host
    webhook_timeout_seconds: float = 10.0
    webhook_backoff: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)  # delays before attempts 2..5
    webhook_per_host: int = 8  # concurrent deliveries to one host:port (a slow receiver can't starve others)
    webhook_journal_size: int = 1000  # finished deliveries kept (pending ones are never dropped)
    # connections (bfl-mock serve / live servers): slow or idle clients can't hold the server
    header_timeout_seconds: float = 10.0  # a request's headers must arrive within this (real seconds)
    body_timeout_seconds: float = 30.0  # and its body within this
    keepalive_timeout_seconds: float = 5.0  # idle keep-alive connections are closed after this
    max_header_bytes: int = 64 * 1024  # larger request headers -> 431
    max_connections: int = 4096  # beyond it the oldest connections still waiting for headers are closed
    # -- network protections (docs/security.md) --------------------------------------------------------
    allowed_hosts: tuple[str, ...] = ()  # extra Host names the admin API answers ("name", ".suffix", "*")
    fetch_workers: int = 4  # threads fetching image URLs (apart from render_workers: a slow host can't stall renders)
    fetch_per_host: int = 2  # concurrent image fetches from one host:port; more wait their turn
    fetch_min_bytes_per_second: int = 1024  # after the first second an image URL slower than this is dropped
    # -- end of network protections ---------------------------------------------------------------------
    access_log: bool = False
    access_log_format: str = "text"  # text | json
    # presentation
    # the submit answer's cost/input_mp/output_mp: "absent", "null" or "values", for every endpoint or as
    # "endpoint=mode"; empty: each endpoint's evidence (canny absent, FLUX.1 null, FLUX.2 values)
    submit_cost_fields: tuple[str, ...] = ()
    edge_headers: bool = True  # Strict-Transport-Security etc. as recorded from the real edge
    admin_token: str | None = None
    journal_size: int = 1000
    journal_bytes: int = 16 * 1024 * 1024  # the request journal's total size (oldest entries go first)
    max_errors: int = 100  # internal errors kept (the plugin raises the first)
    frozen_clock: bool = False
    clock_start: float | None = None
    rules: tuple[Any, ...] = ()

    def for_endpoint(self, name: str, setting: str) -> str | None:
        """A per-endpoint setting's value for endpoint ``name`` ("name=value" wins over a bare "value")."""
        found = None
        for entry in getattr(self, setting):
            key, sep, value = entry.partition("=")
            if not sep:
                found = found if found is not None else str(key)
            elif key.strip() == name:
                return str(value).strip()
        return found

    def endpoint_names(self) -> set[str]:
        """The endpoint names the per-endpoint settings mention (checked against the served endpoints)."""
        return {
            e.partition("=")[0].strip()
            for setting in ("prices", "active_limits", "submit_cost_fields")
            for e in getattr(self, setting)
            if "=" in e
        }

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **coerce(changes))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``BFL_MOCK_<FIELD>`` variables, then ``overrides``; a bad value names its variable
        (``BFL_MOCK_PORT=abc: port: expected an integer, not 'abc'``)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            var = env_var(f.name)
            raw = environ.get(var)
            if raw is not None and raw != "" and overrides.get(f.name) is None:
                try:
                    values.update(coerce({f.name: raw}))
                except ConfigError as e:
                    raise locate(e, f"{var}={raw[:60]}", prefix=True) from None
        values.update(coerce({k: v for k, v in overrides.items() if v is not None}))
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name in ("api_keys",):
                v = [f"{k[:2]}***" for k in v]
            elif f.name == "admin_token":
                v = "***" if v else None
            elif isinstance(v, Progression):
                v = str(v)
            elif isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
SETTING_NAMES = tuple(sorted(_FIELDS))
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
ENV_PREFIX = "BFL_MOCK_"
# Variables of the BFL_MOCK_ family that are not settings (read by the CLI, the schema loader, the plugin ...).
# A component that reads another one adds its name here, so ``unknown_env_vars`` does not warn about it.
OTHER_ENV_VARS: set[str] = {
    "BFL_MOCK_CONFIG",
    "BFL_MOCK_LOG_LEVEL",
    "BFL_MOCK_SCHEMAS",
    "BFL_MOCK_CA_DIR",  # the local CA (mock_server/tls)
    "BFL_MOCK_TLS",
    "BFL_MOCK_PROXY_PORT",
    "BFL_MOCK_PROXY_HOST",
    "BFL_MOCK_PROXY_PASS_THROUGH",
}


def env_var(name: str) -> str:
    """The environment variable of setting ``name``: ``BFL_MOCK_<NAME>``."""
    return f"{ENV_PREFIX}{name.upper()}"


def unknown_env_vars(environ: Mapping[str, str] | None = None) -> list[str]:
    """One line per ``BFL_MOCK_*`` variable that no setting or component reads (a typo would otherwise be
    ignored silently), with the closest known name: ``BFL_MOCK_PROT is not a bfl-mock variable; did you
    mean BFL_MOCK_PORT?``."""
    environ = os.environ if environ is None else environ
    known = {env_var(n) for n in _FIELDS} | OTHER_ENV_VARS
    out = []
    for var in sorted(environ):
        if var.startswith(ENV_PREFIX) and var not in known:
            close = difflib.get_close_matches(var, sorted(known), n=1, cutoff=0.75)
            hint = (
                f"did you mean {close[0]}?" if close else "it is ignored (bfl-mock serve --help lists every variable)"
            )
            out.append(f"{var} is not a bfl-mock variable; {hint}")
    return out


_SETTINGS_LISTING = "bfl-mock serve --help lists every setting"


def check_name(name: str) -> None:
    """Raise ``unknown setting 'x'; did you mean 'y'?`` unless ``name`` is a setting."""
    if name not in _FIELDS:
        raise unknown_name("setting", name, _FIELDS, _SETTINGS_LISTING)


def coerce(values: Mapping[str, Any]) -> dict[str, Any]:
    """Turn strings (env vars, CLI, config files) into typed settings; reject unknown names."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        check_name(name)
        default = _FIELDS[name].default
        if default is dataclasses.MISSING:
            default = _FIELDS[name].default_factory()  # type: ignore[operator]
        try:
            out[name] = _coerce_one(name, value, default)
        except ConfigProblem as e:
            raise ConfigProblem(_named(name, e.problem), e.hint) from None
        except ConfigError as e:
            raise ConfigError(_named(name, str(e))) from None
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{name}: {_plain(e, value, default)}") from None
    return out


def _named(name: str, message: str) -> str:
    return message if message.startswith(name) else f"{name}: {message}"


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    return repr(text[:60] + ("..." if len(text) > 60 else ""))


def _plain(error: Exception, value: Any, default: Any) -> str:
    """A conversion error in words (not ``invalid literal for int() with base 10``)."""
    if isinstance(default, bool):
        return f"expected true or false, not {_shown(value)}"
    if isinstance(default, int):
        return f"expected an integer, not {_shown(value)}"
    if isinstance(default, float):
        return f"expected a number, not {_shown(value)}"
    message = str(error)
    if "int()" in message:
        return f"expected an integer, not {_shown(value)}"
    if "invalid literal" in message or "could not convert" in message:
        return f"expected a number, not {_shown(value)}"
    return message if repr(str(value)[:20])[:-1] in message else f"{message} (got {_shown(value)})"


_RANGES = {"port": (0, 65535), "missing_key_status": (400, 499), "jpeg_quality": (1, 100)}


_COST_MODES = {"absent": "absent", "null": "null", "values": "values", "false": "absent", "true": "null"}


def _per_endpoint(name: str, entry: str) -> str:
    key, sep, value = entry.partition("=")
    key, value = key.strip(), value.strip()
    if name == "submit_cost_fields":
        mode = _COST_MODES.get((value if sep else key).lower())
        if mode is None:
            raise ValueError("expected absent, null or values, optionally as ENDPOINT=MODE")
        return f"{key}={mode}" if sep else mode
    if not sep or not key:
        raise ValueError(f"expected ENDPOINT=VALUE, not {entry!r}")
    number = float(value) if name == "prices" else int(value)
    if number < 0:
        raise ValueError("must not be negative")
    return f"{key}={number:g}"


_PER_ENDPOINT = {"prices", "active_limits", "submit_cost_fields"}


def _coerce_one(name: str, value: Any, default: Any) -> Any:
    if name == "progression":
        return Progression.parse(value)
    if name == "rules":
        return tuple(value)
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        s = str(value).strip().lower()
        if s in _TRUE:
            return True
        if s in _FALSE:
            return False
        raise ValueError("expected true or false")
    if name == "submit_cost_fields" and isinstance(value, bool):  # the setting's first form: on = null fields
        value = "null" if value else "absent"
    if isinstance(default, tuple):
        items = [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else list(value)
        if name == "webhook_backoff":
            return tuple(float(v) for v in items)
        if name in _PER_ENDPOINT:
            return tuple(_per_endpoint(name, str(v)) for v in items)
        return tuple(str(v) for v in items)
    if isinstance(default, int) and not isinstance(default, bool):
        number = int(value)
        lo, hi = _RANGES.get(name, (None, None))
        if lo is not None and hi is not None and not lo <= number <= hi:
            raise ConfigError(f"must be {lo}-{hi}, not {number}")
        return number
    if isinstance(default, float):
        return float(value)
    if value is None or value == "":
        return None
    if name == "flux3_video_snapshot":
        from mock_server.core.spec_additions import snapshot_names

        if str(value) not in snapshot_names():
            raise unknown_name("FLUX 3 video snapshot", value, snapshot_names())
        return str(value)
    if name in ("seed",):
        return int(value)
    if name in ("clock_start",):
        return float(value)
    return str(value)
