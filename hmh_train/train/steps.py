"""One optimisation step for each training mode (notes/TRAIN_API.md, paper Eq. 1–5).

Images on the device are float32 ``(B,3,H,W)`` RGB in [0, 1], alpha ``(B,1,H,W)`` in [0, 1],
trimap ``(B,1,H,W)`` in {0, 0.5, 1}. The networks see IndexNet's ImageNet-normalised input,
and [-1, 1] for the U-Net and the critic; these functions convert. Every step zeroes the
gradients, steps its optimizers and returns python floats.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch

from hmh_train.data.augment import Batch
from hmh_train.nets.forward import (
    Nets,
    altered_input,
    harmonization_mask,
    harmonize,
    predict_alpha,
    to_pm1,
    unwrap,
)
from hmh_train.train.losses import (
    CRITIC_COMPOSITES,
    GAN_KINDS,
    alpha_l1_unknown,
    discriminator_loss,
    generator_adversarial_loss,
    gradient_penalty,
    harmonization_l1,
    matting_fake,
    matting_loss,
    other_backgrounds,
)

__all__ = [
    "StepConfig",
    "Nets",
    "Optimizers",
    "Batch",
    "predict_alpha",
    "harmonize",
    "matting_step",
    "harmonization_step",
    "joint_step",
    "frozen",
    "critic_step",
    "generate",
    "generator_losses",
    "Fakes",
    "CRITIC_COMPOSITES",
    "matting_fake",
    "other_backgrounds",
]


@dataclass(frozen=True)
class StepConfig:
    """Loss weights and precision. ``gan_loss``: "paper" (Eq. 3/4 as written), "hinge"
    (default, fakes averaged) or "wgan-gp" (fakes averaged + ``gp_weight``·gradient penalty)."""

    lambda1: float = 0.02
    lambda2: float = 0.01
    gan_loss: str = "hinge"
    gp_weight: float = 10.0
    alpha_loss_weight: float = 0.5
    comp_loss_weight: float = 0.5
    harmonization_l1_weight: float = 1.0
    amp_dtype: torch.dtype | None = None
    critic_composite: str = "paper"  # the critic's matting fake: see ``matting_fake``

    def __post_init__(self):
        if self.gan_loss not in GAN_KINDS:
            raise ValueError(f"gan_loss must be one of {', '.join(GAN_KINDS)}, got {self.gan_loss!r}")
        if self.critic_composite not in CRITIC_COMPOSITES:
            raise ValueError(
                f"critic_composite must be one of {', '.join(CRITIC_COMPOSITES)}, got {self.critic_composite!r}"
            )


@dataclass
class Optimizers:
    """One optimizer per network, same field names as ``Nets``."""

    matting: torch.optim.Optimizer | None = None
    harmonization: torch.optim.Optimizer | None = None
    discriminator: torch.optim.Optimizer | None = None


def _core(module):
    """The module inside a DistributedDataParallel wrapper (or the module itself); a
    torch.compile wrapper without DDP is kept (compiled forward)."""
    return getattr(module, "module", module)


def _autocast(cfg: StepConfig, device: torch.device):
    return torch.autocast(device_type=device.type, dtype=cfg.amp_dtype, enabled=cfg.amp_dtype is not None)


@contextmanager
def frozen(module):
    """Temporarily set ``requires_grad=False`` on every parameter of ``module``."""
    params = list(module.parameters())
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p, flag in zip(params, flags, strict=False):
            p.requires_grad_(flag)


def _floats(values: dict) -> dict:
    """``{name: python float}`` of 0-dim tensors, read in one device→host copy (one sync per
    step on CUDA, not one per logged value); key order kept."""
    numbers = torch.stack([v.detach() for v in values.values()]).tolist()
    return dict(zip(values, numbers, strict=False))


def _require(nets, optims, names, step):
    for name in names:
        if getattr(nets, name) is None or getattr(optims, name) is None:
            raise ValueError(f"{step} needs a {name} network and optimizer")


def matting_step(nets: Nets, optims: Optimizers, batch: Batch, cfg: StepConfig) -> dict:
    """IndexNet alone: 0.5·alpha + 0.5·composition Charbonnier on the unknown region."""
    _require(nets, optims, ["matting"], "matting_step")
    nets.matting.train()
    with _autocast(cfg, batch.image.device):
        pred = predict_alpha(nets.matting, batch.image, batch.trimap, raw=True)
    total, l_alpha, l_comp = matting_loss(
        pred,
        batch.alpha,
        batch.image,
        batch.background,
        batch.trimap,
        cfg.alpha_loss_weight,
        cfg.comp_loss_weight,
    )
    optims.matting.zero_grad(set_to_none=True)
    total.backward()
    optims.matting.step()
    with torch.no_grad():
        l_gm = alpha_l1_unknown(pred.clamp(0, 1), batch.alpha, batch.trimap)
    return _floats(
        {"loss_matting": total, "loss_alpha": l_alpha, "loss_comp": l_comp, "loss_gm": l_gm, "total": total}
    )


def harmonization_step(nets: Nets, optims: Optimizers, batch: Batch, cfg: StepConfig) -> dict:
    """U-Net alone: input I_d with ``harmonization_mask(batch)`` (the region to adjust: HMH
    1 − A for an altered background, A for an altered foreground; harmonization pairs: the
    stored mask), I_h in the output form ``nets.harmonizer_output`` (``forward.harmonize``),
    loss weight·‖I_h − I‖₁."""
    _require(nets, optims, ["harmonization"], "harmonization_step")
    nets.harmonization.train()
    with _autocast(cfg, batch.image.device):
        out = harmonize(
            nets.harmonization, batch.disharmonious, harmonization_mask(batch), nets.harmonizer_output
        )
    l_gh = harmonization_l1(out, batch.image)
    total = cfg.harmonization_l1_weight * l_gh
    optims.harmonization.zero_grad(set_to_none=True)
    total.backward()
    optims.harmonization.step()
    return _floats({"loss_gh": l_gh, "total": total})


def critic_step(disc, optim, real, fakes, cfg: StepConfig, generator=None):
    """One critic update on ``real`` vs the *detached* ``fakes`` (all ``(B,3,H,W)`` in [0, 1]).

    Returns ``(logs, mean score per fake type)``; logs: loss_d, d_real, d_fake (mean over the
    fake types), d_gap = d_real − d_fake, and loss_gp for "wgan-gp" (penalty on points between
    each real image and one of its fakes chosen uniformly: an unbiased estimate of the average
    over fake types at a third of the double-backward cost).
    """
    n = real.shape[0]
    x = torch.cat([real] + [f.detach() for f in fakes])
    with _autocast(cfg, real.device):
        scores = disc(to_pm1(x)).float()
    s_real, *s_fakes = scores.split(n)
    loss = discriminator_loss(cfg.gan_loss, s_real, s_fakes)
    logged = {}
    if cfg.gan_loss == "wgan-gp":  # each sample is paired with one fake type drawn at random
        pick = torch.randint(len(fakes), (n,), generator=generator).to(real.device)
        rows = torch.arange(n, device=real.device)
        mixed_fakes = torch.stack([f.detach() for f in fakes])[pick, rows]
        # the plain critic: a torch.compile'd module cannot double-backward
        gp = gradient_penalty(unwrap(disc), to_pm1(real), to_pm1(mixed_fakes), generator=generator)
        loss = loss + cfg.gp_weight * gp
        logged["loss_gp"] = gp
    optim.zero_grad(set_to_none=True)
    loss.backward()
    optim.step()
    logged.update(loss_d=loss, d_real=s_real.mean())
    logged.update({f"d_fake{k}": s.mean() for k, s in enumerate(s_fakes)})
    out = _floats(logged)
    d_fakes = [out.pop(f"d_fake{k}") for k in range(len(s_fakes))]
    d_fake = sum(d_fakes) / len(d_fakes)
    out.update(d_fake=d_fake, d_gap=out["d_real"] - d_fake)
    return out, d_fakes


@dataclass
class Fakes:
    """Generator outputs of one joint forward (float32, [0, 1]).

    ``raw`` alpha before clamping (known regions pasted), ``alpha`` = A_r, ``composite`` = I_c,
    ``harmonized`` = I_h.
    """

    raw: torch.Tensor
    alpha: torch.Tensor
    composite: torch.Tensor
    harmonized: torch.Tensor


def generate(nets: Nets, batch: Batch, cfg: StepConfig) -> Fakes:
    """A_r = IndexNet(I, T); I_c = A_r·I + (1 − A_r)·B (differentiable in A_r; B' from another
    sample with ``cfg.critic_composite`` "new-background", ``matting_fake``); I_h = U-Net of
    ``altered_input(A_r, I, I_d, batch.altered)`` with A_r detached, so ℓ_Gh trains only the
    U-Net, in the output form ``nets.harmonizer_output`` (the critic's I_h fake is this same I_h).

    I_c tests the matte on either side: the real person on the real background through A_r.
    The U-Net's input takes the altered pixels inside the region to adjust and the real ones
    outside it, both through A_r: background altered (the paper) A_r·I + (1 − A_r)·I_d with
    mask 1 − A_r; foreground altered A_r·I_d + (1 − A_r)·I with mask A_r.
    """
    with _autocast(cfg, batch.image.device):
        raw = predict_alpha(nets.matting, batch.image, batch.trimap, raw=True)
        a_r = raw.clamp(0, 1)
        fake_c = matting_fake(a_r, batch.image, batch.background, cfg.critic_composite)
        x, mask = altered_input(a_r.detach(), batch.image, batch.disharmonious, batch.altered)
        fake_h = harmonize(nets.harmonization, x, mask, nets.harmonizer_output)
    return Fakes(raw, a_r, fake_c, fake_h)


def generator_losses(disc, fakes: Fakes, batch: Batch, cfg: StepConfig) -> dict:
    """Eq. 4–5 as tensors: loss_gm, loss_gh, adv_gm, adv_gh, loss_Gm, loss_Gh, total.

    Call with ``disc`` frozen (``with frozen(disc):``) so no gradient lands in the critic.
    """
    img = batch.image
    paper = cfg.gan_loss == "paper"
    x = torch.cat([fakes.composite, fakes.harmonized] + ([img] if paper else []))
    with _autocast(cfg, img.device):
        scores = _core(disc)(to_pm1(x)).float()
    s = scores.split(img.shape[0])
    s_real = s[2] if paper else None
    adv_m = generator_adversarial_loss(cfg.gan_loss, s[0], s_real)
    adv_h = generator_adversarial_loss(cfg.gan_loss, s[1], s_real)
    l_gm = alpha_l1_unknown(fakes.raw, batch.alpha, batch.trimap)
    l_gh = harmonization_l1(fakes.harmonized, img)
    loss_m = l_gm + cfg.lambda1 * adv_m
    loss_h = cfg.harmonization_l1_weight * l_gh + cfg.lambda2 * adv_h
    return {
        "loss_gm": l_gm,
        "loss_gh": l_gh,
        "adv_gm": adv_m,
        "adv_gh": adv_h,
        "loss_Gm": loss_m,
        "loss_Gh": loss_h,
        "total": loss_m + loss_h,
    }


def joint_step(
    nets: Nets, optims: Optimizers, batch: Batch, cfg: StepConfig, generator: torch.Generator | None = None
) -> dict:
    """Eq. 1–5: critic step on detached (I_c, I_d, I_h) vs I, then both generators with D frozen.

    See ``generate`` and ``generator_losses``; ``total`` = ℓ_Gm + ℓ_Gh. ``generator`` draws the
    WGAN-GP mixing weights. Logs critic scores, their gap and the attention γ values.
    """
    _require(nets, optims, ["matting", "harmonization", "discriminator"], "joint_step")
    for net in (nets.matting, nets.harmonization, nets.discriminator):
        net.train()
    fakes = generate(nets, batch, cfg)
    out, d_fakes = critic_step(
        nets.discriminator,
        optims.discriminator,
        batch.image,
        [fakes.composite, batch.disharmonious, fakes.harmonized],
        cfg,
        generator,
    )
    with frozen(nets.discriminator):
        losses = generator_losses(nets.discriminator, fakes, batch, cfg)
        optims.matting.zero_grad(set_to_none=True)
        optims.harmonization.zero_grad(set_to_none=True)
        losses["total"].backward()
    optims.matting.step()
    optims.harmonization.step()
    out.update(_floats(losses))
    out.update(d_fake_c=d_fakes[0], d_fake_d=d_fakes[1], d_fake_h=d_fakes[2])
    core = _core(nets.discriminator)
    gammas = core.gammas() if hasattr(core, "gammas") else [float("nan")]
    out.update({("gamma" if i == 0 else f"gamma{i + 1}"): g for i, g in enumerate(gammas)})
    return out
