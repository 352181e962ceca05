"""``hmh-train composite``: load the checkpoint once, then run the single form
(``infer.composite``) or the batch form (``infer.composite_batch``)."""
from __future__ import annotations

import torch

from hmh_train.infer.composite import CompositeConfig, composite_one
from hmh_train.infer.composite_batch import composite_folder


def run(cfg: CompositeConfig) -> dict:
    """Load the checkpoint, then run the single or the batch form."""
    from hmh_train.train.checkpoint import checkpoint_file, load_nets
    from hmh_train.train.distributed import pick_device

    ckpt = checkpoint_file(cfg.ckpt)  # one-line error naming --ckpt when there is none
    device = pick_device(cfg.device)
    nets, _ = load_nets(ckpt, device=device)
    with torch.no_grad():
        if cfg.images:
            return composite_folder(cfg, nets, device)
        return composite_one(cfg, nets, device)
