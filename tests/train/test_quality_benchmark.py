"""benchmarks/quality.py end to end at a tiny size (so it cannot rot): builds both sets with
hmh-build, pretrains, trains every compared run for each seed, evaluates, and writes the table,
the targets, the curves and TensorBoard logs; a rerun reuses the runs, other settings stop."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "quality.py"
TINY = [
    "--size",
    "32",
    "--source-height",
    "48",
    "--source-width",
    "40",
    "--portraits",
    "12",
    "--pretrain-portraits",
    "6",
    "--steps",
    "2",
    "--pretrain-steps",
    "2",
    "--width",
    "0.125",
    "--batch",
    "2",
    "--seeds",
    "0",
    "1",
    "--lambda1",
    "0",
    "0.02",
    "--forms",
    "residual",
    "--build-workers",
    "1",
    "--critic-composites",
    "paper",
    "new-background",
]


def _run(out, *extra):
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out), *TINY, *extra],
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.timeout(1800)  # three benchmark processes, each building, training and evaluating
def test_tiny_quality_benchmark_writes_the_tables_curves_and_targets(tmp_path):
    out = tmp_path / "q"
    result = _run(out)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "results.json").read_text())
    groups = report["groups"]
    expected = {
        "IN (pretrained)",
        "U-Net [residual] (pretrained)",
        "IN† (matting alone)",
        "U-Net alone [residual]",
        "joint λ1=0",
        "joint λ1=0.02",
        "joint λ1=0 [new-background]",
        "joint λ1=0.02 [new-background]",
        "identity (I_d, no harmonization)",
    }
    assert set(groups) == expected
    assert report["default_form"] == "residual" and groups["joint λ1=0.02"]["form"] == "residual"
    for label in ("IN† (matting alone)", "joint λ1=0.02", "U-Net alone [residual]"):
        assert groups[label]["seeds"] == [0, 1]
        for stats in groups[label]["metrics"].values():
            assert len(stats["values"]) == 2 and stats["std"] >= 0 and math.isfinite(stats["mean"])
    assert set(groups["joint λ1=0.02"]["metrics"]) >= {"sad", "conn", "harm_mse", "harm_psnr", "e2e_psnr"}
    assert "sad" not in groups["U-Net alone [residual]"]["metrics"]
    assert {"alpha_bias", "harm_no_harm", "harm_worst_loss_db"} <= set(groups["joint λ1=0.02"]["metrics"])
    assert groups["joint λ1=0.02 [new-background]"]["critic_composite"] == "new-background"
    compared = report["critic_composite_comparison"]
    assert set(compared) == {"λ1=0 new-background − paper", "λ1=0.02 new-background − paper"}
    assert {"sad", "alpha_bias", "harm_psnr"} <= set(compared["λ1=0.02 new-background − paper"])
    assert all(isinstance(d["beyond"], bool) for d in compared["λ1=0.02 new-background − paper"].values())
    assert set(report["targets"]) == {
        "unet_beats_identity",
        "joint_harmonizer_beats_identity",
        "joint_matting_no_worse",
    }
    assert set(report["paired_vs_matting_alone"]["joint λ1=0.02"]) == {"alpha_mse", "sad", "grad", "conn"}
    assert report["machine"]["cpu_count"] >= 1 and len(report["machine"]["loadavg_before"]) == 3
    assert all(not r["run"].startswith("/") for r in report["rows"])  # relative to --out
    table = (out / "table.md").read_text()
    assert "| identity (I_d, no harmonization) |" in table and " ± " in table and "Targets" in table
    assert (out / "table.csv").read_text().startswith("run,kind,form,lambda1,n_seeds,alpha_mse_mean")
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Critic composite, paired by seed" in table and "α bias" in table and "no harm" in table
    for run in (
        "seed0/joint-l1=0.02",
        "seed0/joint-l1=0.02-new-background",
        "seed1/matting",
        "pretrain/unet-residual",
    ):
        assert any((out / "runs" / run / "tb").iterdir()), run  # TensorBoard event files
    assert "| joint λ1=0.02 | residual | 2 |" in result.stdout
    # a rerun with the same settings reuses every run; other settings stop with one line
    again = _run(out)
    assert again.returncode == 0 and "trained" not in again.stderr and "reused" in again.stderr
    assert (
        json.loads((out / "results.json").read_text())["groups"]["joint λ1=0.02"]["metrics"]
        == groups["joint λ1=0.02"]["metrics"]
    )
    changed = _run(out, "--steps", "3")
    assert changed.returncode != 0 and "made with steps = 2 (now 3)" in changed.stderr
