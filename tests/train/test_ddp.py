"""Two CPU processes on gloo through torchrun: DistributedDataParallel smoke run."""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys

from hmh_train.train import checkpoint as ckpt_io
from hmh_train.train.logs import read_csv
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
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_addr",
            "127.0.0.1",
            "--master_port",
            str(_free_port()),
            script,
            "joint",
            "--shards",
            str(shards),
            "--out",
            str(run),
            "--max-steps",
            "3",
            "--device",
            "cpu",
            *SMALL,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("joint: 3 steps") == 1  # only rank 0 reports
    rows = read_csv(run / "metrics.csv")
    assert [int(r["step"]) for r in rows] == [1, 2, 3]  # rank 0 alone writes the log
    assert all(math.isfinite(float(r["total"])) for r in rows)
    # 2 processes x batch 2: samples/s counts both ranks' samples
    saved = ckpt_io.load(run / "checkpoints" / "last.pt")
    assert saved["step"] == 3 and set(saved["nets"]) == set(ckpt_io.NET_NAMES)
    assert not any(k.startswith("module.") for k in saved["nets"]["matting"])


def _sync_worker(rank: int, port: int, out_dir: str) -> None:
    """One rank: DDP-wrapped nets, two joint steps on rank-specific data, save parameters."""
    import torch

    from hmh_train.data.augment import Batch
    from hmh_train.train import distributed as dist_utils
    from hmh_train.train.config import load_config
    from hmh_train.train.engine import step_config
    from hmh_train.train.optim import build_optimizers
    from hmh_train.train.steps import joint_step

    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank)
    )
    torch.set_num_threads(1)
    runtime = dist_utils.setup("cpu")
    cfg = load_config("joint", None, {"width": 0.25, "num_downs": 5})
    torch.manual_seed(100 + rank)  # different initial weights: DDP must broadcast rank 0's
    nets = ckpt_io.build_nets(ckpt_io.NET_NAMES, 0.25, 5)
    optims = build_optimizers(nets, cfg)
    for name in ckpt_io.NET_NAMES:
        setattr(nets, name, dist_utils.wrap(getattr(nets, name), runtime))
    g = torch.Generator().manual_seed(rank)  # different data per rank
    for _ in range(2):
        alpha = (torch.rand(2, 1, 32, 32, generator=g) > 0.5).float()
        rgb = [torch.rand(2, 3, 32, 32, generator=g) for _ in range(3)]
        joint_step(
            nets,
            optims,
            Batch(rgb[0], alpha, rgb[1], rgb[2], alpha * 0.5 + 0.25),
            step_config(cfg, runtime.device),
        )
    params = {
        f"{n}.{k}": v
        for n in ckpt_io.NET_NAMES
        for k, v in ckpt_io.unwrap(getattr(nets, n)).named_parameters()
    }
    torch.save(params, os.path.join(out_dir, f"rank{rank}.pt"))
    dist_utils.teardown(runtime)


def test_ddp_ranks_stay_identical_after_joint_steps(tmp_path):
    import torch
    import torch.multiprocessing as mp

    mp.spawn(_sync_worker, args=(_free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert ranks[0].keys() == ranks[1].keys()
    for key, value in ranks[0].items():
        assert torch.allclose(value, ranks[1][key], atol=1e-6), key
