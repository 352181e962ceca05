"""Small shared helpers for the build pipeline tests (synthetic sources, CLI runs, reading)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hmh_builder.ingest.synthetic import write_kaggle_layout, write_plain_layout

SMALL = dict(height=160, width=120)  # source portraits: 120×160 (W×H), built at --size 64
HMH_BUILD = str(Path(sys.executable).with_name("hmh-build"))


def kaggle_source(root: Path, n: int = 10, seed: int = 3) -> Path:
    """A Kaggle-layout source of ``n`` small synthetic portraits under root/src."""
    src = root / "src"
    write_kaggle_layout(src, n, seed=seed, **SMALL)
    return src


def plain_source(root: Path, n: int = 4, seed: int = 5) -> Path:
    src = root / "plain"
    write_plain_layout(src, n, seed=seed, **SMALL)
    return src


def build_args(src, out, *extra) -> list[str]:
    return ["--src", str(src), "--out", str(out), "--size", "64", "--no-progress", *map(str, extra)]


def run_cli(src, out, *extra, timeout=300) -> subprocess.CompletedProcess:
    """Run the real ``hmh-build`` console script in a subprocess."""
    return subprocess.run(
        [HMH_BUILD, *build_args(src, out, *extra)], capture_output=True, text=True, timeout=timeout
    )


def manifest(out) -> dict:
    return json.loads((Path(out) / "manifest.json").read_text())


def failures(out) -> list[dict]:
    text = (Path(out) / "failures.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def files_under(out) -> list[str]:
    return sorted(os.path.relpath(os.path.join(r, f), out) for r, _, fs in os.walk(out) for f in fs)
