"""The harmonizer's output form through the commands: recorded by training in config.yaml and
the checkpoint, used by eval / harmonize / composite / study make unless overridden, refused
with one line when a network would be read the other way, and kept for old runs."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import yaml
from PIL import Image

from hmh_train.train import checkpoint as C
from hmh_train.train.config import load_config, load_saved_config, resume_config, save_config
from tests.train.cli_helpers import invoke as _invoke
from tests.train.cli_helpers import one_line_error as _one_line_error
from tests.train.conftest import SMALL

from .tiny_ckpt import save_tiny_checkpoint


@pytest.fixture(scope="module")
def residual_run(shards, tmp_path_factory):
    """A 2-step harmonization run with the default output form."""
    run = tmp_path_factory.mktemp("forms") / "unet"
    result = _invoke("harmonization", "--shards", shards, "--out", run, "--max-steps", 2, *SMALL)
    assert result.exit_code == 0, result.output
    return run


def test_training_records_the_form_in_config_and_checkpoint(residual_run):
    assert load_config("harmonization").harmonizer_output == "residual"  # the default
    assert yaml.safe_load((residual_run / "config.yaml").read_text())["harmonizer_output"] == "residual"
    assert C.load(residual_run / "checkpoints" / "last.pt")["config"]["harmonizer_output"] == "residual"
    nets, _ = C.load_nets(residual_run)
    assert nets.harmonizer_output == "residual"
    nets, _ = C.load_nets(save_tiny_checkpoint(residual_run.parent / "old"))  # no key: paper
    assert nets.harmonizer_output == "paper"


def test_eval_uses_the_runs_form_and_refuses_the_other_reading(residual_run, shards, tmp_path):
    result = _invoke(
        "eval", "--ckpt", residual_run, "--shards", shards, "--out", tmp_path / "e", "--no-progress"
    )
    assert result.exit_code == 0, result.output
    assert "unet: harmonizer output residual" in result.output
    summary = json.loads((tmp_path / "e" / "summary.json").read_text())
    assert summary["settings"]["harmonizer_outputs"] == {"unet": "residual"}
    # I_h keeps the person exactly: where alpha = 255 the harmonized image is I_d
    error = _one_line_error(
        _invoke(
            "eval",
            "--ckpt",
            residual_run,
            "--shards",
            shards,
            "--harmonizer-output",
            "keep",
            "--out",
            tmp_path / "k",
        )
    )
    assert "trained with output 'residual'" in error and "cannot run as 'keep'" in error


def test_harmonize_and_composite_keep_the_unaltered_pixels(residual_run, tmp_path):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[:, 40:] = 255
    mask[:, 36:40] = 100
    Image.fromarray(image).save(tmp_path / "comp.png")
    Image.fromarray(mask).save(tmp_path / "mask.png")
    result = _invoke(
        "harmonize",
        "--ckpt",
        residual_run,
        "--image",
        tmp_path / "comp.png",
        "--mask",
        tmp_path / "mask.png",
        "--size",
        64,
        "--out",
        tmp_path / "h.png",
    )
    assert result.exit_code == 0, result.output
    assert "harmonizer output: residual" in result.output
    out = np.array(Image.open(tmp_path / "h.png"))
    np.testing.assert_array_equal(out[mask == 0], image[mask == 0])
    assert (out[mask == 255] != image[mask == 255]).any()
    error = _one_line_error(
        _invoke(
            "harmonize",
            "--ckpt",
            residual_run,
            "--image",
            tmp_path / "comp.png",
            "--mask",
            tmp_path / "mask.png",
            "--harmonizer-output",
            "paper",
            "--out",
            tmp_path / "p.png",
        )
    )
    assert "cannot run as 'paper'" in error
    # composite with a given alpha: the person (alpha 255) is the portrait exactly
    alpha = 255 - mask
    background = rng.integers(0, 256, (80, 90, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "alpha.png"), alpha)
    Image.fromarray(background).save(tmp_path / "bg.png")
    result = _invoke(
        "composite",
        "--ckpt",
        residual_run,
        "--image",
        tmp_path / "comp.png",
        "--alpha",
        tmp_path / "alpha.png",
        "--background",
        tmp_path / "bg.png",
        "--harmonize-size",
        64,
        "--out",
        tmp_path / "c.png",
    )
    assert result.exit_code == 0, result.output
    assert "harmonizer output: residual" in result.output
    out = np.array(Image.open(tmp_path / "c.png"))
    np.testing.assert_array_equal(out[alpha == 255], image[alpha == 255])


def test_image_trained_files_run_as_paper_or_keep(tmp_path):
    old = save_tiny_checkpoint(tmp_path / "old", names=("harmonization",))  # records no form
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    mask = np.zeros((32, 32), np.uint8)
    mask[:, 16:] = 255
    Image.fromarray(image).save(tmp_path / "comp.png")
    Image.fromarray(mask).save(tmp_path / "mask.png")
    outs = {}
    for form in ("paper", "keep"):
        result = _invoke(
            "harmonize",
            "--ckpt",
            old,
            "--image",
            tmp_path / "comp.png",
            "--mask",
            tmp_path / "mask.png",
            "--size",
            32,
            "--out",
            tmp_path / f"{form}.png",
            *(["--harmonizer-output", form] if form == "keep" else []),
        )
        assert result.exit_code == 0, result.output
        assert f"harmonizer output: {form}" in result.output
        outs[form] = np.array(Image.open(tmp_path / f"{form}.png"))
    np.testing.assert_array_equal(outs["keep"][mask == 0], image[mask == 0])
    assert (outs["paper"][mask == 0] != image[mask == 0]).any()
    np.testing.assert_array_equal(outs["keep"][mask == 255], outs["paper"][mask == 255])


def test_training_from_a_run_of_the_other_reading_is_one_line(residual_run, shards, tmp_path):
    error = _one_line_error(
        _invoke(
            "joint",
            "--shards",
            shards,
            "--out",
            tmp_path / "j",
            "--harmonization-ckpt",
            residual_run,
            "--harmonizer-output",
            "keep",
            "--max-steps",
            1,
            *SMALL,
        )
    )
    assert "cannot run as 'keep'" in error and "pass --harmonizer-output to match" in error


def test_study_make_renders_and_records_the_form(residual_run, shards, tmp_path):
    result = _invoke(
        "study",
        "make",
        "--ckpt",
        residual_run,
        "--shards",
        shards,
        "--n",
        2,
        "--out",
        tmp_path / "study",
        "--no-progress",
    )
    assert result.exit_code == 0, result.output
    study = json.loads((tmp_path / "study" / "study.json").read_text())
    assert study["method_sources"]["unet"].endswith("(harmonizer output residual)")


def test_runs_saved_before_the_key_resume_with_the_paper_form(tmp_path):
    save_config(load_config("harmonization", None, {"seed": 2}), tmp_path / "config.yaml")
    recorded = yaml.safe_load((tmp_path / "config.yaml").read_text())
    del recorded["harmonizer_output"]  # an older run's config
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(recorded))
    assert load_saved_config("harmonization", tmp_path / "config.yaml").harmonizer_output == "paper"
    cfg = resume_config(load_config("harmonization", None, {"resume": str(tmp_path)}))
    assert (cfg.harmonizer_output, cfg.seed) == ("paper", 2)
    cfg = resume_config(
        load_config("harmonization", None, {"resume": str(tmp_path), "harmonizer_output": "keep"}),
        explicit={"harmonizer_output"},
    )
    assert cfg.harmonizer_output == "keep"


def test_train_help_names_the_forms():
    result = _invoke("harmonization", "--help")
    assert "--harmonizer-output [paper|keep|residual]" in result.output
    assert "[default: residual]" in result.output
