"""Find local paths and host names in a release folder (``hmh-build verify`` on a release).

A release is published, so it must not say where it was built: ``hmh-build package`` writes
``config.source`` and ``run.host`` of ``manifest.json`` as :data:`REDACTED` and every other
path relative to the source root. This module looks for what may still leak: those two fields
unredacted; the recorded source path or host name anywhere; and absolute paths under the usual
private roots (``/home/``, ``/Users/``, ``/Volumes/``, ``/tmp/``, ``/root``, ``C:\\Users\\``, …) in the bytes
of every file except the shards' pixel data, whose HDF5 attributes, string datasets and
virtual-source names are read instead (a pixel array cannot carry a path, and scanning
gigabytes of pixels for short byte patterns would only find chance matches).
"""

from __future__ import annotations

import os
import re

#: What a release writes instead of the build machine's source path and host name.
REDACTED = "<redacted>"
#: Absolute paths under the roots where private data lives (Unix, macOS, Windows); a path
#: must start the text or follow a character that cannot be part of a URL or word.
LOCAL_PATH = re.compile(
    rb"(?<![\w.~:/\\-])(?:/(?:home|Users|Volumes|root|tmp|var|private|mnt|media|scratch|data|work|"
    rb"opt|srv|net|gpfs|lustre|nfs|run|storage)(?=[/\"'\s,;)]|$)|[A-Za-z]:\\\\?(?:Users|home)\b)"
)
#: Files scanned as raw bytes; .h5 files are read with h5py (see the module docstring).
_HDF5_SUFFIX = ".h5"


def recorded_leaks(manifest: dict) -> list[str]:
    """Problems (one sentence each) with the manifest's own ``config.source`` and ``run.host``."""
    config = manifest.get("config") if isinstance(manifest.get("config"), dict) else {}
    run = manifest.get("run") if isinstance(manifest.get("run"), dict) else {}
    problems = []
    if config.get("source", REDACTED) != REDACTED:
        problems.append(
            f"config.source is the build machine's path {config['source']!r}; a release records {REDACTED!r}"
        )
    if run.get("host", REDACTED) != REDACTED:
        problems.append(f"run.host names the build machine ({run['host']!r}); a release records {REDACTED!r}")
    return problems


def needles(manifest: dict) -> list[re.Pattern]:
    """Byte patterns of local facts: absolute paths, and the manifest's recorded source path
    and host name when they are not redacted (the host as a whole word)."""
    found = [LOCAL_PATH]
    source = (manifest.get("config") or {}).get("source")
    host = (manifest.get("run") or {}).get("host")
    if isinstance(source, str) and source not in ("", REDACTED, ".", "/"):
        found.append(re.compile(re.escape(source.encode("utf-8"))))
    if isinstance(host, str) and host and host != REDACTED:
        found.append(re.compile(rb"(?<![\w.-])" + re.escape(host.encode("utf-8")) + rb"(?![\w-])"))
    return found


def first_leak(data: bytes, patterns) -> str | None:
    """The first match of any pattern in ``data``, decoded for a message; None when clean."""
    for pattern in patterns:
        match = pattern.search(data)
        if match:
            start = max(0, match.start() - 20, data.rfind(b"\n", 0, match.start()) + 1)
            end = min(len(data), match.end() + 40)
            end = min(end, data.find(b"\n", match.end())) if b"\n" in data[match.end() : end] else end
            return data[start:end].decode("utf-8", "replace")
    return None


def _hdf5_strings(path: str) -> bytes:
    """Every attribute, string dataset value and virtual-source name of an HDF5 file, joined
    by newlines (numeric arrays are skipped)."""
    import h5py
    import numpy as np

    parts = []

    def add(value):
        for item in np.asarray(value).ravel().tolist():
            parts.append(item if isinstance(item, bytes) else str(item).encode("utf-8"))

    def visit(name, obj):
        parts.append(name.encode("utf-8"))
        for key, value in obj.attrs.items():
            parts.append(key.encode("utf-8"))
            add(value)
        if isinstance(obj, h5py.Dataset):
            if obj.is_virtual:
                parts.extend(m.file_name.encode("utf-8") for m in obj.virtual_sources())
            if obj.dtype.kind in "OSU":
                add(obj[()])

    with h5py.File(path, "r") as h5:
        visit("/", h5)
        h5.visititems(visit)
    return b"\n".join(parts)


def file_leaks(folder: str, manifest: dict) -> list[tuple[str, str]]:
    """(relative path, excerpt) of each file under ``folder`` that holds a local path or the
    recorded host name; HDF5 files by their strings, all other files by their bytes."""
    patterns, found = needles(manifest), []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, folder).replace(os.sep, "/")
            try:
                if name.endswith(_HDF5_SUFFIX):
                    data = _hdf5_strings(path)
                else:
                    with open(path, "rb") as handle:
                        data = handle.read()
            except Exception:  # unreadable files are reported by the other checks
                continue
            leak = first_leak(data, patterns)
            if leak is not None:
                found.append((rel, leak))
    return found


def leak_problems(folder: str, manifest: dict, problem) -> list:
    """One problem per release file that holds a local path or host name (for manifest.json
    its unredacted fields are named first)."""
    recorded = recorded_leaks(manifest)
    problems = [problem("manifest.json", "; ".join(recorded))] if recorded else []
    for rel, excerpt in file_leaks(folder, manifest):
        if rel == "manifest.json" and recorded:
            continue
        problems.append(
            problem(
                rel,
                f"holds a local path or host name (…{excerpt}…); a release "
                "must not carry them: package it again with this hmh-build",
            )
        )
    return problems
