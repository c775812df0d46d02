"""The README and docs/ pages: relative links resolve, and CI runs the README's test command.

A moved or renamed file (or heading) would otherwise leave a dead link that no other test
notices, and .ci/run copies the README's test command by hand.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
CI_BLOCK = re.compile(r"# --- the README's test command, verbatim ---\n(.*?)\n# --- end ---", re.DOTALL)


def _prose(text: str) -> str:
    """The page without its fenced code blocks (links there are examples, not links)."""
    return FENCE.sub("", text)


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors for the page's headings: lower case, punctuation dropped, spaces to '-'."""
    anchors = set()
    for line in _prose(page.read_text(encoding="utf-8")).splitlines():
        match = re.match(r"#{1,6}\s+(.*)", line)
        if match:
            title = match.group(1).strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def _relative_links(page: Path) -> list[str]:
    links = LINK.findall(_prose(page.read_text(encoding="utf-8")))
    return [link for link in links if not re.match(r"[a-z][a-z0-9+.-]*:", link)]


def test_there_are_pages_and_links() -> None:
    assert (ROOT / "README.md") in PAGES and len(PAGES) > 1
    assert _relative_links(ROOT / "README.md")


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for link in _relative_links(page):
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            broken.append(f"{link}: no such file")
        elif anchor and target.suffix == ".md" and anchor not in _anchors(target):
            broken.append(f"{link}: no heading #{anchor} in {target.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_anchors_follow_github_rules() -> None:
    page = ROOT / "docs" / "benchmarks.md"
    assert {"encoder-speed-and-quality", "file-size", "kmz-demo"} <= _anchors(page)


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    block = CI_BLOCK.search((ROOT / ".ci" / "run").read_text(encoding="utf-8"))
    assert block is not None, ".ci/run lost its marked README test command"
    ci_command = block.group(1).strip()
    readme_commands = [
        line
        for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("python3 -m venv") and "[test]" in line
    ]
    assert readme_commands == [ci_command]
