"""Plausible request moderation without rules (an assumption: BFL's filters are not public).

A prompt containing a listed word of a category is ``Request Moderated`` with that category as its
reason when the request's ``safety_tolerance`` is below the category's threshold (0 = strictest, 6 =
most permissive). Reasons use the strings real clients quote (dossier P4). Replace the table with
``moderation:`` in a config file or ``BflMock.moderation``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Category:
    reason: str
    threshold: int  # moderated when safety_tolerance < threshold
    words: tuple[str, ...]


DEFAULT_CATEGORIES: tuple[Category, ...] = (
    Category("Sexual Content", 5, ("nsfw", "nude", "naked", "explicit", "porn")),
    Category("Safety Filter", 4, ("gore", "bloodbath", "beheading", "massacre", "mutilated")),
    Category("Derivative Works Filter", 3, ("mickey mouse", "pikachu", "darth vader", "spider-man", "mario bros")),
)


class Moderator:
    def __init__(self, categories: tuple[Category, ...] = DEFAULT_CATEGORIES) -> None:
        self._initial = categories
        self.set(categories)

    def reset(self) -> None:
        """Back to the word list this moderator was created with."""
        self.set(self._initial)

    def set(self, categories: tuple[Category, ...] | list[dict[str, Any]]) -> None:
        cats = tuple(
            c if isinstance(c, Category) else Category(c["reason"], int(c["threshold"]), tuple(c["words"]))
            for c in categories
        )
        self.categories = cats
        self._patterns = [
            (c, re.compile(r"\b(?:" + "|".join(re.escape(w) for w in c.words) + r")\b", re.IGNORECASE))
            for c in cats
            if c.words
        ]

    def reasons(self, prompt: str, safety_tolerance: int) -> list[str]:
        return [c.reason for c, pat in self._patterns if safety_tolerance < c.threshold and pat.search(prompt)]
