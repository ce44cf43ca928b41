"""The docs stay true to the code: generated reference pages are current, every evidence id resolves to the
behaviour catalogue, every page is in the site's navigation, and the site builds with warnings as errors."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CATALOGUE = DOCS / "behaviour.md"
# Evidence ids: S (submit), P (poll), D (delivery), W (webhooks), A (the whole API, 2026), alone or as ranges.
EVIDENCE = re.compile(r"(?<![\w.#-])([SPDWA])(\d{1,2})(?:\s*[-\u2013]\s*\1(\d{1,2}))?(?![\w])")
SCANNED = ("mock_server", "schemas", "contract_tests", "docs", "README.md", "ARCHITECTURE.md")


def _files() -> list[Path]:
    out = []
    for name in SCANNED:
        path = ROOT / name
        if path.is_file():
            out.append(path)
        else:
            out += [p for p in path.rglob("*") if p.suffix in {".py", ".md", ".json", ".js", ".html", ".yaml"}]
    return sorted(out)


def evidence_ids(text: str) -> set[str]:
    found = set()
    for letter, first, last in EVIDENCE.findall(text):
        found.update(f"{letter}{n}" for n in range(int(first), int(last or first) + 1))
    return found


def test_generated_reference_pages_are_current():
    done = subprocess.run([sys.executable, "scripts/gen_docs.py"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_evidence_id_resolves_to_the_behaviour_catalogue():
    anchors = set(re.findall(r'<a id="([A-Z]\d{1,2})"></a>', CATALOGUE.read_text()))
    assert {"S1", "S14", "P7", "D5", "W3", "A12"} <= anchors
    unresolved = {}
    for path in _files():
        if path == CATALOGUE:
            continue
        missing = evidence_ids(path.read_text(errors="replace")) - anchors
        if missing:
            unresolved[str(path.relative_to(ROOT))] = sorted(missing)
    assert not unresolved, f"evidence ids with no entry in docs/behaviour.md: {unresolved}"


def test_the_id_scanner_finds_ids_and_ranges_and_nothing_else():
    assert evidence_ids("dossier S1-S14, P5 and (S3, A7); W1/W2") == {f"S{i}" for i in range(1, 15)} | {
        "P5",
        "A7",
        "W1",
        "W2",
    }
    assert evidence_ids("L1 magnitude, %C2%B2, sha256, x-S1, #A4 anchors, A4x") == set()
    assert evidence_ids("[A4](behaviour.md#A4)") == {"A4"}


def test_links_to_catalogue_entries_name_existing_entries():
    anchors = set(re.findall(r'<a id="([A-Z]\d{1,2})"></a>', CATALOGUE.read_text()))
    for page in DOCS.rglob("*.md"):
        for target in re.findall(r"behaviour\.md#([\w-]+)", page.read_text()):
            assert target in anchors, f"{page.name}: behaviour.md#{target}"


def _nav_pages(nav: list) -> set[str]:
    pages = set()
    for item in nav:
        for value in item.values() if isinstance(item, dict) else [item]:
            pages |= _nav_pages(value) if isinstance(value, list) else {value}
    return pages


def test_every_page_is_in_the_navigation_and_every_nav_entry_exists():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    nav = _nav_pages(config["nav"])
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert nav == pages, (sorted(pages - nav), sorted(nav - pages))


def test_no_project_history_in_user_docs():
    for page in [ROOT / "README.md", *DOCS.rglob("*.md")]:
        text = page.read_text()
        for pattern in (r"\bissues? \d+", r"this round", r"\bround \d", r"before issue"):
            assert not re.search(pattern, text, re.I), f"{page.name}: {pattern!r} (history goes to CHANGELOG.md)"


def test_the_site_builds_with_warnings_as_errors(tmp_path):
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    if mkdocs is None:
        pytest.skip("mkdocs is in the docs extra: pip install '.[docs]'")
    done = subprocess.run(
        [mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": str(Path(sys.executable).parent)},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "site" / "behaviour" / "index.html").is_file()
