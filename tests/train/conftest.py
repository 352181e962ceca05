"""Shared fixtures of the training tests: one tiny HMH build (64×64) per test session.

The build is made by the real ``hmh-build`` (``hmh_builder.cli.main``) on synthetic Kaggle-layout
portraits when the ``build`` command is available, and otherwise by the FORMAT.md stand-in
``tests/builder/fakebuild.py``.
"""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from hmh_builder.cli import main as build_main
from hmh_builder.synthetic import write_kaggle_layout
from tests.builder.fakebuild import write_fake_build

SIZE = 64


def build_shards(tmp, n: int = 10, seed: int = 0):
    """Path of a finished build folder with ``n`` samples of SIZE×SIZE under ``tmp``."""
    out = tmp / "shards"
    if "build" in build_main.commands:
        src = tmp / "src"
        write_kaggle_layout(src, n, seed=seed, height=96, width=80)
        result = CliRunner().invoke(build_main, [
            "build", "--src", str(src), "--out", str(out), "--size", str(SIZE),
            "--workers", "1", "--test-fraction", "0.3", "--seed", str(seed)])
        assert result.exit_code == 0, result.output
    else:
        out.mkdir()
        write_fake_build(out, n=n, size=SIZE, shard_size=4, test_fraction=0.3, seed=seed)
    return out


@pytest.fixture(scope="session")
def shards(tmp_path_factory):
    """A build folder (train and test splits, 64×64) shared by the training tests."""
    return build_shards(tmp_path_factory.mktemp("train_build"))
