"""Scenario rules: ``match -> outcome``, evaluated in order (first match wins).

Rules are plain data, so the Python API, the admin HTTP API (``/_mock/rules``) and config files all
build the same thing. Built-in scenario names (``X-Mock-Scenario: <name>``) need no setup.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mock_server.core.config import ConfigProblem, Progression, did_you_mean, unknown_name
from mock_server.core.errors import (
    DEFAULT_ERROR,
    FINETUNE_NOT_FOUND,
    INSUFFICIENT_CREDITS,
    INVALID_KEY,
    RATE_LIMITED_DETAIL,
    ConfigError,
)
from mock_server.core.status import FINAL_STATUSES, TaskStatus

_STATUS_ALIASES = {s.lower().replace(" ", "-"): s for s in FINAL_STATUSES}
_STATUS_ALIASES.update({s.lower(): s for s in FINAL_STATUSES})


_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # an HTTP header name (RFC 9110 token)
_HEADER_VALUE = re.compile(r"^[\t\x20-\x7e]*$")  # visible ASCII, space and tab: what every client can send
WEBHOOK_FLAGS = ("drop", "duplicate", "bad-secret")
WEBHOOK_SECONDS = ("delay", "early")
MAX_WEBHOOK_SECONDS = 86_400.0


def valid_header_value(value: str) -> bool:
    """Visible ASCII, space and tab only: no CR/LF (header injection), no NUL, nothing an HTTP client
    would refuse to encode (httpx encodes header values as ASCII)."""
    return bool(_HEADER_VALUE.match(value))


def header_pair(name: Any, value: Any) -> tuple[str, str]:
    """A response header a rule may set: a token name and a value without control or non-ASCII characters."""
    name, value = str(name), str(value)
    if not _TOKEN.match(name):
        raise ConfigError(f"header name {name!r} is not a valid HTTP header name")
    if not valid_header_value(value):
        raise ConfigError(
            f"header {name}: value {value[:60]!r} has characters an HTTP header cannot carry "
            "(control characters, CR/LF or non-ASCII)"
        )
    return name, value


def webhook_options(data: Any, where: str = "webhook") -> dict[str, Any]:
    """Validate webhook faults / profile (rule outcome ``webhook: {...}`` and ``X-Mock-Webhook-Fault``)."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f'{where}: expected a mapping such as {{"drop": true}}, not {_kind(data)}')
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = str(key).strip().lower().replace("_", "-").replace("bad-signature", "bad-secret")
        if name in WEBHOOK_FLAGS:
            if not isinstance(value, bool):
                raise ConfigError(f"{where}.{key}: expected true or false, not {value!r}")
            out[name] = value
        elif name in WEBHOOK_SECONDS:
            try:
                seconds = float(value)
            except (TypeError, ValueError):
                raise ConfigError(f"{where}.{key}: expected seconds (a number), not {value!r}") from None
            if not 0.0 <= seconds <= MAX_WEBHOOK_SECONDS:
                raise ConfigError(f"{where}.{key}: seconds must be between 0 and {MAX_WEBHOOK_SECONDS:g}")
            out[name] = seconds
        elif name == "profile":
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{where}.profile: expected a profile name (bfl, hmac), not {value!r}")
            out[name] = value
        else:
            raise unknown_name(
                "webhook fault",
                key,
                (*WEBHOOK_FLAGS, *WEBHOOK_SECONDS, "profile"),
                "expected drop, duplicate, bad-secret, delay, early or profile",
            ).located(f"in {where}")
    return out


def _latency(value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            lo = hi = float(value)
        elif isinstance(value, (list, tuple)) and len(value) == 2:
            lo, hi = (float(v) for v in value)
        else:
            raise ValueError
    except (TypeError, ValueError):
        raise ConfigError(f"latency must be seconds (or [min, max]) between 0 and 300, not {_kind(value)}") from None
    if not (0 <= lo <= hi <= 300):
        raise ConfigError("latency must be seconds (or [min, max]) between 0 and 300")
    return lo, hi


_STATUS_WORDS = ", ".join(str(s) for s in FINAL_STATUSES)


def _kind(value: Any) -> str:
    """A value's kind in words (a YAML/JSON user's words: a list, a string ...), not its Python repr."""
    names = {list: "a list", tuple: "a list", str: "a string", int: "a number", float: "a number", bool: "true/false"}
    return names.get(type(value), "null" if value is None else "a mapping" if isinstance(value, dict) else "a value")


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{what}: expected an integer, not {value}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what}: expected an integer, not {str(value)[:60]!r}") from None


