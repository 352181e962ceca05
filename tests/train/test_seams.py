"""Where the published-models, benchmark, output-form and either-side work meet: a run's form
across --resume, sweep on every kind of shards and its refusals before any training, study make
on harmonization pairs, options a command form does not read."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from hmh_train.data.shards import ShardDataset
from hmh_train.infer.ops import harmonize_any_size
from hmh_train.train import checkpoint as C
from tests.standins import build_pair_shards, write_iharmony4
from tests.train.cli_helpers import invoke as _invoke
from tests.train.conftest import SMALL

from .tiny_ckpt import save_tiny_checkpoint

#: Sweep options for a tiny CPU point (the sweep has no --width etc.: they are config keys).
TINY = [
    "--set",
    "width=0.25",
    "--set",
    "num_downs=6",
    "--set",
    "batch_size=2",
    "--set",
    "workers=0",
    "--set",
    "val_batches=1",
    "--max-steps",
    "1",
    "--no-progress",
]


def _one_line_error(result) -> str:
    assert result.exit_code != 0 and "Traceback" not in result.output, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    """Harmonization-pair shards (64×64) of a tiny iHarmony4 stand-in, built by the real command."""
    return build_pair_shards(tmp_path_factory.mktemp("seam_pairs"))


@pytest.fixture(scope="module")
def residual_unet(shards, tmp_path_factory):
    """A one-step harmonization run in the default (residual) form on the HMH test build."""
    run = tmp_path_factory.mktemp("seam_runs") / "unet"
    result = _invoke("harmonization", "--shards", shards, "--out", run, "--max-steps", 1, *SMALL)
    assert result.exit_code == 0, result.output
    return run


# --- --resume keeps the reading of the network's output ----------------------------------------


def test_resume_refuses_a_form_that_reads_the_network_the_other_way(residual_unet, tmp_path):
    before = (residual_unet / "config.yaml").read_text()
    line = _one_line_error(
        _invoke(
            "harmonization",
            "--resume",
            residual_unet,
            "--max-steps",
            2,
            "--harmonizer-output",
            "paper",
            "--no-progress",
        )
    )
    assert "'residual'" in line and "'paper'" in line
    assert (residual_unet / "config.yaml").read_text() == before  # nothing rewritten
    assert C.load(residual_unet / "checkpoints" / "last.pt")["step"] == 1  # nothing trained


# --- sweep ----------------------------------------------------------------------------------------


def test_sweep_on_pair_shards_scores_fmse_over_the_stored_mask(pairs, tmp_path):
    out = tmp_path / "sweep"
    result = _invoke(
        "sweep",
        "--mode",
        "harmonization",
        "--grid",
        "harmonizer_output=residual",
        "--shards",
        pairs,
        "--out",
        out,
        *TINY,
    )
    assert result.exit_code == 0, result.output
    table = (out / "table.md").read_text()
    assert "H-fMSE (mask)" in table and "1 − α" not in table and "stored mask" in table
    rows = list(csv.DictReader((out / "table.csv").open()))
    point = json.loads((out / "points" / "harmonizer_output=residual" / "eval" / "summary.json").read_text())[
        "results"
    ]
    assert float(rows[0]["h_fmse"]) == pytest.approx(point["harmonizer_output=residual"]["all"]["fMSE"])
    assert float(rows[-1]["h_fmse"]) == pytest.approx(point["identity"]["all"]["fMSE"])
    state = json.loads((out / "sweep.json").read_text())
    assert state["altered"] is None and state["points"][0]["harmonizer_output"] == "residual"


def test_sweep_records_the_shards_side(shards, tmp_path):
    out = tmp_path / "sweep"
    result = _invoke(
        "sweep", "--mode", "matting", "--grid", "lambda1=0", "--shards", shards, "--out", out, *TINY
    )
    assert result.exit_code == 0, result.output
    state = json.loads((out / "sweep.json").read_text())
    assert state["altered"] == "background" and "harmonizer_output" not in state["points"][0]


def test_sweep_checks_every_points_side_before_any_training(shards, tmp_path):
    out = tmp_path / "sweep"
    line = _one_line_error(
        _invoke(
            "sweep",
            "--mode",
            "harmonization",
            "--grid",
            "altered=background,foreground",
            "--shards",
            shards,
            "--out",
            out,
            *TINY,
        )
    )
    assert "altered=foreground" in line and "alter the background" in line
    assert not (out / "points").exists()  # the first point did not train


def test_sweep_checks_every_points_form_against_its_start_before_any_training(
    shards, residual_unet, tmp_path
):
    out = tmp_path / "sweep"
    line = _one_line_error(
        _invoke(
            "sweep",
            "--mode",
            "harmonization",
            "--grid",
            "harmonizer_output=residual,paper",
            "--set",
            f"harmonization_ckpt={residual_unet}",
            "--shards",
            shards,
            "--out",
            out,
            *TINY,
        )
    )
    assert "'residual'" in line and "'paper'" in line
    assert not (out / "points").exists()


# --- study make on harmonization pairs ------------------------------------------------------------


def test_study_make_on_pair_shards_uses_the_stored_mask(pairs, tmp_path):
    run = save_tiny_checkpoint(tmp_path / "unet", ("harmonization",))
    out = tmp_path / "study"
    result = _invoke(
        "study",
        "make",
        "--ckpt",
        run,
        "--shards",
        pairs,
        "--n",
        2,
        "--out",
        out,
        "--include-real",
        "--no-progress",
    )
    assert result.exit_code == 0, result.output
    study = json.loads((out / "study.json").read_text())
    data = ShardDataset(pairs, "test")
    index = {str(data[i]["id"]): i for i in range(len(data))}
    nets, _ = C.load_nets(run)
    for item, entry in study["items"].items():
        sample = data[index[entry["sample"]]]
        picture = np.array(Image.open(out / "images" / f"{item}.png"))
        if entry["method"] == "unet":
            with torch.no_grad():
                want = harmonize_any_size(
                    nets.harmonization,
                    sample["I_d"][None].float() / 255,
                    sample["M"][None].float() / 255,
                    output="paper",
                )
            want = (want[0] * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        else:
            want = sample["I_d" if entry["method"] == "I_d" else "I"].permute(1, 2, 0).numpy()
        np.testing.assert_array_equal(picture, want)


# --- options a form of eval does not read ----------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ("--benchmark", "iharmony4", "--allow-other-side"),
            "--allow-other-side does not apply to --benchmark iharmony4",
        ),
        (
            ("--benchmark", "composition-1k", "--harmonizer-output", "keep"),
            "--harmonizer-output does not apply to --benchmark composition-1k",
        ),
    ],
)
def test_benchmark_options_that_do_not_apply_are_refused(tmp_path, args, message):
    result = _invoke("eval", "--ckpt", tmp_path, "--src", tmp_path, *args)
    assert result.exit_code == 2 and message in result.output, result.output


def test_benchmark_prints_the_form_of_each_harmonizer(tmp_path):
    root = tmp_path / "IHD"
    write_iharmony4(root, images=2, composites=1)
    run = save_tiny_checkpoint(tmp_path / "unet", ("harmonization",))
    result = _invoke(
        "eval",
        "--benchmark",
        "iharmony4",
        "--src",
        root,
        "--ckpt",
        run,
        "--out",
        tmp_path / "out",
        "--no-progress",
    )
    assert result.exit_code == 0, result.output
    assert "unet: harmonizer output paper" in result.output


def test_config_yaml_of_a_pair_run_says_no_side(pairs, tmp_path):
    run = tmp_path / "run"
    result = _invoke("harmonization", "--shards", pairs, "--out", run, "--max-steps", 1, *SMALL)
    assert result.exit_code == 0, result.output
    assert yaml.safe_load((run / "config.yaml").read_text())["altered"] is None


def test_sweep_checks_every_points_depth_against_the_images_before_any_training(shards, tmp_path):
    out = tmp_path / "sweep"
    line = _one_line_error(
        _invoke(
            "sweep",
            "--mode",
            "harmonization",
            "--grid",
            "num_downs=5,7",
            "--shards",
            shards,
            "--out",
            out,
            *TINY,
        )
    )
    assert "multiples of 128" in line and not (out / "points").exists()
