"""Training and evaluating on harmonization-pair shards (``hmh-build iharmony4``): the loader,
the device batch, the U-Net's mask input, ``hmh-train harmonization``/``joint``/``eval``."""

from __future__ import annotations

import csv

import h5py
import numpy as np
import pytest
import torch

from hmh_train.data.augment import make_batch
from hmh_train.data.shards import ShardDataset, make_loader
from hmh_train.nets.forward import harmonization_mask
from hmh_train.train.steps import Nets, Optimizers, StepConfig, harmonization_step
from tests.standins import build_pair_shards
from tests.train.cli_helpers import invoke as _invoke
from tests.train.conftest import SMALL


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    """Harmonization-pair shards (64×64) of a tiny iHarmony4 stand-in, built by the real command."""
    return build_pair_shards(tmp_path_factory.mktemp("pairs"), "--shard-size", 3)


def test_dataset_reads_pairs_as_stored(pairs):
    data = ShardDataset(pairs, "test")
    assert data.kind == "harmonization" and len(data) == 4 and data.size == (64, 64)
    item = data[1]
    assert set(item) == {"I", "I_d", "M", "id"}
    assert item["I"].shape == (3, 64, 64) and item["M"].shape == (1, 64, 64)
    shard, row = data.locate(1)
    with h5py.File(data.files[shard], "r") as h5:
        assert np.array_equal(item["I_d"].permute(1, 2, 0).numpy(), h5["I_d"][row])
        assert np.array_equal(item["M"][0].numpy(), h5["M"][row])
        assert item["id"] == h5["id"].asstr()[row]


def test_batches_carry_the_stored_mask(pairs):
    data = ShardDataset(pairs, "train")
    raw = next(iter(make_loader(data, 4, shuffle=False, drop_last=False)))
    batch = make_batch(raw, "cpu", train=False)
    assert batch.alpha is None and batch.trimap is None and batch.background is None
    assert torch.equal(batch.mask, raw["M"].float() / 255) and torch.equal(
        harmonization_mask(batch), batch.mask
    )
    flipped = make_batch(raw, "cpu", torch.Generator().manual_seed(0), train=True, crop_min=0.7)
    assert set(torch.unique(flipped.mask).tolist()) <= {0.0, 1.0}
    assert flipped.image.shape == flipped.disharmonious.shape == (4, 3, 64, 64)
    with pytest.raises(ValueError, match="harmonization-pair"):
        make_batch(raw, "cpu", torch.Generator(), train=True, online=True)


def test_hmh_batches_take_the_altered_background_as_mask(shards):
    raw = next(iter(make_loader(ShardDataset(shards, "train"), 2, shuffle=False)))
    batch = make_batch(raw, "cpu", train=False)
    assert batch.mask is None
    assert torch.equal(harmonization_mask(batch), 1 - batch.alpha)


class Recorder(torch.nn.Module):
    """A stand-in U-Net that records its input and scales the composite channels."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))
        self.seen = None

    def forward(self, x):
        self.seen = x.detach().clone()
        return torch.tanh(x[:, :3] * self.scale)


def test_harmonization_step_feeds_the_stored_mask(pairs):
    raw = next(iter(make_loader(ShardDataset(pairs, "train"), 3, shuffle=False)))
    batch = make_batch(raw, "cpu", train=False)
    net = Recorder()
    nets = Nets(harmonization=net)
    optims = Optimizers(harmonization=torch.optim.SGD(net.parameters(), lr=0.1))
    losses = harmonization_step(nets, optims, batch, StepConfig())
    assert np.isfinite(losses["loss_gh"]) and net.scale.item() != 1.0
    assert torch.equal(net.seen[:, 3:], batch.mask)
    assert torch.allclose(net.seen[:, :3], batch.disharmonious * 2 - 1)


def test_train_harmonization_then_eval(pairs, shards, tmp_path):
    run = tmp_path / "run"
    result = _invoke(
        "harmonization", "--shards", pairs, "--max-steps", 3, "--out", run, "--image-every", 2, *SMALL
    )
    assert result.exit_code == 0, result.output
    assert "harmonization: 3 steps" in result.output
    assert (run / "checkpoints" / "last.pt").exists()
    joint = _invoke(
        "joint",
        "--shards",
        shards,
        "--harmonization-ckpt",
        run,
        "--max-steps",
        1,
        "--out",
        tmp_path / "joint",
        *SMALL,
    )  # the pretrained U-Net starts the joint stage
    assert joint.exit_code == 0, joint.output
    out = tmp_path / "eval"
    result = _invoke("eval", "--ckpt", run, "--shards", pairs, "--out", out, "--no-progress")
    assert result.exit_code == 0, result.output
    lines = (out / "table.csv").read_text().splitlines()
    assert lines[0] == "run,subset,MSE,fMSE,PSNR"
    rows = list(csv.DictReader(lines))
    assert [(r["run"], r["subset"]) for r in rows] == [
        ("run", "HCOCO"),
        ("run", "HFlickr"),
        ("run", "all"),
        ("identity", "HCOCO"),
        ("identity", "HFlickr"),
        ("identity", "all"),
    ]
    assert "| identity | all |" in (out / "table.md").read_text()
    # the identity rows equal MSE, fMSE and PSNR computed here from the stored pairs
    per = {}
    data = ShardDataset(pairs, "test")
    for k in range(len(data)):
        item = data[k]
        real = item["I"].permute(1, 2, 0).numpy().astype(np.float64)
        comp = item["I_d"].permute(1, 2, 0).numpy().astype(np.float64)
        mask = item["M"][0].numpy() == 255
        error = (comp - real) ** 2
        per.setdefault(item["id"].split("/")[0], []).append(
            (error.mean(), error[mask].sum() / (3 * mask.sum()), 10 * np.log10(255**2 / error.mean()))
        )
    per["all"] = [v for values in per.values() for v in values]
    for row in rows[3:]:
        want = np.mean(per[row["subset"]], axis=0)
        got = [float(row[c]) for c in ("MSE", "fMSE", "PSNR")]
        assert np.allclose(got, want, rtol=1e-12), (row, want)


@pytest.mark.parametrize("mode", ["joint", "matting"])
def test_modes_needing_alpha_are_refused_in_one_line(pairs, tmp_path, mode):
    result = _invoke(mode, "--shards", pairs, "--max-steps", 1, "--out", tmp_path / "r", *SMALL)
    assert result.exit_code == 1
    assert "no alpha" in result.output and "hmh-train harmonization" in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
