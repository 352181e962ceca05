"""Filesystem helpers shared by ``hmh_builder`` and ``hmh_train`` (part of the builder's public
API, with ``schema`` and ``imageio``): atomic small-file writes, folder fsync, the
source-folder walk every command that lists images uses, iHarmony4's list files and
naming rule (``hmh-build iharmony4`` and the iHarmony4 benchmark read the same files), and
what both command lines report about failures: an exception's first line, the exit
statuses and the listing of failed inputs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NoReturn

TMP_SUFFIX = ".tmp"

#: Exit statuses of ``hmh-build`` and ``hmh-train``: 1 could not finish, 2 usage,
#: 3 some inputs failed (listed in the command's failures file, all others were written).
EXIT_OK, EXIT_FAULT, EXIT_USAGE, EXIT_FAILED_INPUTS, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
#: How many failed inputs a batch command prints; the rest are counted (all are in its file).
SHOWN_FAILURES = 10


def first_line(exc: BaseException, *, with_type: bool = False) -> str:
    """The first non-blank line of ``str(exc)``, stripped; the exception's type name when the
    message is empty (``OSError()``), so a one-line error is never blank and never raises.
    ``with_type``: ``"TypeName: first line"`` (just ``"TypeName"`` for an empty message)."""
    name = type(exc).__name__
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return name
    return f"{name}: {lines[0]}" if with_type else lines[0]


def failure_listing(failures: Sequence[str], where: str) -> list[str]:
    """Lines a batch command prints about its failed inputs: the first ``SHOWN_FAILURES``
    (indented by two spaces), then ``  … and N more (see WHERE)`` when there are more;
    [] for none. ``where``: the file that lists them all, e.g. ``"failures.csv"``."""
    lines = [f"  {failure}" for failure in failures[:SHOWN_FAILURES]]
    if len(failures) > SHOWN_FAILURES:
        lines.append(f"  … and {len(failures) - SHOWN_FAILURES} more (see {where})")
    return lines


def fsync_dir(path: str) -> None:
    """Flush a directory entry (after a rename) to disk; a no-op where unsupported."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` via ``path.tmp`` → fsync → os.replace."""
    tmp = path + TMP_SUFFIX
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        remove_quietly(tmp)
        raise
    fsync_dir(os.path.dirname(os.path.abspath(path)))


def remove_quietly(path: str) -> None:
    """``os.remove`` that ignores a missing or unremovable file (clean-up paths)."""
    try:
        os.remove(path)
    except OSError:
        pass


class SourceError(ValueError):
    """SRC cannot be used at all (missing, unreadable, unknown layout); one sentence."""


def walk_files(src: str, top: str, extensions: tuple[str, ...]) -> list[str]:
    """Relative "/" paths of files under ``src/top`` with one of ``extensions`` (lower-case,
    e.g. ``(".jpg", ".png")``), sorted. Symlinked folders are followed (each real folder once);
    names starting with "." are skipped; a missing ``src/top`` gives []; an unlistable folder
    raises ``SourceError`` naming it."""
    found: list[str] = []
    if not os.path.isdir(os.path.join(src, top)):
        return found

    def complain(exc: OSError) -> NoReturn:
        raise SourceError(f"{exc.filename}: cannot be listed ({exc.strerror})")

    seen: set[str] = set()  # real paths walked: symlinked folders are followed, a loop only once
    for root, dirs, files in os.walk(os.path.join(src, top), onerror=complain, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if not name.startswith(".") and name.lower().endswith(extensions):
                found.append(os.path.relpath(os.path.join(root, name), src).replace(os.sep, "/"))
    return sorted(found)


#: iHarmony4's list files, per split, in the dataset root.
IHARMONY4_LISTS = {"train": "IHD_train.txt", "test": "IHD_test.txt"}
#: iHarmony4's four subsets (a listed line's first folder), in the order tables list them.
IHARMONY4_SUBSETS = ("HCOCO", "HAdobe5k", "HFlickr", "Hday2night")


def iharmony4_partners(line: str) -> tuple[str, str]:
    """(mask, real image) of a listed iHarmony4 composite by DoveNet's rule, e.g.
    ``HCOCO/composite_images/c1_1_1.jpg`` → (``HCOCO/masks/c1_1.png``, ``HCOCO/real_images/c1.jpg``).

    As in DoveNet's ``data/iharmony4_dataset.py``: split the path at ``_``; mask = path with
    ``composite_images`` → ``masks`` and ``_<last part>`` → ``.png``; real = path with
    ``composite_images`` → ``real_images`` and ``_<second last>_<last>`` → ``.jpg``
    (``str.replace``: every occurrence), applied to the listed line (relative to the root).
    Raises ValueError when the file name has fewer than two ``_`` (the rule would then name a
    wrong file).
    """
    name = line.rsplit("/", 1)[-1]
    if name.count("_") < 2:
        raise ValueError(
            f"{line}: the file name does not follow iHarmony4's "
            "<image>_<mask>_<k>.jpg naming, so its mask and real image cannot be found"
        )
    parts = line.split("_")
    mask = line.replace("composite_images", "masks").replace("_" + parts[-1], ".png")
    real = line.replace("composite_images", "real_images").replace("_" + parts[-2] + "_" + parts[-1], ".jpg")
    return mask, real


def read_list_lines(path: str) -> list[tuple[int, str]]:
    """(line number, line) of a list file, right-stripped as DoveNet does, blank lines
    skipped. OSError / UnicodeDecodeError propagate."""
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    return [(number, raw.rstrip()) for number, raw in enumerate(lines, 1) if raw.rstrip()]
