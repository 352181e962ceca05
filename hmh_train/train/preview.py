"""No-grad forward passes for logging: TensorBoard image columns and the validation loss.

Both run the *plain* networks (DDP/compile wrappers removed) in eval mode and put them back in
train mode, draw no random numbers, and so never change what the training steps see.
"""

from __future__ import annotations

import contextlib

import torch

from hmh_train.data.augment import make_batch
from hmh_train.nets.forward import NET_NAMES, unwrap


@contextlib.contextmanager
def evaluating(nets):
    """Yield {name: plain module in eval mode}; restore each module's training flag after."""
    plain = {n: unwrap(getattr(nets, n)) for n in NET_NAMES if getattr(nets, n, None) is not None}
    flags = {n: m.training for n, m in plain.items()}
    for module in plain.values():
        module.eval()
    try:
        with torch.no_grad():
            yield plain
    finally:
        for name, module in plain.items():
            module.train(flags[name])


def _forward(plain: dict, batch, output: str):
    """(A_r, I_c, I_h) of one batch, I_h in the harmonizer's output form ``output``; None for
    what the available networks cannot produce."""
    from hmh_train.nets.forward import altered_input, harmonization_mask, harmonize, predict_alpha

    alpha_r = composite = harmonized = None
    mask, harmonization_input = harmonization_mask(batch), batch.disharmonious
    if "matting" in plain:  # as steps.joint_step: I_c with B, U-Net input with I_d, both via A_r
        alpha_r = predict_alpha(plain["matting"], batch.image, batch.trimap)
        composite = alpha_r * batch.image + (1 - alpha_r) * batch.background
        harmonization_input, mask = altered_input(alpha_r, batch.image, batch.disharmonious, batch.altered)
    if "harmonization" in plain:
        harmonized = harmonize(plain["harmonization"], harmonization_input, mask, output).clamp(0, 1)
    return alpha_r, composite, harmonized


def preview_columns(nets, batch, mode: str) -> dict:
    """Named ``(B,C,H,W)`` [0, 1] images for a grid: I, trimap (M for harmonization pairs),
    A_r, I_c, I_d, I_h (as available)."""
    with evaluating(nets) as plain:
        alpha_r, composite, harmonized = _forward(plain, batch, nets.harmonizer_output)
    columns = {"I": batch.image}
    columns.update({"trimap": batch.trimap} if batch.trimap is not None else {"M": batch.mask})
    if alpha_r is not None:
        columns.update({"A_r": alpha_r, "I_c": composite})
    if mode != "matting":
        columns["I_d"] = batch.disharmonious
    if harmonized is not None:
        columns["I_h"] = harmonized
    return columns


def validation_loss(nets, loader, device, cfg) -> float:
    """Mean over ≤ ``cfg.val_batches`` test batches of ``|A_r − A|`` on the unknown region
    (matting) plus ``|I_h − I|`` over the image (harmonization; I_h in the run's output form,
    clamped to [0, 1] as evaluation does); trimaps use the fixed evaluation radius, I_h is
    computed from the predicted alpha in the joint mode."""
    total, count = 0.0, 0
    with evaluating(nets) as plain:
        for index, raw in enumerate(loader):
            if index >= cfg.val_batches:
                break
            batch = make_batch(raw, device, train=False, altered=cfg.altered)
            alpha_r, _, harmonized = _forward(plain, batch, nets.harmonizer_output)
            loss = 0.0
            if alpha_r is not None:
                unknown = (batch.trimap == 0.5).float()
                loss += float(((alpha_r - batch.alpha).abs() * unknown).sum() / unknown.sum().clamp_min(1))
            if harmonized is not None:
                loss += float((harmonized - batch.image).abs().mean())
            total, count = total + loss, count + 1
    return total / max(count, 1)
