"""Config files (YAML or JSON): settings, rules, scenarios, moderation, finetunes, credits.

settings: {progression: "polls:2", seed: 7}
scenarios: {slow-error: {status: Error, error: "GPU fell over", progression: "time:30"}}
rules:
  - match: {prompt_contains: "cat"}
    outcome: {status: Content Moderated, reasons: ["Sexual Content"]}
finetunes: {brand-v3: {trigger_word: BRND}}
credits: {low-balance-key: 4}
moderation: [{reason: "Safety Filter", threshold: 4, words: ["gore"]}]

Everything is checked when the file is loaded, so a mistake is one line naming the file, the line, the
section and (for rules) the rule's number: ``unknown match key 'prompt_contain' in rule 2 of bfl.yaml
(line 7); did you mean 'prompt_contains'?``.
"""

from __future__ import annotations

import errno
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mock_server.core.config import ConfigProblem, coerce, locate, unknown_name
from mock_server.core.errors import ConfigError

TOP_LEVEL = ("settings", "rules", "scenarios", "finetunes", "credits", "moderation")
MAX_CONFIG_BYTES = 16 * 1024 * 1024  # a config file is read whole; anything larger is not one

Lines = Callable[..., int | None]  # (section, key or index) -> the 1-based line it starts on, or None


def _no_lines(*path: Any) -> int | None:
    return None


def _read(path: Path) -> str:
    """The file's text, or one line saying why not (missing, a directory, unreadable, not UTF-8)."""
    try:
        if path.is_dir():
            raise ConfigError(f"{path}: is a directory, not a config file (give a .yaml, .yml or .json file)")
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: {path.stat().st_size} bytes is too large for a config file")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file{_nearby(path)}") from None
    except OSError as e:
        if e.errno == errno.EISDIR:  # pragma: no cover - is_dir() above catches it first
            raise ConfigError(f"{path}: is a directory, not a config file") from None
        raise ConfigError(f"{path}: cannot read it: {e.strerror or e}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start})") from None


def _nearby(path: Path) -> str:
    """``; did you mean 'bfl.yaml'?`` for a config file next to the missing one with a similar name."""
    import difflib

    try:
        names = [p.name for p in path.parent.iterdir() if p.suffix in (".yaml", ".yml", ".json") and p.is_file()]
    except OSError:
        return ""
    close = difflib.get_close_matches(path.name, sorted(names)[:1000], n=1, cutoff=0.8)
    return f"; did you mean {str(path.parent / close[0])!r}?" if close else ""


def _yaml(text: str, path: Path) -> tuple[Any, Lines]:
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
        problem = " ".join(str(e.problem or e.context or "not valid YAML").split())
        hint = "; check the indentation here and on the line before" if "block" in problem else ""
        raise ConfigError(f"{where}: {problem} (not valid YAML{hint})") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(e).split())[:200]})") from None
    finally:
        loader.dispose()

    def line(*keys: Any) -> int | None:
        current = node
        for key in keys:
            if isinstance(current, yaml.MappingNode):
                current = next((v for k, v in current.value if getattr(k, "value", None) == str(key)), None)
                if current is None:  # the key itself (an unknown one has no value to walk into)
                    return None
            elif isinstance(current, yaml.SequenceNode) and isinstance(key, int) and key < len(current.value):
                current = current.value[key]
            else:
                return None
        return None if current is None else int(current.start_mark.line) + 1

    def key_line(*keys: Any) -> int | None:
        """The line of the last key itself (for a mapping's keys: where the name is written)."""
        parent = node
        for key in keys[:-1]:
            if isinstance(parent, yaml.MappingNode):
                parent = next((v for k, v in parent.value if getattr(k, "value", None) == str(key)), None)
            elif isinstance(parent, yaml.SequenceNode) and isinstance(key, int) and key < len(parent.value):
                parent = parent.value[key]
            else:
                return None
        if isinstance(parent, yaml.MappingNode):
            for k, _ in parent.value:
                if getattr(k, "value", None) == str(keys[-1]):
                    return int(k.start_mark.line) + 1
        return line(*keys)

    return data, key_line


def _json(text: str, path: Path) -> tuple[Any, Lines]:
    try:
        return json.loads(text), _no_lines
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}, line {e.lineno}, column {e.colno}: {e.msg} (not valid JSON)") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply") from None


