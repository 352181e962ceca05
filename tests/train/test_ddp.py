"""Two CPU processes on gloo through torchrun: DistributedDataParallel smoke run."""
from __future__ import annotations

import math
import os
import socket
import subprocess
import sys

from hmh_train import checkpoint as ckpt_io
from hmh_train.logging_utils import read_csv
from tests.train.conftest import SMALL


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_gloo_joint_run(shards, tmp_path):
    run = tmp_path / "run"
    script = os.path.join(os.path.dirname(sys.executable), "hmh-train")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr",
         "127.0.0.1", "--master_port", str(_free_port()), script, "joint", "--shards", str(shards),
         "--out", str(run), "--max-steps", "3", "--device", "cpu", *SMALL],
        capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("joint: 3 steps") == 1  # only rank 0 reports
    rows = read_csv(run / "metrics.csv")
    assert [int(r["step"]) for r in rows] == [1, 2, 3]  # rank 0 alone writes the log
    assert all(math.isfinite(float(r["total"])) for r in rows)
    # 2 processes x batch 2: samples/s counts both ranks' samples
    saved = ckpt_io.load(run / "checkpoints" / "last.pt")
    assert saved["step"] == 3 and set(saved["nets"]) == set(ckpt_io.NET_NAMES)
    assert not any(k.startswith("module.") for k in saved["nets"]["matting"])
