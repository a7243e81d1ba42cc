"""Citations of the specification point at sections that exist."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CITED_FOLDERS = ("video_r1", "tests", "benchmarks", "configs", "docs", "scripts")


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_spec_citation_names_a_section():
    spec = (REPO / "docs" / "spec.md").read_text()
    anchors = {_anchor(h) for h in re.findall(r"^#+ (.+)$", spec, re.M)}
    files = [REPO / "README.md"]
    for folder in CITED_FOLDERS:
        files += [p for p in (REPO / folder).rglob("*") if p.suffix in (".py", ".md", ".yaml")]
    cited = {
        (path.relative_to(REPO).as_posix(), anchor)
        for path in files
        for anchor in re.findall(r"docs/spec\.md#([\w-]+)", path.read_text())
    }
    assert len(cited) >= 10
    assert sorted((path, a) for path, a in cited if a not in anchors) == []