def _refuse_unknown(kind: str, data: dict[str, Any], known: Any) -> None:
    """``unknown match key 'prompt_contain'; did you mean 'prompt_contains'?`` for the first unknown key."""
    for key in data:
        if key not in known:
            raise unknown_name(kind, key, known)


@dataclass(frozen=True)
class Outcome:
    """What happens to a matching request."""

    status: TaskStatus = TaskStatus.READY
    error: str | None = None
    reasons: tuple[str, ...] | None = None
    http_status: int | None = None  # submit-time error instead of a task
    detail: Any = None
    headers: tuple[tuple[str, str], ...] = ()
    progression: Progression | None = None
    not_found_polls: int = 0  # transient 404 "Task not found" on the first N polls (dossier P5)
    submit_latency: tuple[float, float] | None = None
    poll_latency: tuple[float, float] | None = None
    download_latency: tuple[float, float] | None = None
    webhook: dict[str, Any] | None = None  # webhook faults / profile override

    @classmethod
    def from_dict(cls, data: dict[str, Any] | str | Outcome, custom: dict[str, Outcome] | None = None) -> Outcome:
        """Build an outcome; ``custom`` are the user's named scenarios (``{"scenario": "my-name"}``)."""
        if isinstance(data, Outcome):
            return data
        if isinstance(data, str):
            return scenario(data, custom)
        data = dict(data)
        known = {
            "status",
            "error",
            "reasons",
            "http_status",
            "detail",
            "headers",
            "progression",
            "not_found_polls",
            "latency",
            "webhook",
            "scenario",
        }
        _refuse_unknown("outcome key", data, known)
        base = scenario(data.pop("scenario"), custom) if "scenario" in data else cls()
        return _replace(base, **_outcome_fields(data))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        for name in ("error", "http_status", "detail", "webhook"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.reasons is not None:
            out["reasons"] = list(self.reasons)
        if self.headers:
            out["headers"] = dict(self.headers)
        if self.progression is not None:
            out["progression"] = str(self.progression)
        if self.not_found_polls:
            out["not_found_polls"] = self.not_found_polls
        lat = {k: list(v) for k in ("submit", "poll", "download") if (v := getattr(self, f"{k}_latency"))}
        if lat:
            out["latency"] = lat
        return out


def _replace(o: Outcome, **kw: Any) -> Outcome:
    from dataclasses import replace

    return replace(o, **kw)


def moderation_outcome(status: str, reasons: list[str] | None) -> Outcome:
    """Request/Content Moderated with ``reasons`` (complete/fail/moderate from the control API)."""
    outcome = Outcome.from_dict({"status": status, **({"reasons": reasons} if reasons else {})})
    if outcome.status not in (TaskStatus.REQUEST_MODERATED, TaskStatus.CONTENT_MODERATED):
        raise ConfigError(f"moderate takes Request Moderated or Content Moderated, not {status!r}")
    return outcome


BUILTIN_SCENARIOS: dict[str, Outcome] = {
    "ready": Outcome(),
    "error": Outcome(status=TaskStatus.ERROR, error=DEFAULT_ERROR),
    "request-moderated": Outcome(status=TaskStatus.REQUEST_MODERATED, reasons=("Safety Filter",)),
    "content-moderated": Outcome(status=TaskStatus.CONTENT_MODERATED, reasons=("Content Policy Violation",)),
    "task-not-found": Outcome(status=TaskStatus.TASK_NOT_FOUND),
    "insufficient-credits": Outcome(http_status=402, detail=INSUFFICIENT_CREDITS),
    "rate-limited": Outcome(http_status=429, detail=RATE_LIMITED_DETAIL, headers=(("Retry-After", "1"),)),
    "unknown-finetune": Outcome(http_status=400, detail=FINETUNE_NOT_FOUND),
    "invalid-key": Outcome(http_status=403, detail=INVALID_KEY),
    "server-error": Outcome(http_status=500, detail="Internal Server Error"),
    "bad-gateway": Outcome(http_status=502, detail="Bad Gateway"),
    "service-unavailable": Outcome(http_status=503, detail="Service Unavailable"),
    "slow": Outcome(progression=Progression(mode="time", seconds=60.0)),
    "flaky-poll": Outcome(not_found_polls=2),
}


def scenario(name: str, custom: dict[str, Outcome] | None = None) -> Outcome:
    if custom and name in custom:
        return custom[name]
    try:
        return BUILTIN_SCENARIOS[name]
    except KeyError:
        known = sorted({*BUILTIN_SCENARIOS, *(custom or {})})
        raise unknown_name("scenario", name, known, f"expected one of {', '.join(known)}") from None


@dataclass
class Match:
    prompt_contains: str | None = None
    prompt_regex: re.Pattern[str] | None = None
    endpoint: str | None = None  # the path after /v1/, e.g. flux-pro-1.0-canny-finetuned
    finetune_id: str | None = None
    seed: int | None = None
    api_key: str | None = None
    scenario: str | None = None
    nth: int | None = None  # only the n-th request matching the other criteria (1-based)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Match:
        data = dict(data or {})
        known = {"prompt_contains", "prompt_regex", "endpoint", "finetune_id", "seed", "api_key", "scenario", "nth"}
        _refuse_unknown("match key", data, known)
        try:
            regex = re.compile(str(data["prompt_regex"])) if data.get("prompt_regex") else None
        except re.error as e:
            raise ConfigError(
                f"prompt_regex {str(data['prompt_regex'])[:60]!r} is not a regular expression: {e}"
            ) from None
        return cls(
            prompt_contains=data.get("prompt_contains"),
            prompt_regex=regex,
            endpoint=None if data.get("endpoint") is None else str(data["endpoint"]).removeprefix("/v1/"),
            finetune_id=data.get("finetune_id"),
            seed=None if data.get("seed") is None else _int(data["seed"], "match.seed"),
            api_key=data.get("api_key"),
            scenario=data.get("scenario"),
            nth=None if data.get("nth") is None else _int(data["nth"], "match.nth"),
        )

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if v is not None and k != "prompt_regex"}
        if self.prompt_regex is not None:
            out["prompt_regex"] = self.prompt_regex.pattern
        return out

    def criteria(self, ctx: RequestContext) -> bool:
        if self.prompt_contains is not None and self.prompt_contains.lower() not in ctx.prompt.lower():
            return False
        if self.prompt_regex is not None and not self.prompt_regex.search(ctx.prompt):
            return False
        if self.endpoint is not None and self.endpoint != ctx.endpoint:
            return False
        if self.finetune_id is not None and self.finetune_id != ctx.finetune_id:
            return False
        if self.seed is not None and self.seed != ctx.seed:
            return False
        if self.api_key is not None and self.api_key != ctx.api_key:
            return False
        return not (self.scenario is not None and self.scenario != ctx.scenario)


