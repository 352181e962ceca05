"""hmh-train sweep: a 2-point λ1 grid with 1 step each, one table, resumable reruns."""

from __future__ import annotations

import csv
import json
import os

import pytest
import torch
from click.testing import CliRunner

from hmh_train.cli import main
from hmh_train.evaluate.sweep import SweepConfig, grid_points, parse_grid, point_name, sweep
from hmh_train.train.config import ConfigError

TINY = [
    "--set",
    "width=0.25",
    "--set",
    "num_downs=5",
    "--set",
    "batch_size=2",
    "--set",
    "workers=0",
    "--set",
    "val_batches=0",
    "--set",
    "progress=false",
]


def test_parse_grid_and_cartesian_points():
    grid = parse_grid(["lambda1=0.01,0.02", "gan-loss=hinge,paper"])
    assert grid == (("lambda1", ("0.01", "0.02")), ("gan_loss", ("hinge", "paper")))
    points = grid_points(grid)
    assert points == [
        {"lambda1": "0.01", "gan_loss": "hinge"},
        {"lambda1": "0.01", "gan_loss": "paper"},
        {"lambda1": "0.02", "gan_loss": "hinge"},
        {"lambda1": "0.02", "gan_loss": "paper"},
    ]
    assert point_name(points[1]) == "lambda1=0.01_gan_loss=paper"
    for bad in (["lambda1"], ["lambda1=0.1,"], ["a=1", "a=2"], []):
        with pytest.raises(ValueError):
            parse_grid(bad)


def test_unknown_key_fails_before_any_training(shards, tmp_path):
    cfg = SweepConfig(
        grid=parse_grid(["lamda1=0.1,0.2"]),
        shards=str(shards),
        out=str(tmp_path / "s"),
        mode="joint",
        max_steps=1,
    )
    with pytest.raises(ConfigError, match="lamda1"):
        sweep(cfg)
    assert not (tmp_path / "s").exists()


def _invoke(shards, out):
    return CliRunner().invoke(
        main,
        [
            "sweep",
            "--grid",
            "lambda1=0.01,0.02",
            "--shards",
            str(shards),
            "--out",
            str(out),
            "--mode",
            "joint",
            "--max-steps",
            "1",
            "--eval-limit",
            "1",
            "--no-progress",
            *TINY,
        ],
    )


def test_two_point_sweep_table_and_resume(shards, tmp_path):
    out = tmp_path / "sweep"
    first = _invoke(shards, out)
    assert first.exit_code == 0, first.output
    assert "2 points (2 trained)" in first.output
    rows = list(csv.DictReader(open(out / "table.csv")))
    assert [r["run"] for r in rows[::2]][:2] == ["lambda1=0.01", "lambda1=0.02"]
    assert [r["lambda1"] for r in rows[:4]] == ["0.01", "0.01", "0.02", "0.02"]
    assert rows[-1]["run"].startswith("identity")
    for name, value in (("lambda1=0.01", 0.01), ("lambda1=0.02", 0.02)):
        point = out / "points" / name
        ckpt = torch.load(point / "checkpoints" / "last.pt", weights_only=True)
        assert ckpt["step"] == 1 and ckpt["config"]["lambda1"] == value
        summary = json.loads((point / "eval" / "summary.json").read_text())["runs"]
        row = next(r for r in rows if r["run"] == name)
        assert float(row["sad"]) == pytest.approx(next(iter(summary.values()))["sad"])
    assert "| lambda1=0.02 | 0.02 |" in (out / "table.md").read_text()

    # rerun: everything finished → skipped, nothing retrained
    stamp = os.stat(out / "points" / "lambda1=0.01" / "checkpoints" / "last.pt").st_mtime_ns
    second = _invoke(shards, out)
    assert second.exit_code == 0 and "2 points (2 skipped)" in second.output, second.output
    assert os.stat(out / "points" / "lambda1=0.01" / "checkpoints" / "last.pt").st_mtime_ns == stamp

    # a point that trained but was not evaluated resumes from last.pt (no extra steps) and is evaluated
    os.remove(out / "points" / "lambda1=0.02" / "eval" / "summary.json")
    third = _invoke(shards, out)
    assert third.exit_code == 0 and "1 skipped, 1 resumed" in third.output, third.output
    ckpt = torch.load(out / "points" / "lambda1=0.02" / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["step"] == 1
    assert (out / "points" / "lambda1=0.02" / "eval" / "summary.json").is_file()
    state = json.loads((out / "sweep.json").read_text())
    assert [p["status"] for p in state["points"]] == ["skipped", "resumed"]


def test_cli_bad_grid_is_one_line(shards, tmp_path):
    result = CliRunner().invoke(
        main, ["sweep", "--grid", "lambda1", "--shards", str(shards), "--out", str(tmp_path / "x")]
    )
    assert result.exit_code != 0 and "--grid expects key=v1,v2" in result.output
    assert "Traceback" not in result.output


def test_rerun_with_other_settings_refuses_instead_of_reusing_old_points(shards, tmp_path):
    out = tmp_path / "sweep"
    assert _invoke(shards, out).exit_code == 0
    last = out / "points" / "lambda1=0.01" / "checkpoints" / "last.pt"
    stamp = last.stat().st_mtime_ns
    base = [
        "sweep",
        "--grid",
        "lambda1=0.01,0.02",
        "--shards",
        str(shards),
        "--out",
        str(out),
        "--mode",
        "joint",
        "--no-progress",
        *TINY,
    ]
    for extra, said in (
        (["--max-steps", "2", "--eval-limit", "1"], "max_steps 1 (this sweep: 2)"),
        (
            ["--max-steps", "1", "--eval-limit", "1", "--set", "lambda2=0.05"],
            "lambda2 0.01 (this sweep: 0.05)",
        ),
        (["--max-steps", "1"], "eval limit 1 (this sweep: None)"),
    ):
        result = CliRunner().invoke(main, base + extra)
        assert result.exit_code != 0 and said in result.output, result.output
        assert "Traceback" not in result.output and "use another --out" in result.output
    assert last.stat().st_mtime_ns == stamp  # nothing was retrained
    # a point that has not finished may train on to a new length
    os.remove(out / "points" / "lambda1=0.01" / "eval" / "summary.json")
    os.remove(out / "points" / "lambda1=0.02" / "eval" / "summary.json")
    result = CliRunner().invoke(main, base + ["--max-steps", "2", "--eval-limit", "1"])
    assert result.exit_code == 0 and "2 resumed" in result.output, result.output
    assert torch.load(last, weights_only=True)["step"] == 2
