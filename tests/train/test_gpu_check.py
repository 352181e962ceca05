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
    result = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--device", "cpu"],
                            capture_output=True, text=True, timeout=540, env=env)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("device: CPU")
    steps = {m.group(1).strip(): float(m.group(2)) for m in
             (re.match(r"\s+(fp32|bf16|fp32 \+ compile|bf16 \+ compile)\s+([\d.]+) s/step", l)
              for l in lines) if m}
    assert set(steps) == {"fp32", "bf16", "fp32 + compile", "bf16 + compile"}, lines
    assert all(v > 0 for v in steps.values())
    loaders = [l for l in lines if re.match(r"\s+\d+ workers: +[\d.]+ samples/s = +[\d.]+x", l)]
    assert [int(l.split()[0]) for l in loaders] == [0, 2], lines
    assert any(l.startswith("DDP, 2 processes (gloo)") and l.endswith("-> ok") for l in lines)
    assert any(l.startswith("resume (stopped at step") and l.endswith("-> exact") for l in lines)
    assert "all checks passed" in lines
