"""Build folders for the verify/release tests.

``make_build(tmp)`` runs the real ``hmh-build`` on a tiny synthetic Kaggle-layout source when
the build pipeline is available, and otherwise writes a FORMAT.md-conformant stand-in with
:mod:`tests.builder.fakebuild`.
"""
from __future__ import annotations

from tests.builder.fakebuild import write_fake_build


def make_build(tmp, n=8, size=16):
    """Return the path of a finished build folder under ``tmp``."""
    out = tmp / "out"
    out.mkdir()
    write_fake_build(out, n=n, size=size)
    return out
