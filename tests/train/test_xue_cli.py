"""Xue et al. 2012 (zero-offset mode) through the command line: ``harmonize --method xue``
(single and batch), ``eval --compare xue`` on HMH and on iHarmony4 pair shards, ``study make
--method xue``, ``composite --harmonizer xue``; bad input gets one line."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.standins import build_pair_shards

from .cli_helpers import invoke, one_line_error

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "xue"
COMP, MASK = FIXTURES / "astronaut_composite.png", FIXTURES / "astronaut_mask.png"


def _agreement(ours: Path, official: Path) -> float:
    diff = np.abs(np.array(Image.open(ours)).astype(int) - np.array(Image.open(official)).astype(int))
    return float((diff <= 1).mean())


def test_harmonize_method_single_and_batch(tmp_path):
    result = invoke(
        "harmonize", "--method", "xue", "--image", COMP, "--mask", MASK, "--out", tmp_path / "h.png"
    )
    assert result.exit_code == 0, result.output
    assert "zero-offset mode" in result.output and "wrote the harmonized image" in result.output
    assert _agreement(tmp_path / "h.png", FIXTURES / "astronaut_octave.png") >= 0.99
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir(), masks.mkdir()
    for name in ("astronaut", "chelsea"):
        shutil.copy(FIXTURES / f"{name}_composite.png", images / f"{name}.png")
        shutil.copy(FIXTURES / f"{name}_mask.png", masks / f"{name}.png")
    shutil.copy(COMP, images / "empty.png")
    Image.fromarray(np.zeros((256, 256), np.uint8)).save(masks / "empty.png")
    result = invoke(
        "harmonize", "--method", "xue", "--images", images, "--masks", masks, "--out", tmp_path / "out",
        "--no-progress",
    )  # fmt: skip
    assert result.exit_code == 3, result.output  # one input failed, the others were written
    assert "wrote 2 harmonized images" in result.output
    assert (tmp_path / "out" / "astronaut.png").read_bytes() == (tmp_path / "h.png").read_bytes()
    assert _agreement(tmp_path / "out" / "chelsea.png", FIXTURES / "chelsea_octave.png") >= 0.99
    with open(tmp_path / "out" / "failures.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["image"] for r in rows] == ["empty"] and "no foreground" in rows[0]["reason"]


def test_python_api_loads_xue_by_name():
    import hmh_train as hmh
    from hmh_train.infer.files import CompositeError

    model = hmh.load("xue")
    composite, mask = np.array(Image.open(COMP)), np.array(Image.open(MASK))
    official = np.array(Image.open(FIXTURES / "astronaut_octave.png"))
    assert np.array_equal(model.harmonize(composite, mask), official)
    assert "zero-offset mode" in model.loaded[0]
    with pytest.raises(CompositeError, match="no foreground"):
        model.harmonize(composite, np.zeros_like(mask))
    batch = model.harmonize_batch(composite[None], mask=mask[None])
    assert np.array_equal(batch[0], official)
    with pytest.raises(CompositeError, match="xue: the mask has no foreground"):
        model.harmonize_batch(composite[None], mask=np.zeros_like(mask)[None])


def test_harmonize_method_bad_input_in_one_line(tmp_path):
    out = tmp_path / "h.png"
    result = invoke("harmonize", "--method", "nosuch", "--image", COMP, "--mask", MASK, "--out", out)
    assert result.exit_code == 2
    assert one_line_error(result) == "Error: --method: unknown method 'nosuch'; known methods: identity, xue"
    Image.open(MASK).resize((100, 80)).save(tmp_path / "small.png")
    line = one_line_error(
        invoke(
            "harmonize", "--method", "xue", "--image", COMP, "--mask", tmp_path / "small.png", "--out", out
        )
    )
    assert "small.png" in line and "100×80" in line
    Image.fromarray(np.zeros((256, 256), np.uint8)).save(tmp_path / "empty.png")
    line = one_line_error(
        invoke(
            "harmonize", "--method", "xue", "--image", COMP, "--mask", tmp_path / "empty.png", "--out", out
        )
    )
    assert "empty.png" in line and "no foreground" in line
    Image.fromarray(np.full((256, 256), 255, np.uint8)).save(tmp_path / "full.png")
    line = one_line_error(
        invoke("harmonize", "--method", "xue", "--image", COMP, "--mask", tmp_path / "full.png", "--out", out)
    )
    assert "full.png" in line and "background region" in line
    assert not out.exists()


def test_eval_compare_xue_on_hmh_and_pair_shards(shards, tmp_path):
    result = invoke(
        "eval",
        "--ckpt",
        "xue",
        "--shards",
        shards,
        "--out",
        tmp_path / "hmh",
        "--limit",
        "2",
        "--no-progress",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "hmh" / "summary.json").read_text())
    assert "xue" in json.dumps(summary) and "| xue" in result.output
    pairs = build_pair_shards(tmp_path / "pairs")
    result = invoke("eval", "--ckpt", "xue", "--shards", pairs, "--out", tmp_path / "ihd", "--no-progress")
    assert result.exit_code == 0, result.output
    with open(tmp_path / "ihd" / "table.csv") as handle:
        rows = list(csv.DictReader(handle))
    runs = {(r["run"], r["subset"]): float(r["MSE"]) for r in rows}
    assert ("xue", "all") in runs and ("identity", "all") in runs
    assert runs[("xue", "all")] != runs[("identity", "all")]  # it changed the composites
    line = one_line_error(invoke("eval", "--ckpt", "nosuch", "--shards", pairs, "--out", tmp_path / "x"))
    assert "nosuch" in line and "known methods: identity, xue" in line


def test_eval_benchmark_iharmony4_takes_xue(tmp_path):
    from tests.standins import write_iharmony4

    write_iharmony4(tmp_path / "IHD", images=2, composites=1)
    args = ("eval", "--benchmark", "iharmony4", "--src", tmp_path / "IHD", "--ckpt", "xue", "--no-progress")
    result = invoke(*args, "--out", tmp_path / "b")
    assert result.exit_code == 0, result.output
    assert "| xue | all |" in result.output and "zero-offset mode" in result.output
    line = one_line_error(invoke(*args, "--protocol", "dovenet", "--out", tmp_path / "c"))
    assert "--protocol standard" in line


def test_study_make_and_composite_take_xue(tmp_path):
    pairs = build_pair_shards(tmp_path / "pairs")
    result = invoke(
        "study", "make", "--method", "xue", "--shards", pairs, "--n", "2", "--out", tmp_path / "s"
    )
    assert result.exit_code == 0, result.output
    study = json.loads((tmp_path / "s" / "study.json").read_text())
    assert "xue" in study["methods"] and study["method_sources"]["xue"].startswith("method: xue")
    line = one_line_error(
        invoke("study", "make", "--method", "nosuch", "--shards", pairs, "--out", tmp_path / "t")
    )
    assert "known methods: identity, xue" in line
    result = invoke(
        "composite", "--harmonizer", "xue", "--image", FIXTURES / "beach_composite.png",
        "--alpha", FIXTURES / "beach_mask.png", "--background", FIXTURES / "chelsea_composite.png",
        "--harmonize", "foreground", "--out", tmp_path / "c.png", "--figure", tmp_path / "f.png",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "wrote the harmonized composite (the foreground adjusted)" in result.output
    assert np.array(Image.open(tmp_path / "c.png")).shape == (256, 256, 3)
    assert "--harmonizer" in one_line_error(
        invoke("composite", "--harmonizer", "nosuch", "--image", COMP, "--alpha", MASK, "--background", COMP,
               "--out", tmp_path / "d.png")
    )  # fmt: skip
