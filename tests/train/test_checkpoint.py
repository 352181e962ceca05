"""Checkpoints: atomic writes, weights_only loading, RNG round trip, load_nets."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from hmh_train.train import checkpoint as ckpt_io
from hmh_train.train.engine import train
from tests.train.conftest import small_config


def test_atomic_save_replaces_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "x.pt"
    ckpt_io.atomic_save({"a": torch.arange(3)}, str(path))
    ckpt_io.atomic_save({"a": torch.arange(4)}, str(path))
    assert [p.name for p in path.parent.iterdir()] == ["x.pt"]
    assert torch.equal(torch.load(path, weights_only=True)["a"], torch.arange(4))


def test_rng_state_round_trips_through_a_weights_only_file(tmp_path):
    generator = torch.Generator().manual_seed(5)
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    state = ckpt_io.rng_state(generator)
    torch.save(state, tmp_path / "rng.pt")
    expected = (
        random.random(),
        np.random.rand(),
        torch.rand(1).item(),
        torch.rand(1, generator=generator).item(),
    )
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    generator.manual_seed(9)
    ckpt_io.restore_rng(torch.load(tmp_path / "rng.pt", weights_only=True), generator)
    got = (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=generator).item())
    assert got == expected


def test_foreign_files_are_refused_in_one_line(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    with pytest.raises(ckpt_io.CheckpointError, match=r"junk.pt: not a PyTorch checkpoint \(a text file\)"):
        ckpt_io.load(tmp_path / "junk.pt")
    torch.save({"format": "other"}, tmp_path / "other.pt")
    with pytest.raises(ckpt_io.CheckpointError, match="not an hmh-train checkpoint"):
        ckpt_io.load(tmp_path / "other.pt")
    with pytest.raises(ckpt_io.CheckpointError, match="no such checkpoint"):
        ckpt_io.load_nets(tmp_path / "missing")


def test_load_nets_returns_the_trained_weights_in_eval_mode(shards, tmp_path):
    train(small_config("joint", shards, tmp_path, max_steps=1, val_batches=0))
    saved = ckpt_io.load(tmp_path / "checkpoints" / "last.pt")
    assert set(saved) >= {
        "nets",
        "net_config",
        "optimizers",
        "schedulers",
        "step",
        "epoch",
        "rng",
        "config",
        "format",
        "version",
    }
    assert saved["net_config"] == {"width": 0.25, "num_downs": 6}
    nets, config = ckpt_io.load_nets(tmp_path)  # best.pt (by train loss: no validation)
    assert config["mode"] == "joint" and config["width"] == 0.25
    for name in ckpt_io.NET_NAMES:
        net = getattr(nets, name)
        assert not net.training
        for key, value in net.state_dict().items():
            assert torch.equal(value, saved["nets"][name][key]), (name, key)
