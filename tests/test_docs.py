"""The manual holds together without mkdocs installed: every relative link and image of the
README and of docs/*.md points at a file that exists (and at a heading that exists, for an
anchor), the pages link only inside docs/ (the site holds nothing else), every page is in
mkdocs.yml's nav (the tour's order), and the README's architecture map names stages, leaving
the module rows to docs/architecture.md. ``mkdocs build --strict`` (in .ci/run) checks the same
links on the rendered site."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.manual import (
    ARCHITECTURE,
    DOCS,
    README,
    ROOT,
    anchors,
    documents,
    github_slug,
    heading_texts,
    link_targets,
    mkdocs_slug,
    nav_pages,
)


def broken_links(page: Path) -> list[str]:
    """``page: target (why)`` for every relative link of ``page`` that does not resolve."""
    broken = []
    for target in link_targets(page.read_text("utf-8")):
        if not target or "://" in target or target.startswith("mailto:"):
            continue
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / unquote(path_part)).resolve() if path_part else page
        why = check_target(page, dest, anchor)
        if why:
            broken.append(f"{page.relative_to(ROOT)}: {target} ({why})")
    return broken


def check_target(page: Path, dest: Path, anchor: str) -> str:
    """Why a link from ``page`` to ``dest#anchor`` is broken, or ""."""
    if not dest.exists():
        return "no such file"
    if page.is_relative_to(DOCS) and not dest.is_relative_to(DOCS):
        return "outside docs/: the site does not have it"
    if anchor and dest.suffix == ".md":
        text = dest.read_text("utf-8")
        slugs = [github_slug] + ([mkdocs_slug] if dest.is_relative_to(DOCS) else [])
        if not all(anchor in anchors(text, slug) for slug in slugs):
            return "no such heading"
    return ""


def test_every_relative_link_resolves():
    pages = [README, *sorted(DOCS.glob("*.md"))]
    assert [p for page in pages for p in broken_links(page)] == []


def test_a_broken_link_an_outside_link_and_a_missing_anchor_are_found(tmp_path, monkeypatch):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text(
        "# Page A\n\n## Both sides: the scene — or the person\n\n"
        "[ok](b.md#second-part) [ok](#page-a) ![img](pic.png) `[not a link](nowhere.md)`\n"
        "[gone](missing.md) [out](../README.md) [bad](b.md#no-such) [dash](#both-sides-the-scene--or-the-person)\n"
        "```\n[in code](nowhere.md)\n```\n[ref]: b.md\n",
        "utf-8",
    )
    (docs / "b.md").write_text("# B\n\n## Second *part*\n", "utf-8")
    (docs / "pic.png").write_bytes(b"\x89PNG")
    (tmp_path / "README.md").write_text("[docs](docs/a.md)\n", "utf-8")
    monkeypatch.setattr("tests.test_docs.ROOT", tmp_path)
    monkeypatch.setattr("tests.test_docs.DOCS", docs)
    assert broken_links(docs / "a.md") == [
        "docs/a.md: missing.md (no such file)",
        "docs/a.md: ../README.md (outside docs/: the site does not have it)",
        "docs/a.md: b.md#no-such (no such heading)",
        # GitHub keeps both dashes around the removed "—", MkDocs makes one: broken on the site
        "docs/a.md: #both-sides-the-scene--or-the-person (no such heading)",
    ]
    assert broken_links(tmp_path / "README.md") == []


def test_heading_anchors_follow_github_and_mkdocs():
    text = "# Either side: adjust the `scene`\n## Output of `hmh-build --out OUT`\n## B\n## B\n"
    assert heading_texts(text)[1] == "Output of hmh-build --out OUT"
    assert anchors(text, github_slug) == {
        "either-side-adjust-the-scene",
        "output-of-hmh-build---out-out",
        "b",
        "b-1",
        "b_1",
    }
    assert mkdocs_slug("Output of hmh-build --out OUT") == "output-of-hmh-build-out-out"
    assert mkdocs_slug("Does it work? Table 1 — at CPU scale") == "does-it-work-table-1-at-cpu-scale"


def test_nav_pages_are_read_in_order_through_sections(tmp_path):
    config = tmp_path / "mkdocs.yml"
    config.write_text(
        "site_name: x\nnav:\n  - Home: index.md\n  - b.md\n  - Section:\n      - Sub: c/d.md\n"
        "      - Elsewhere: https://example.org/\n  - A: a.md\n",
        "utf-8",
    )
    assert [p.relative_to(DOCS).as_posix() for p in nav_pages(config)] == [
        "index.md",
        "b.md",
        "c/d.md",
        "a.md",
    ]


def test_every_page_is_in_the_nav_once_and_every_nav_entry_exists():
    listed = nav_pages()
    assert len(listed) == len(set(listed))
    assert [p for p in listed if not p.is_file()] == []
    assert sorted(set(DOCS.glob("*.md")) - set(listed)) == [], "add the page to mkdocs.yml's nav"
    assert documents()[0] == README


@pytest.mark.parametrize("page", ["building.md", "FORMAT.md", "architecture.md", "index.md"])
def test_the_manual_has_its_pages(page):
    assert DOCS / page in nav_pages()


def test_readme_architecture_map_names_stages_and_the_module_table_is_in_docs():
    readme = README.read_text("utf-8")
    section = readme[readme.index("\n## Architecture") :]
    section = section[: section.find("\n## ", 1)]
    rows = [line.split("`")[1] for line in section.splitlines() if line.startswith("| `")]
    assert rows and all(not row.endswith(".py") for row in rows), (
        "module rows belong in docs/architecture.md; the README names stages"
    )
    assert "(docs/architecture.md)" in section
    assert "| `hmh_builder/schema.py` |" in ARCHITECTURE.read_text("utf-8")