def _outcome_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The ``Outcome`` fields a user's mapping sets (its keys already checked), parsed and validated."""
    kw: dict[str, Any] = {}
    if "status" in data:
        status = _STATUS_ALIASES.get(str(data["status"]).lower())
        if status is None:
            raise ConfigProblem(
                f"status must be one of {_STATUS_WORDS}, not {str(data['status'])[:40]!r}",
                did_you_mean(str(data["status"]), [*FINAL_STATUSES, *_STATUS_ALIASES]),
            )
        kw["status"] = status
    if "error" in data:
        kw["error"] = str(data["error"])
    if "reasons" in data:
        reasons = data["reasons"]
        if isinstance(reasons, str) or not isinstance(reasons, (list, tuple)):
            raise ConfigError(f'reasons: expected a list of strings, such as ["Safety Filter"], not {_kind(reasons)}')
        kw["reasons"] = tuple(str(r) for r in reasons)
    if "http_status" in data:
        code = _int(data["http_status"], "http_status")
        if not 400 <= code <= 599:
            raise ConfigError("http_status must be a 4xx or 5xx code")
        kw["http_status"] = code
    if "detail" in data:
        kw["detail"] = data["detail"]
    if "headers" in data:
        if not isinstance(data["headers"], dict):
            raise ConfigError("headers: expected a mapping of header name to value, such as {Retry-After: 1}")
        kw["headers"] = tuple(header_pair(k, v) for k, v in data["headers"].items())
    if data.get("progression") is not None:
        kw["progression"] = Progression.parse(data["progression"])
    if "not_found_polls" in data:
        kw["not_found_polls"] = max(0, _int(data["not_found_polls"], "not_found_polls"))
    if "latency" in data:
        lat = data["latency"]
        if not isinstance(lat, dict):
            lat = {"submit": lat, "poll": lat, "download": lat}
        _refuse_unknown("latency key", lat, ("submit", "poll", "download"))
        kw.update({f"{k}_latency": _latency(v) for k, v in lat.items()})
    if "webhook" in data:
        kw["webhook"] = webhook_options(data["webhook"], "outcome.webhook")
    return kw


