"""benchmarks/build.py runs end to end on tiny portraits and reports every figure."""

import json
import math
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "build.py"


def test_build_benchmark_reports_rates_ratios_and_accuracy(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--n",
            "3",
            "--n-telea",
            "2",
            "--height",
            "64",
            "--width",
            "48",
            "--size",
            "32",
            "--json",
            "--keep",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    runs = {"default_w1", "default_w2", "telea_w1", "multilevel_source_w1", "multilevel_output_w1"}
    assert set(report["samples_per_s"]) == set(report["samples_per_cpu_s"]) == runs
    assert all(v > 0 for v in report["samples_per_s"].values())
    for key in ("speedup_default_vs_telea_per_core", "speedup_2_workers_vs_1", "accuracy_gain_db"):
        assert math.isfinite(report[key])
    accuracy = report["background_accuracy"]
    assert accuracy["telea"]["samples"] == accuracy["default"]["samples"] == 2
    assert accuracy["default_all_n"]["samples"] == 3
    assert all(10 < v["psnr_pooled_db"] < 80 for v in accuracy.values())
    assert report["portraits"]["size"] == 32
    assert (tmp_path / "out_telea_w1" / "manifest.json").is_file()
