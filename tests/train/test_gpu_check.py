"""benchmarks/gpu_check.py --quick --device cpu runs every section end to end (so the GPU
check cannot rot between GPU sessions) and its checks pass on CPU."""

import os
import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


def test_gpu_check_quick_cpu_runs_every_section_and_passes():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--device", "cpu"],
        capture_output=True,
        text=True,
        timeout=540,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("device: CPU")
    steps = {
        m.group(1).strip(): float(m.group(2))
        for m in (
            re.match(r"\s+(fp32|bf16|fp32 \+ compile|bf16 \+ compile)\s+([\d.]+) s/step", ln) for ln in lines
        )
        if m
    }
    assert set(steps) == {"fp32", "bf16", "fp32 + compile", "bf16 + compile"}, lines
    assert all(v > 0 for v in steps.values())
    loaders = [ln for ln in lines if re.match(r"\s+\d+ workers: +[\d.]+ samples/s = +[\d.]+x", ln)]
    assert [int(ln.split()[0]) for ln in loaders] == [0, 2], lines
    assert any(ln.startswith("DDP, 2 processes (gloo)") and ln.endswith("-> ok") for ln in lines)
    assert any(ln.startswith("resume (stopped at step") and ln.endswith("-> exact") for ln in lines)
    assert "all checks passed" in lines


def test_gpu_check_without_cuda_is_one_line_and_exit_2():
    """The default --device cuda on a machine without CUDA (hidden here, whatever the machine):
    one line that says what to run instead, exit status 2, no traceback."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=300, env=env
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "CUDA is not available here; run with --device cpu for a smoke run (add --quick for tiny sizes)"
    ]
    bad = subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "gpu"], capture_output=True, text=True, timeout=300, env=env
    )
    assert bad.returncode == 2 and bad.stderr.splitlines() == [
        "--device gpu: not a device (use auto, cpu, cuda or cuda:N)"
    ], bad.stderr
