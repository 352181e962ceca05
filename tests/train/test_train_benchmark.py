"""benchmarks/train.py runs end to end on a few portraits and prints every figure."""

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "train.py"


def test_train_benchmark_reports_loaders_batch_preparation_and_joint_step():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--samples", "4", "--steps", "1", "--batch", "1", "--width", "0.125"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for workers in (0, 1):
        line = next(ln for ln in lines if ln.startswith(f"loader num_workers={workers}: shards"))
        rates = [float(v) for v in re.findall(r"([\d.]+) samples/s", line)]
        assert len(rates) == 2 and all(r > 0 for r in rates), line
    assert any(ln.startswith("device-side batch preparation") and "on CPU" in ln for ln in lines)
    step = next(ln for ln in lines if ln.startswith("joint step 256x256 width 0.125 batch 1 on CPU"))
    assert float(re.search(r"([\d.]+) s/step", step).group(1)) > 0
