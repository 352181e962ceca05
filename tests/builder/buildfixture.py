"""Real build folders for the verify/release/preview/stats tests.

``make_build(tmp)`` writes a tiny seeded synthetic source in the Kaggle layout
(``hmh_builder.synthetic``) and builds it with the real pipeline at 64×64, three samples per
shard and a test fraction of 0.3, so both splits and several shards exist.
"""
from __future__ import annotations

from hmh_builder.build import run_build
from hmh_builder.config import BuildConfig, RunOptions
from hmh_builder.synthetic import write_kaggle_layout


def make_build(tmp, n=10, size=64):
    """Return the path of a finished, verified-clean build folder under ``tmp``."""
    src, out = tmp / "src", tmp / "out"
    write_kaggle_layout(src, n, seed=0, height=160, width=120, matte_rgb="zero")
    config = BuildConfig(source=str(src), size=(size, size), shard_size=3, test_fraction=0.3)
    outcome = run_build(config, RunOptions(out=str(out), workers=1))
    assert not outcome.faults and not outcome.failures, outcome
    return out
