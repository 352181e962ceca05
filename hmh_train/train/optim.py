"""Optimizers and learning-rate schedules of the three training modes.

- IndexNet (matting): Adam with two parameter groups, ``lr_matting`` (decoder, index blocks,
  ASPP, prediction head; 1e-2) and ``lr_matting_encoder`` (MobileNetV2 encoder; 1e-4), both
  multiplied by ``lr_gamma`` at each epoch in ``lr_milestones`` (IndexNet's recipe: 20, 26 of 30).
  The joint mode keeps these fine-tuning lrs, as the paper says.
- U-Net (harmonization) and SAGAN critic (discriminator): Adam, ``lr_harmonization`` /
  ``lr_discriminator`` (paper: 2e-4), betas ``betas_gan`` (0.5, 0.999), constant.
"""

from __future__ import annotations

import torch

from hmh_train.nets.forward import unwrap


def matting_param_groups(net, lr: float, lr_encoder: float) -> list[dict]:
    """Adam parameter groups for IndexNet: [encoder @ lr_encoder, everything else @ lr]."""
    net = unwrap(net)
    return [
        {"params": net.decoder_parameters(), "lr": lr, "name": "matting"},
        {"params": net.encoder_parameters(), "lr": lr_encoder, "name": "matting_encoder"},
    ]


def build_optimizers(nets, cfg):
    """``steps.Optimizers`` for whichever of ``nets`` exist (others None)."""
    from hmh_train.train.steps import Optimizers

    matting = harmonization = discriminator = None
    if nets.matting is not None:
        groups = matting_param_groups(nets.matting, cfg.lr_matting, cfg.lr_matting_encoder)
        matting = torch.optim.Adam(groups, betas=tuple(cfg.betas_matting))
    if nets.harmonization is not None:
        harmonization = torch.optim.Adam(
            unwrap(nets.harmonization).parameters(), lr=cfg.lr_harmonization, betas=tuple(cfg.betas_gan)
        )
    if nets.discriminator is not None:
        discriminator = torch.optim.Adam(
            unwrap(nets.discriminator).parameters(), lr=cfg.lr_discriminator, betas=tuple(cfg.betas_gan)
        )
    return Optimizers(matting=matting, harmonization=harmonization, discriminator=discriminator)


def build_schedulers(optims, cfg, steps_per_epoch: int) -> dict:
    """{name: scheduler} stepped once per optimizer step; only IndexNet's lrs decay."""
    schedulers = {}
    if optims.matting is not None:
        milestones = [int(m) * steps_per_epoch for m in cfg.lr_milestones]
        schedulers["matting"] = torch.optim.lr_scheduler.MultiStepLR(
            optims.matting, milestones=milestones, gamma=cfg.lr_gamma
        )
    return schedulers


def current_lrs(optims) -> dict:
    """{"lr_<group name>": lr} of every optimizer, for logging."""
    out = {}
    for name in ("matting", "harmonization", "discriminator"):
        opt = getattr(optims, name, None)
        if opt is None:
            continue
        for group in opt.param_groups:
            out[f"lr_{group.get('name', name)}"] = group["lr"]
    return out
