"""Shared fixtures of the training tests: one tiny HMH build (64×64) per test session.

The build is made by the real ``hmh-build build`` command (click ``CliRunner``, in this process)
on seeded synthetic Kaggle-layout portraits (``hmh_builder.ingest.synthetic``).
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from hmh_builder.cli import main as build_main
from hmh_builder.ingest.synthetic import write_kaggle_layout

SIZE = 64


def build_shards(tmp, n: int = 10, seed: int = 0):
    """Path of a finished build folder with ``n`` samples of SIZE×SIZE (train and test) under ``tmp``."""
    src, out = tmp / "src", tmp / "shards"
    write_kaggle_layout(src, n, seed=seed, height=96, width=80)
    result = CliRunner().invoke(
        build_main,
        [
            "build",
            "--src",
            str(src),
            "--out",
            str(out),
            "--size",
            str(SIZE),
            "--workers",
            "1",
            "--test-fraction",
            "0.3",
            "--shard-size",
            "4",
            "--seed",
            str(seed),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """One intra-op thread for every training test: on a shared 2-core machine more threads
    make CPU forwards far slower (the tiny networks gain nothing from them)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def shards(tmp_path_factory):
    """A build folder (train and test splits, several shards, 64×64) shared by the training tests."""
    return build_shards(tmp_path_factory.mktemp("train_build"))


#: Command-line options that make a CPU run take well under a second per step.
SMALL = [
    "--width",
    "0.25",
    "--num-downs",
    "6",
    "--batch-size",
    "2",
    "--workers",
    "0",
    "--no-progress",
    "--log-every",
    "1",
    "--val-batches",
    "1",
]


def small_config(mode: str, shards, out, **overrides):
    """A TrainConfig for a tiny CPU run (same settings as SMALL) with ``overrides``."""
    from hmh_train.train.config import load_config

    values = {
        "shards": str(shards),
        "out": str(out),
        "width": 0.25,
        "num_downs": 6,
        "batch_size": 2,
        "workers": 0,
        "progress": False,
        "log_every": 1,
        "val_batches": 1,
    }
    values.update(overrides)
    return load_config(mode, None, values)
