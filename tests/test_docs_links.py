"""The documentation belongs to the repository: every link in README.md and docs/ points at a file
of the repository (never outside it), and a link to a section names a heading that exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """The anchors of a page's headings, as GitHub makes them."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)
    out = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", text, re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        out.add(slug)
    return out


def links() -> list[tuple[str, str]]:
    out = []
    for page in PAGES:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)
        out += [(page.relative_to(ROOT).as_posix(), target) for target in LINK.findall(text)]
    return out


def test_the_pages_have_links():
    assert any(page == "README.md" for page, _ in links())


@pytest.mark.parametrize("page,target", links())
def test_link_stays_in_the_repository(page, target):
    assert not re.match(r"^[a-z][a-z0-9+.-]*:", target), f"{page}: {target} leaves the repository"
    path, _, anchor = target.partition("#")
    file = (ROOT / page).parent / path if path else ROOT / page
    assert file.resolve().is_relative_to(ROOT), f"{page}: {target} is outside the repository"
    assert file.exists(), f"{page}: {target}: no such file"
    if anchor:
        assert anchor in anchors(file), f"{page}: {target}: no such heading"
