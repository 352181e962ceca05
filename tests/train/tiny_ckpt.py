"""Tiny checkpoints for the evaluation/composition tests (N's builders + T's checkpoint format)."""

from __future__ import annotations

import torch

from hmh_train.train import checkpoint as C

WIDTH, NUM_DOWNS = 0.25, 5  # 64×64 test shards: side must be a multiple of 2**NUM_DOWNS


def save_tiny_checkpoint(run_dir, names=("matting", "harmonization"), seed=0, which="last"):
    """Write RUN/checkpoints/{which}.pt holding freshly initialised nets ``names``; returns RUN."""
    torch.manual_seed(seed)
    nets = C.build_nets(tuple(names), WIDTH, NUM_DOWNS)
    ckpt = {
        "format": C.CKPT_FORMAT,
        "version": C.CKPT_VERSION,
        "nets": {n: getattr(nets, n).state_dict() for n in names},
        "net_config": {"width": WIDTH, "num_downs": NUM_DOWNS},
        "config": {"mode": "test"},
    }
    C.atomic_save(ckpt, str(run_dir / "checkpoints" / f"{which}.pt"))
    return run_dir
