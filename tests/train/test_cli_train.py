"""``hmh-train matting | harmonization | joint`` through click, end to end, and bad input."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from hmh_train.train import checkpoint as ckpt_io
from hmh_train.train.logs import read_csv
from tests.train.cli_helpers import invoke as _invoke
from tests.train.cli_helpers import one_line_error as _one_line_error
from tests.train.conftest import SMALL


def test_joint_end_to_end(shards, tmp_path):
    run = tmp_path / "run"
    result = _invoke(
        "joint",
        "--shards",
        shards,
        "--max-steps",
        3,
        "--out",
        run,
        "--image-every",
        2,
        "--set",
        "lambda1=0.05",
        *SMALL,
    )
    assert result.exit_code == 0, result.output
    assert "joint: 3 steps" in result.output
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert (config["max_steps"], config["lambda1"], config["gan_loss"], config["width"]) == (
        3,
        0.05,
        "hinge",
        0.25,
    )
    rows = read_csv(run / "metrics.csv")
    assert [int(r["step"]) for r in rows] == [1, 2, 3]
    for key in ("loss_gm", "loss_gh", "loss_d", "adv_gm", "adv_gh", "total"):
        assert all(math.isfinite(float(r[key])) for r in rows), key
    assert (run / "checkpoints" / "last.pt").exists() and (run / "checkpoints" / "best.pt").exists()
    # the paper's joint stage: U-Net and D at 2e-4 (betas 0.5, 0.999), IndexNet's fine-tuning lrs
    lrs = {
        k: float(rows[-1][k])
        for k in ("lr_matting", "lr_matting_encoder", "lr_harmonization", "lr_discriminator")
    }
    assert lrs == {
        "lr_matting": 1e-2,
        "lr_matting_encoder": 1e-4,
        "lr_harmonization": 2e-4,
        "lr_discriminator": 2e-4,
    }
    optims = ckpt_io.load(run / "checkpoints" / "last.pt")["optimizers"]
    assert [
        tuple(g["betas"])
        for g in optims["discriminator"]["param_groups"] + optims["harmonization"]["param_groups"]
    ] == [(0.5, 0.999)] * 2
    assert (config["lambda2"], config["lambda1"]) == (0.01, 0.05)  # lambda1 set above
    events = EventAccumulator(str(run / "tb"), size_guidance={"images": 0})
    events.Reload()
    assert events.Tags()["images"] == ["samples/I|trimap|A_r|I_c|I_d|I_h"]
    assert "train/loss_gm" in events.Tags()["scalars"]
    trained = ckpt_io.load(run / "checkpoints" / "last.pt")["nets"]
    torch.manual_seed(0)  # the engine seeds with cfg.seed (0) before building the networks
    fresh = ckpt_io.build_nets(ckpt_io.NET_NAMES, 0.25, 6)
    for name in ckpt_io.NET_NAMES:
        before = getattr(fresh, name).state_dict()
        moved = [
            k for k, v in trained[name].items() if v.dtype.is_floating_point and not torch.equal(v, before[k])
        ]
        assert moved, f"{name} parameters did not move"


def test_help_documents_options_with_defaults():
    result = _invoke("joint", "--help")
    assert result.exit_code == 0
    for text in (
        "--gan-loss",
        "[default: hinge]",
        "--resume",
        "--set KEY=VALUE",
        "--online-adjust",
        "--matting-ckpt",
        "--ckpt-every",
    ):
        assert text in result.output
    assert "--gan-loss" not in _invoke("matting", "--help").output
    assert "options given with --resume" in " ".join(result.output.split())


def test_missing_shards_folder(tmp_path):
    line = _one_line_error(_invoke("joint", "--shards", tmp_path / "nope", "--out", tmp_path / "r", *SMALL))
    assert "nope: no such shards folder" in line


def test_wrong_format_version(shards, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(shards, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["format_version"] = 2
    (copy / "manifest.json").write_text(json.dumps(manifest))
    line = _one_line_error(_invoke("matting", "--shards", copy, "--out", tmp_path / "r", *SMALL))
    assert "format_version 2 is not supported" in line


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--set", "no_such_key=1"], "unknown config key 'no_such_key'"),
        (["--set", "lr_gamma=lots"], "lr_gamma must be float"),
    ],
)
def test_bad_config_keys(shards, tmp_path, extra, message):
    line = _one_line_error(
        _invoke("harmonization", "--shards", shards, "--out", tmp_path, "--max-steps", 1, *SMALL, *extra)
    )
    assert message in line


def test_unknown_key_in_config_file(shards, tmp_path):
    (tmp_path / "c.yaml").write_text("lamda1: 0.1\n")
    line = _one_line_error(_invoke("joint", "--shards", shards, "--config", tmp_path / "c.yaml", *SMALL))
    assert "c.yaml: unknown config key 'lamda1'" in line


def test_resume_of_a_folder_that_is_no_run(tmp_path):
    line = _one_line_error(_invoke("joint", "--resume", tmp_path, *SMALL))
    assert "not a run folder" in line


def test_shards_or_resume_is_required():
    result = _invoke("joint")
    assert result.exit_code == 2 and "--shards is required" in result.output


def test_joint_starts_from_single_task_checkpoints(shards, tmp_path):
    for mode in ("matting", "harmonization"):
        result = _invoke(mode, "--shards", shards, "--out", tmp_path / mode, "--max-steps", 1, *SMALL)
        assert result.exit_code == 0, result.output
    result = _invoke(
        "joint",
        "--shards",
        shards,
        "--out",
        tmp_path / "joint",
        "--max-steps",
        0,
        "--matting-ckpt",
        tmp_path / "matting",
        "--harmonization-ckpt",
        tmp_path / "harmonization" / "checkpoints" / "last.pt",
        *SMALL,
    )
    assert result.exit_code == 0, result.output
    joint = ckpt_io.load(tmp_path / "joint" / "checkpoints" / "last.pt")["nets"]
    for mode in ("matting", "harmonization"):
        single = ckpt_io.load(tmp_path / mode / "checkpoints" / "last.pt")["nets"][mode]
        assert all(torch.equal(joint[mode][k], v) for k, v in single.items()), mode
    # a loaded network keeps the architecture of its file; --width applies to the fresh ones
    result = _invoke(
        "joint",
        "--shards",
        shards,
        "--out",
        tmp_path / "wide",
        "--max-steps",
        0,
        "--matting-ckpt",
        tmp_path / "matting",
        *SMALL,
        "--width",
        0.5,
    )
    assert result.exit_code == 0, result.output
    arch = ckpt_io.load(tmp_path / "wide" / "checkpoints" / "last.pt")["net_arch"]
    assert arch["matting"]["width"] == 0.25 and arch["harmonization"]["width"] == 0.5
    # the U-Net's depth must fit the shards and the critic, so it has to match --num-downs
    line = _one_line_error(
        _invoke(
            "joint",
            "--shards",
            shards,
            "--out",
            tmp_path / "bad",
            "--max-steps",
            0,
            "--harmonization-ckpt",
            tmp_path / "harmonization",
            *SMALL,
            "--num-downs",
            5,
        )
    )
    assert "its U-Net has num_downs 6; pass --num-downs 6" in line


def test_unavailable_device_is_one_line(shards, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    line = _one_line_error(
        _invoke(
            "harmonization",
            "--shards",
            shards,
            "--out",
            tmp_path,
            "--device",
            "cuda",
            "--max-steps",
            1,
            *SMALL,
        )
    )
    assert "--device cuda: CUDA is not available" in line


def test_corrupt_test_shard_is_an_error_not_a_silently_skipped_validation(shards, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(shards, copy)
    broken = sorted((copy / "test").glob("test-*.h5"))[0]
    broken.write_bytes(broken.read_bytes()[:3000])
    line = _one_line_error(
        _invoke("harmonization", "--shards", copy, "--out", tmp_path / "r", "--max-steps", 1, *SMALL)
    )
    assert f"{broken}: not a readable HDF5 file" in line


def test_corrupt_checkpoints_are_one_line(shards, tmp_path):
    result = _invoke("matting", "--shards", shards, "--out", tmp_path / "m", "--max-steps", 1, *SMALL)
    assert result.exit_code == 0, result.output
    last = tmp_path / "m" / "checkpoints" / "last.pt"
    bad = tmp_path / "bad.pt"
    bad.write_bytes(last.read_bytes()[:1000])
    line = _one_line_error(
        _invoke(
            "joint",
            "--shards",
            shards,
            "--out",
            tmp_path / "j",
            "--matting-ckpt",
            bad,
            "--max-steps",
            1,
            *SMALL,
        )
    )
    assert "bad.pt: not a PyTorch checkpoint (a truncated or damaged zip file" in line
    last.write_bytes(bad.read_bytes())
    line = _one_line_error(_invoke("matting", "--resume", tmp_path / "m", "--max-steps", 2))
    assert "last.pt: not a PyTorch checkpoint (" in line


def test_misspelt_device_is_one_line(shards, tmp_path):
    line = _one_line_error(
        _invoke(
            "harmonization",
            "--shards",
            shards,
            "--out",
            tmp_path,
            "--device",
            "gpu",
            "--max-steps",
            1,
            *SMALL,
        )
    )
    assert "--device gpu: not a device" in line


def test_image_size_that_does_not_fit_the_unet_is_caught_before_the_run_folder(shards, tmp_path):
    line = _one_line_error(
        _invoke(
            "joint", "--shards", shards, "--out", tmp_path / "r", "--max-steps", 1, *SMALL, "--num-downs", 7
        )
    )
    assert "64×64" in line and "--num-downs 6 or less" in line
    assert not (tmp_path / "r").exists()


def test_resume_options_equal_to_the_defaults_still_override_the_run(shards, tmp_path):
    run = tmp_path / "r"
    result = _invoke(
        "harmonization",
        "--shards",
        shards,
        "--out",
        run,
        "--max-steps",
        1,
        *SMALL,
        "--seed",
        5,
        "--lr-harmonization",
        1e-3,
    )
    assert result.exit_code == 0, result.output
    result = _invoke(
        "harmonization", "--resume", run, "--max-steps", 2, "--seed", 0, "--set", "lr_harmonization=2e-4"
    )  # both the packaged defaults
    assert result.exit_code == 0, result.output
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert (config["seed"], config["lr_harmonization"], config["max_steps"]) == (0, 2e-4, 2)
    assert (config["batch_size"], config["width"]) == (2, 0.25)  # not given: from the run


def test_backbone_weights_reach_the_checkpoint_and_are_reported(shards, tmp_path):
    from tests.train.test_backbone import fake_state, torchvision_shapes

    state = fake_state(torchvision_shapes())
    torch.save(state, tmp_path / "mobilenet_v2.pth")
    args = [a for a in SMALL if a not in ("--width", "0.25")]  # ImageNet weights need width 1.0
    result = _invoke(
        "matting",
        "--shards",
        shards,
        "--out",
        tmp_path / "m",
        "--max-steps",
        0,
        "--backbone-weights",
        tmp_path / "mobilenet_v2.pth",
        *args,
    )
    assert result.exit_code == 0, result.output
    assert "backbone (torchvision): 306 tensors loaded, 0 missing" in result.output
    stem = ckpt_io.load(tmp_path / "m" / "checkpoints" / "last.pt")["nets"]["matting"]["layer0.0.weight"]
    assert torch.equal(stem[:, :3], state["features.0.0.weight"]) and not stem[:, 3].any()
    line = _one_line_error(
        _invoke(
            "matting",
            "--shards",
            shards,
            "--out",
            tmp_path / "w",
            "--backbone-weights",
            tmp_path / "mobilenet_v2.pth",
            *SMALL,
        )
    )
    assert "shape mismatch" in line and "width 1.0" in line
