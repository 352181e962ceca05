"""``--harmonizer dih`` through the commands: trained on HMH and on iHarmony4 pair shards and in
the joint model, recorded in the checkpoint, and rebuilt by every command that takes a
harmonizer (eval, harmonize, composite, study make)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import yaml
from PIL import Image

from hmh_train.nets.dih import DIH
from hmh_train.train import checkpoint as C
from tests.standins import build_pair_shards
from tests.train.cli_helpers import invoke
from tests.train.conftest import SMALL


@pytest.fixture(scope="module")
def dih_run(shards, tmp_path_factory):
    """A 2-step DIH harmonization run on the 64×64 HMH shards (default output form: residual)."""
    run = tmp_path_factory.mktemp("dih") / "dih"
    result = invoke(
        "harmonization", "--shards", shards, "--harmonizer", "dih", "--out", run, "--max-steps", 2, *SMALL
    )
    assert result.exit_code == 0, result.output
    return run


def test_the_run_records_dih_and_load_nets_rebuilds_it(dih_run):
    assert yaml.safe_load((dih_run / "config.yaml").read_text())["harmonizer"] == "dih"
    ckpt = C.load(dih_run / "checkpoints" / "last.pt")
    assert ckpt["net_arch"]["harmonization"] == {"net": "dih", "width": 0.25, "size": 64}
    nets, _ = C.load_nets(dih_run)
    assert isinstance(nets.harmonization, DIH) and nets.harmonization.input_size == 64
    state = ckpt["nets"]["harmonization"]
    assert all(torch_equal(v, state[k]) for k, v in nets.harmonization.state_dict().items())


def torch_equal(a, b) -> bool:
    import torch

    return torch.equal(a, b)


def test_eval_harmonize_composite_and_study_take_a_dih_run(dih_run, shards, tmp_path):
    result = invoke("eval", "--ckpt", dih_run, "--shards", shards, "--out", tmp_path / "e", "--no-progress")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "e" / "summary.json").read_text())
    assert summary["runs"]["dih"]["harm_mse"] >= 0
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (72, 88, 3), dtype=np.uint8)
    mask = np.zeros((72, 88), np.uint8)
    mask[:, 50:] = 255
    Image.fromarray(image).save(tmp_path / "comp.png")
    Image.fromarray(mask).save(tmp_path / "mask.png")
    result = invoke(
        "harmonize", "--ckpt", dih_run, "--image", tmp_path / "comp.png", "--mask", tmp_path / "mask.png",
        "--out", tmp_path / "h.png",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = np.array(Image.open(tmp_path / "h.png"))
    assert out.shape == image.shape
    np.testing.assert_array_equal(out[mask == 0], image[mask == 0])  # residual form keeps the rest
    alpha = 255 - mask
    cv2.imwrite(str(tmp_path / "alpha.png"), alpha)
    Image.fromarray(rng.integers(0, 256, (80, 90, 3), dtype=np.uint8)).save(tmp_path / "bg.png")
    result = invoke(
        "composite", "--ckpt", dih_run, "--image", tmp_path / "comp.png", "--alpha", tmp_path / "alpha.png",
        "--background", tmp_path / "bg.png", "--out", tmp_path / "c.png",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.array(Image.open(tmp_path / "c.png"))[alpha == 255], image[alpha == 255])
    result = invoke(
        "study",
        "make",
        "--ckpt",
        dih_run,
        "--shards",
        shards,
        "--n",
        2,
        "--out",
        tmp_path / "s",
        "--no-progress",
    )
    assert result.exit_code == 0, result.output
    assert "dih" in json.loads((tmp_path / "s" / "study.json").read_text())["method_sources"]


def test_dih_trains_on_pair_shards_and_in_the_joint_model(shards, tmp_path):
    pairs = build_pair_shards(tmp_path / "ihd", "--shard-size", 3)
    run = tmp_path / "dih_pairs"
    result = invoke(
        "harmonization", "--shards", pairs, "--harmonizer", "dih", "--harmonizer-output", "paper",
        "--out", run, "--max-steps", 1, *SMALL,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    for form in ("paper", "keep"):  # an image-form run reads as either image form
        out = tmp_path / f"pe-{form}"
        result = invoke(
            "eval",
            "--ckpt",
            run,
            "--shards",
            pairs,
            "--harmonizer-output",
            form,
            "--out",
            out,
            "--no-progress",
        )
        assert result.exit_code == 0, result.output
        assert "dih_pairs" in json.loads((out / "summary.json").read_text())["results"]
    result = invoke(
        "eval", "--benchmark", "iharmony4", "--src", tmp_path / "ihd" / "IHD", "--ckpt", run,
        "--out", tmp_path / "bench", "--no-progress",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "dih_pairs" in (tmp_path / "bench" / "table.md").read_text()
    result = invoke("table1", "--eval", tmp_path / "pe-paper", "--out", tmp_path / "t1.md")
    assert result.exit_code == 1 and "harmonization-pair shards (no matting figures)" in result.output
    joint = tmp_path / "joint"
    result = invoke(
        "joint", "--shards", shards, "--harmonizer", "dih", "--out", joint, "--max-steps", 1, *SMALL
    )
    assert result.exit_code == 0, result.output
    nets, _ = C.load_nets(joint)
    assert isinstance(nets.harmonization, DIH) and nets.matting is not None


def test_dih_refuses_shards_of_an_unfit_size_in_one_line(shards):
    from hmh_train.train.config import ConfigError, check_image_size, load_config

    cfg = load_config("harmonization", None, {"shards": str(shards), "harmonizer": "dih"})
    check_image_size(cfg, (64, 64))
    for size in ((96, 96), (64, 128)):
        with pytest.raises(ConfigError, match="square images whose side is a multiple of 64"):
            check_image_size(cfg, size)
    result = invoke("harmonization", "--shards", shards, "--harmonizer", "gan", *SMALL)
    assert result.exit_code == 2 and "'dih'" in result.output and "Traceback" not in result.output