@dataclass
class RequestContext:
    prompt: str = ""
    endpoint: str = ""
    finetune_id: str = ""
    seed: int | None = None
    api_key: str = ""
    scenario: str | None = None


@dataclass
class Rule:
    match: Match
    outcome: Outcome
    name: str = ""
    times: int | None = None  # stop applying after this many uses
    id: int = 0  # numbered by the RuleSet that holds it
    seen: int = 0  # requests that met the criteria
    used: int = 0  # requests the rule applied to

    @classmethod
    def from_dict(cls, data: dict[str, Any] | Rule, custom: dict[str, Outcome] | None = None) -> Rule:
        if isinstance(data, Rule):
            return data
        if not isinstance(data, dict):
            raise ConfigError(f"a rule is a mapping with match and outcome (or scenario), not {_kind(data)}")
        data = dict(data)
        _refuse_unknown("rule key", data, ("match", "outcome", "name", "times", "scenario"))
        for part in ("match", "outcome"):
            if data.get(part) is not None and not isinstance(data[part], (dict, str) if part == "outcome" else dict):
                raise ConfigError(f"{part}: expected a mapping, not {_kind(data[part])}")
        # shorthand {"match": ..., "scenario": "error"}; an outcome may also be a scenario name
        outcome = Outcome.from_dict(data["scenario"] if "scenario" in data else data.get("outcome", {}), custom)
        times = data.get("times")
        return cls(
            Match.from_dict(data.get("match")),
            outcome,
            str(data.get("name", "")),
            None if times is None else _int(times, "times"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "match": self.match.to_dict(),
            "outcome": self.outcome.to_dict(),
            "times": self.times,
            "matched": self.seen,
            "used": self.used,
        }


@contextlib.contextmanager
def _config_errors(what: str) -> Iterator[None]:
    """Rules come from users (Python, admin API, config files): any malformed value is a ConfigError."""
    try:
        yield
    except ConfigError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError) as e:
        raise ConfigError(f"bad {what}: {e}") from None


class RuleSet:
    def __init__(self) -> None:
        self._rules: list[Rule] = []
        self.scenarios: dict[str, Outcome] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def add(self, rule: dict[str, Any] | Rule, *, first: bool = False) -> Rule:
        with _config_errors("rule"):
            r = Rule.from_dict(rule, self.scenarios)
        if isinstance(rule, Rule):  # a configured Rule object: a fresh copy, so counters start again
            from dataclasses import replace

            r = replace(rule, seen=0, used=0)
        with self._lock:
            r.id = next(self._ids)
            self._rules.insert(0, r) if first else self._rules.append(r)
        return r

    def define_scenario(self, name: str, outcome: dict[str, Any] | Outcome) -> Outcome:
        with _config_errors(f"scenario {name!r}"):
            o = Outcome.from_dict(outcome, self.scenarios)
        self.scenarios[name] = o
        return o

    def remove(self, rule_id: int) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            return len(self._rules) != before

    def clear(self) -> None:
        """Forget every rule and scenario; rule ids start again at 1 (a reset fake numbers like a new one)."""
        with self._lock:
            self._rules.clear()
            self.scenarios.clear()
            self._ids = itertools.count(1)

    def list(self) -> list[Rule]:
        return list(self._rules)

    def decide(self, ctx: RequestContext) -> tuple[Outcome | None, Rule | None]:
        """The outcome of the first rule matching ``ctx`` (then the scenario header), or None."""
        with self._lock:
            for rule in self._rules:
                if rule.times is not None and rule.used >= rule.times:
                    continue
                if not rule.match.criteria(ctx):
                    continue
                rule.seen += 1
                if rule.match.nth is not None and rule.seen != rule.match.nth:
                    continue
                rule.used += 1
                return rule.outcome, rule
        if ctx.scenario:
            return scenario(ctx.scenario, self.scenarios), None
        return None, None
