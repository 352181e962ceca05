"""The README's tour is a test, so a README (or a manual page) that drifts fails CI.

Every fenced shell block of README.md and of the manual's pages (docs/*.md) preceded by an HTML
comment starting with ``tour`` (``<!-- tour -->``, or ``<!-- tour: any note -->``) belongs to
the tour. Its commands run exactly as printed (comments and ``\\`` continuations included, each
in its own ``bash -e -o pipefail``), in document order — the README first, then the pages in
the order of mkdocs.yml's nav — in one temporary copy of the checkout (the files git would
commit), through the installed console scripts (``hmh-build``, ``hmh-train``: real
processes). Each must exit 0 without a traceback. Later commands see what earlier ones wrote
(``shards``, ``runs/demo`` from the README's blocks).

To add a command to the tour: put it in a marked block (or mark a new block below the others
that uses their outputs). Size it for a CPU (tiny widths, few steps, 64×64 shards) and say so in
the text, because the tour runs in CI on two shared cores.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.manual import README, documents

ROOT = Path(__file__).resolve().parents[1]
#: A marked block: the comment, then a fenced block of bash/sh (or no language).
MARKED_BLOCK = re.compile(r"<!--\s*tour\b.*?-->\s*\n```(?:bash|sh|shell)?[ \t]*\n(.*?)^```", re.S | re.M)
#: Top-level entries of the checkout not copied (environments, VCS data, outputs).
NOT_COPIED = {
    ".git",
    ".venv",
    ".ci-venv",
    ".tox",
    ".pytest_cache",
    "shards",
    "runs",
    "out",
    "release",
    "build",
    "dist",
}
#: What the tour must show a new user, in this order (a command starting with one of each).
STEPS = [
    ("hmh-build --src",),
    ("hmh-build verify",),
    ("hmh-build preview",),
    ("hmh-train joint", "hmh-train matting", "hmh-train harmonization"),
    ("hmh-train eval",),
    ("hmh-train composite",),
]


def tour_commands(text: str) -> list[str]:
    """The commands of the marked blocks of ``text``, in order; a line ending in ``\\`` is
    joined with the next (the command keeps its line breaks, as bash reads it)."""
    commands = []
    for block in MARKED_BLOCK.findall(text):
        pending = []
        for line in block.splitlines():
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            pending.append(line)
            if not line.rstrip().endswith("\\"):
                commands.append("\n".join(pending))
                pending = []
        assert not pending, f"a tour block ends inside a continued command: {pending}"
    return commands


def test_tour_commands_are_read_from_marked_blocks_only():
    text = (
        "```bash\nnot-in-the-tour\n```\n<!-- tour -->\n```bash\n# a comment line\n"
        "hmh-build verify shards   # checks\nhmh-train eval --ckpt r \\\n    --shards s\n```\n"
        "text\n<!-- tour: a note\nover two lines -->\n```\necho second block\n```\n"
    )
    assert tour_commands(text) == [
        "hmh-build verify shards   # checks",
        "hmh-train eval --ckpt r \\\n    --shards s",
        "echo second block",
    ]


def all_tour_commands() -> list[tuple[str, str]]:
    """``(document, command)`` for every tour command: the README's, then each manual page's in
    nav order."""
    return [
        (page.relative_to(ROOT).as_posix(), command)
        for page in documents()
        for command in tour_commands(page.read_text("utf-8"))
    ]


def test_the_tour_runs_the_readme_first_then_the_pages_in_nav_order():
    pages = [page for page, _ in all_tour_commands()]
    assert pages[0] == "README.md"
    # the foreground tour (nav: "Either side") comes before the study made from runs/demo
    assert pages.index("docs/sides.md") < pages.index("docs/study.md")
    assert pages.index("docs/sides.md") > max(i for i, page in enumerate(pages) if page == "README.md")


def test_the_readme_tour_covers_build_to_composite_in_order():
    commands = [c.split("#")[0].strip() for c in tour_commands(README.read_text("utf-8"))]
    positions = []
    for options in STEPS:
        found = [i for i, c in enumerate(commands) if c.startswith(options)]
        assert found, f"the README tour has no {' / '.join(options)} command: {commands}"
        positions.append(found[0])
    assert positions == sorted(positions), commands


def _checkout_files() -> list[str] | None:
    """Tracked and untracked-but-not-ignored files (git), or None without git."""
    try:
        listed = subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return [f for f in listed.stdout.decode().split("\0") if f] if listed.returncode == 0 else None


def _copy_checkout(dest: Path) -> None:
    """Copy what git would commit (without git: every top-level entry but NOT_COPIED)."""
    files = _checkout_files()
    if files is not None:
        for rel in files:
            if (ROOT / rel).is_file():
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / rel, dest / rel)
        return
    for entry in sorted(ROOT.iterdir()):
        if entry.name in NOT_COPIED or entry.name.endswith(".egg-info"):
            continue
        if entry.is_dir():
            shutil.copytree(entry, dest / entry.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(entry, dest / entry.name)


def test_the_readme_tour_runs_as_printed(tmp_path):
    commands = all_tour_commands()
    work = tmp_path / "checkout"
    work.mkdir()
    _copy_checkout(work)
    scripts = Path(sys.executable).parent
    assert (scripts / "hmh-build").exists() and (scripts / "hmh-train").exists()
    env = dict(os.environ, PATH=f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}", MPLBACKEND="Agg")
    env.pop("PYTHONPATH", None)
    for page, command in commands:
        result = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", command],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=540,
        )
        output = (result.stdout + result.stderr)[-3000:]
        assert result.returncode == 0, (
            f"tour command of {page} failed ({result.returncode}):\n{command}\n{output}"
        )
        assert "Traceback" not in output, f"{page}: {command}\n{output}"