def load_config(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (settings overrides, everything else) from a YAML or JSON file (``.json`` is JSON, anything
    else YAML, which also reads JSON). Raises ``ConfigError``, one line naming the file."""
    path = Path(path)
    text = _read(path)
    data, lines = _json(text, path) if path.suffix.lower() == ".json" else _yaml(text, path)
    if data is None:
        data = {}
    return split_config(data, str(path), lines)


def _at(name: str, lines: Lines, *keys: Any) -> str:
    line = lines(*keys)
    return f"{name} (line {line})" if line else name


def split_config(data: Any, where: str = "config", lines: Lines = _no_lines) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check every section of a parsed config (``where`` names it in messages) and split off its settings."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: the top level must be a mapping of sections ({', '.join(TOP_LEVEL)})")
    for key in data:
        if key not in TOP_LEVEL:
            error = unknown_name("section", key, TOP_LEVEL, f"the sections are {', '.join(TOP_LEVEL)}")
            raise error.located(f"in {_at(where, lines, key)}")
    settings = data.get("settings") or {}
    if not isinstance(settings, dict):
        raise ConfigError(f"settings in {_at(where, lines, 'settings')}: expected a mapping of setting: value")
    checked: dict[str, Any] = {}
    for name, value in settings.items():
        try:
            checked.update(coerce({str(name): value}))
        except ConfigError as e:
            raise locate(e, f"in the settings of {_at(where, lines, 'settings', name)}") from None
    extra = {k: v for k, v in data.items() if k != "settings"}
    check_extra(extra, where, lines)
    return dict(settings), extra


def _mapping(extra: dict[str, Any], section: str, where: str, lines: Lines) -> dict[str, Any]:
    value = extra.get(section)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{section} in {_at(where, lines, section)}: expected a mapping")
    return value


def check_extra(extra: dict[str, Any], where: str = "config", lines: Lines = _no_lines) -> None:
    """Build every scenario, rule, finetune, credit and moderation entry once, on throwaway objects, so a
    mistake is reported with its place before anything is served."""
    from mock_server.core.moderation import Moderator
    from mock_server.core.rules import RuleSet

    rules = RuleSet()
    for name, outcome in _mapping(extra, "scenarios", where, lines).items():
        try:
            rules.define_scenario(str(name), outcome)
        except ConfigError as e:
            raise locate(e, f"in scenario {str(name)!r} of {_at(where, lines, 'scenarios', name)}") from None
    items = extra.get("rules")
    if items is not None and not isinstance(items, list):
        raise ConfigError(f"rules in {_at(where, lines, 'rules')}: expected a list of rules")
    for i, rule in enumerate(items or [], 1):
        try:
            rules.add(rule)
        except ConfigError as e:
            raise locate(e, f"in rule {i} of {_at(where, lines, 'rules', i - 1)}") from None
    for fid, details in _mapping(extra, "finetunes", where, lines).items():
        if details is not None and not isinstance(details, dict):
            raise ConfigError(
                f"finetune {str(fid)!r} in {_at(where, lines, 'finetunes', fid)}: expected a mapping of its "
                "details (trigger_word, finetune_type ...) or nothing"
            )
    for key, credits in _mapping(extra, "credits", where, lines).items():
        if isinstance(credits, bool) or not isinstance(credits, (int, float, str)):
            raise ConfigError(f"credits of {str(key)!r} in {_at(where, lines, 'credits', key)}: expected a number")
        try:
            float(credits)
        except ValueError:
            raise ConfigError(
                f"credits of {str(key)!r} in {_at(where, lines, 'credits', key)}: expected a number, not {credits!r}"
            ) from None
    if extra.get("moderation") is not None:
        try:
            Moderator().set(extra["moderation"])
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ConfigError(f"moderation in {_at(where, lines, 'moderation')}: {_words(e)}") from None


def _words(e: Exception) -> str:
    if isinstance(e, KeyError):
        return f"each category needs {e.args[0]!r}"
    return str(e)


def apply_extra(mock: Any, extra: dict[str, Any]) -> None:
    """Apply the sections to ``mock`` (a ``BflMock``: ``scenario``, ``rules``, ``finetunes``, ``set_credits``,
    ``moderator``); it calls this, so this module does not import it."""
    for name, outcome in (extra.get("scenarios") or {}).items():
        try:
            mock.scenario(name, outcome)
        except ConfigProblem as e:
            raise e.located(f"in scenario {name!r}") from None
    for i, rule in enumerate(extra.get("rules") or [], 1):
        try:
            mock.rules.add(rule)
        except ConfigError as e:
            raise locate(e, f"in rule {i}") from None
    for fid, details in (extra.get("finetunes") or {}).items():
        mock.finetunes.add(fid, **(details or {}))
    for key, credits in (extra.get("credits") or {}).items():
        mock.set_credits(key, float(credits))
    if extra.get("moderation") is not None:
        try:
            mock.moderator.set(extra["moderation"])
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"moderation: {_words(e)}") from None
