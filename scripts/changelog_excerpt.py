"""Print CHANGELOG.md's section for one version (the release notes of a GitHub release).

Usage: changelog_excerpt.py VERSION [CHANGELOG.md]; VERSION may carry a leading ``v`` (a tag). Sections are
``## [0.2.0] - date`` or ``## 0.2.0 ...`` headings (Keep a Changelog); exits non-zero when the version has none.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path


def excerpt(text: str, version: str) -> str:
    version = version.removeprefix("v")
    heading = re.compile(rf"^## \[?v?{re.escape(version)}\]?(\s|$)")
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if heading.match(line):
            body = []
            for rest in lines[i + 1 :]:
                if rest.startswith("## "):
                    break
                body.append(rest)
            return "\n".join(body).strip()
    raise SystemExit(f"changelog_excerpt: CHANGELOG.md has no section for {version}")


if __name__ == "__main__":
    path = Path(sys.argv[2] if len(sys.argv) > 2 else "CHANGELOG.md")
    print(excerpt(path.read_text(), sys.argv[1]))
