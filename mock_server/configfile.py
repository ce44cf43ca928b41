"""Config files (YAML or JSON): settings, rules, scenarios, moderation, finetunes, credits.

settings: {progression: "polls:2", seed: 7}
scenarios: {slow-error: {status: Error, error: "GPU fell over", progression: "time:30"}}
rules:
  - match: {prompt_contains: "cat"}
    outcome: {status: Content Moderated, reasons: ["Sexual Content"]}
finetunes: {brand-v3: {trigger_word: BRND}}
credits: {low-balance-key: 4}
moderation: [{reason: "Safety Filter", threshold: 4, words: ["gore"]}]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mock_server.core.errors import ConfigError

TOP_LEVEL = {"settings", "rules", "scenarios", "finetunes", "credits", "moderation"}


def load_config(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (settings overrides, everything else) from a YAML or JSON file."""
    text = Path(path).read_text(encoding="utf-8")
    if str(path).endswith((".yaml", ".yml")):
        import yaml

        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: {e}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}: {e}") from None
    return split_config(data, str(path))


def split_config(data: Any, where: str = "config") -> tuple[dict[str, Any], dict[str, Any]]:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: the top level must be a mapping")
    unknown = set(data) - TOP_LEVEL
    if unknown:
        raise ConfigError(f"{where}: unknown sections {sorted(unknown)} (known: {sorted(TOP_LEVEL)})")
    settings = dict(data.get("settings") or {})
    extra = {k: v for k, v in data.items() if k != "settings"}
    return settings, extra


def apply_extra(mock: Any, extra: dict[str, Any]) -> None:
    """Apply the sections to ``mock`` (a ``BflMock``: ``scenario``, ``rules``, ``finetunes``, ``set_credits``,
    ``moderator``); it calls this, so this module does not import it."""
    for name, outcome in (extra.get("scenarios") or {}).items():
        mock.scenario(name, outcome)
    for rule in extra.get("rules") or []:
        mock.rules.add(rule)
    for fid, details in (extra.get("finetunes") or {}).items():
        mock.finetunes.add(fid, **(details or {}))
    for key, credits in (extra.get("credits") or {}).items():
        mock.set_credits(key, float(credits))
    if extra.get("moderation") is not None:
        try:
            mock.moderator.set(extra["moderation"])
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"moderation: {e}") from None
