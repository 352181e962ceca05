"""Filesystem helpers shared by ``hmh_builder`` and ``hmh_train`` (part of the builder's public
API, with ``schema`` and ``imageio``): atomic small-file writes, folder fsync, and the
source-folder walk every command that lists images uses.
"""
from __future__ import annotations

import os

TMP_SUFFIX = ".tmp"


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


def walk_files(src: str, top: str, extensions) -> list[str]:
    """Relative "/" paths of files under ``src/top`` with one of ``extensions`` (lower-case,
    e.g. ``(".jpg", ".png")``), sorted. Symlinked folders are followed (each real folder once);
    names starting with "." are skipped; a missing ``src/top`` gives []; an unlistable folder
    raises ``SourceError`` naming it."""
    found = []
    if not os.path.isdir(os.path.join(src, top)):
        return found

    def complain(exc):
        raise SourceError(f"{exc.filename}: cannot be listed ({exc.strerror})")

    seen = set()  # real paths walked: symlinked folders are followed, a loop only once
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
