"""The training loop: exact resume, lr schedule, NaN guard, checkpoints, SIGTERM."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from hmh_train.data.shards import ShardDataset
from hmh_train.train import checkpoint as ckpt_io
from hmh_train.train import steps
from hmh_train.train.config import load_config
from hmh_train.train.engine import TrainingError, train
from hmh_train.train.logs import read_csv
from tests.train.conftest import SMALL, small_config

LOSS_KEYS = ("loss_gm", "loss_gh", "loss_d", "total")


def _losses(run, keys=LOSS_KEYS):
    return {int(r["step"]): [float(r[k]) for k in keys] for r in read_csv(os.path.join(run, "metrics.csv"))}


def test_resume_reproduces_the_uninterrupted_run(shards, tmp_path):
    per_epoch = _batches_per_epoch(shards, 3)
    total, cut = 2 * per_epoch + 1, per_epoch + 1  # cut mid-epoch 1; the run ends in epoch 2
    extra = {"crop_min": 0.8, "online_adjust": True, "seed": 3, "batch_size": 3}  # every random draw
    straight = train(small_config("joint", shards, tmp_path / "straight", max_steps=total, **extra))
    assert straight["step"] == total
    first = train(small_config("joint", shards, tmp_path / "split", max_steps=cut, **extra))
    assert first["step"] == cut
    resumed = train(
        load_config("joint", None, {"resume": str(tmp_path / "split"), "max_steps": total, "progress": False})
    )  # the rest comes from RUN
    assert resumed["step"] == total and resumed["run"] == str(tmp_path / "split")
    a, b = _losses(tmp_path / "straight"), _losses(tmp_path / "split")
    assert sorted(b) == list(range(1, total + 1))  # the resumed run appended to the same CSV
    for step in range(1, total + 1):
        assert b[step] == pytest.approx(a[step], rel=1e-6, abs=1e-7), step
    assert ckpt_io.load(tmp_path / "split" / "checkpoints" / "last.pt")["epoch"] == 2


def _batches_per_epoch(shards, batch_size=2):
    return len(ShardDataset(shards, "train")) // batch_size


def test_matting_lr_split_and_multistep_decay(shards, tmp_path):
    per_epoch = _batches_per_epoch(shards)
    train(small_config("matting", shards, tmp_path, max_steps=per_epoch + 1, lr_milestones=[1]))
    rows = read_csv(tmp_path / "metrics.csv")
    lrs = [(float(r["lr_matting"]), float(r["lr_matting_encoder"])) for r in rows]
    assert lrs[per_epoch - 1] == (1e-2, 1e-4)  # logged after the step; decays x0.1 at epoch 1
    assert lrs[per_epoch] == pytest.approx((1e-3, 1e-5))
    assert all(math.isfinite(float(r["loss_matting"])) for r in rows)


def test_harmonization_mode_trains_only_the_unet(shards, tmp_path):
    summary = train(small_config("harmonization", shards, tmp_path, max_steps=2))
    saved = ckpt_io.load(tmp_path / "checkpoints" / "last.pt")
    assert set(saved["nets"]) == {"harmonization"} and summary["step"] == 2
    assert math.isfinite(summary["last_losses"]["loss_gh"])


def test_nan_guard_stops_and_keeps_the_last_good_checkpoint(shards, tmp_path, monkeypatch):
    real_step, calls = steps.joint_step, []

    def poisoned(*args, **kwargs):
        calls.append(1)
        out = real_step(*args, **kwargs)
        return {**out, "loss_gm": float("nan")} if len(calls) == 3 else out

    monkeypatch.setattr(steps, "joint_step", poisoned)
    with pytest.raises(TrainingError, match="non-finite loss loss_gm=nan at step 3") as info:
        train(small_config("joint", shards, tmp_path, max_steps=5, ckpt_every=2))
    assert "\n" not in str(info.value)
    assert ckpt_io.load(tmp_path / "checkpoints" / "last.pt")["step"] == 2


def test_best_checkpoint_follows_the_validation_loss(shards, tmp_path):
    train(small_config("joint", shards, tmp_path, max_steps=3, ckpt_every=1))
    val = read_csv(tmp_path / "val.csv")
    assert [int(r["step"]) for r in val] == [1, 2, 3]
    best = ckpt_io.load(tmp_path / "checkpoints" / "best.pt")
    assert best["best"] == pytest.approx(min(float(r["val_loss"]) for r in val), rel=1e-6)
    assert not [f for f in os.listdir(tmp_path / "checkpoints") if f.endswith(".tmp")]


@pytest.mark.parametrize("workers", ["0", "2"])
def test_sigterm_saves_and_exits_cleanly(shards, tmp_path, workers):
    run = tmp_path / "run"
    script = os.path.join(os.path.dirname(sys.executable), "hmh-train")
    proc = subprocess.Popen(
        [
            script,
            "joint",
            "--shards",
            str(shards),
            "--out",
            str(run),
            "--max-steps",
            "100000",
            *SMALL,
            "--workers",
            workers,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if (run / "metrics.csv").exists() and len((run / "metrics.csv").read_text().splitlines()) > 2:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "SIGTERM: saved step" in err and f"--resume {run}" in err
    saved = ckpt_io.load(run / "checkpoints" / "last.pt")
    assert saved["step"] >= 2 and "Traceback" not in err


def test_loaders_pin_memory_only_for_a_cuda_device(shards, tmp_path, monkeypatch):
    """--device cpu on a GPU machine must not pin (the pin thread would open a CUDA context)."""
    from hmh_train.train import engine
    from hmh_train.train.distributed import Runtime

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    cfg = small_config("matting", shards, tmp_path)
    loader, val_loader = engine._loaders(cfg, Runtime(torch.device("cpu")))
    assert loader.pin_memory is False and val_loader.pin_memory is False
    loader, _ = engine._loaders(cfg, Runtime(torch.device("cuda", 0)))
    assert loader.pin_memory is True
