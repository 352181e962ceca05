"""Where the documentation lives, for the tests that read it: the README (the front page) and
the manual's pages under ``docs/`` in the order of ``mkdocs.yml``'s ``nav``, and the Markdown
facts the link test needs (links outside code, heading anchors as GitHub and MkDocs make them).
Pure text functions; nothing here needs mkdocs installed."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
#: The per-module table (tests/test_layout.py checks one row per module).
ARCHITECTURE = DOCS / "architecture.md"

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.S | re.M)
CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.S)
HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
HTML_ATTR = re.compile(r"<(?:a|img)\b[^>]*?\b(?:href|src)=\"([^\"]*)\"", re.I)
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$", re.M)


def nav_pages(config: Path = ROOT / "mkdocs.yml") -> list[Path]:
    """The pages of ``mkdocs.yml``'s ``nav``, in order (paths under ``docs/``)."""
    nav = yaml.safe_load(config.read_text("utf-8"))["nav"]
    return [DOCS / rel for rel in _flatten(nav)]


def _flatten(entries) -> list[str]:
    """The page paths of a nav list: an entry is ``"page.md"``, ``{title: "page.md"}`` or
    ``{section: [entries]}``; external URLs are left out."""
    pages = []
    for entry in entries:
        values = entry.values() if isinstance(entry, dict) else [entry]
        for value in values:
            if isinstance(value, list):
                pages += _flatten(value)
            elif "://" not in value:
                pages.append(value)
    return pages


def documents() -> list[Path]:
    """The README, then the manual's pages in nav order: the order the tour runs in."""
    return [README, *nav_pages()]


def without_code(text: str) -> str:
    """``text`` without fenced blocks, code spans and HTML comments (their brackets are not links)."""
    return CODE_SPAN.sub("", FENCE.sub("", HTML_COMMENT.sub("", text)))


def link_targets(text: str) -> list[str]:
    """Every link and image target of Markdown ``text``, outside code, in order."""
    prose = without_code(text)
    found = [(m.start(), m.group(1)) for m in INLINE_LINK.finditer(prose)]
    found += [(m.start(), m.group(1)) for m in REFERENCE_DEF.finditer(prose)]
    found += [(m.start(), m.group(1)) for m in HTML_ATTR.finditer(prose)]
    return [target for _, target in sorted(found)]


def heading_texts(text: str) -> list[str]:
    """The text of every ATX heading outside code: code spans unwrapped, links reduced to their
    text, emphasis marks dropped."""
    texts = []
    for match in HEADING.finditer(HTML_COMMENT.sub("", FENCE.sub("", text))):
        heading = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", match.group(2))
        texts.append(re.sub(r"[`*]|(?<!\w)_|_(?!\w)", "", heading))
    return texts


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but ``-`` and ``_`` removed,
    each space a ``-``."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def mkdocs_slug(heading: str) -> str:
    """MkDocs' anchor (Python-Markdown's ``toc.slugify``): ASCII only, punctuation removed,
    runs of spaces and ``-`` one ``-``."""
    ascii_text = unicodedata.normalize("NFKD", heading).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", ascii_text).strip().lower())


def anchors(text: str, slug) -> set[str]:
    """The anchors ``slug`` gives the headings of ``text`` (a repeated one gets ``-1``, ``-2``
    on GitHub, ``_1``, ``_2`` in MkDocs: both spellings are kept)."""
    seen: dict[str, int] = {}
    found = set()
    for heading in heading_texts(text):
        anchor = slug(heading)
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        found |= {anchor} if count == 0 else {f"{anchor}-{count}", f"{anchor}_{count}"}
    return found
