"""Loss functions of the joint GAN (REFERENCE.md §1, §3): pure functions of tensors.

Conventions: alpha ``(B,1,H,W)`` in [0, 1]; images ``(B,3,H,W)`` RGB in [0, 1]; trimap
``(B,1,H,W)`` with values {0, 0.5, 1} (0.5 = unknown); critic scores ``(B,)``.
Every loss returns a 0-dim tensor averaged over the batch.
"""

from __future__ import annotations

import torch

from hmh_train.nets.forward import unknown_mask

GAN_KINDS = ("paper", "hinge", "wgan-gp")


def charbonnier(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Element-wise Charbonnier penalty ``sqrt((pred − target)² + eps²)`` (same shape as input)."""
    return torch.sqrt((pred - target) ** 2 + eps * eps)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per sample: Σ over masked pixels (and all channels) ÷ masked pixel count; batch mean.

    ``values`` ``(B,C,H,W)``, ``mask`` ``(B,1,H,W)`` in {0, 1}. Channels are summed, not
    averaged (IndexNet's composition loss). A sample without masked pixels contributes 0.
    """
    total = (values * mask).sum(dim=(1, 2, 3))
    count = mask.sum(dim=(1, 2, 3)).clamp_min(1.0)
    return (total / count).mean()


def composite(alpha: torch.Tensor, foreground: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """Differentiable alpha composite ``alpha·foreground + (1 − alpha)·background``."""
    return alpha * foreground + (1 - alpha) * background


#: The critic's matting fake (``matting_fake``): "paper" (the sample's own background) or
#: "new-background" (another sample's background from the batch).
CRITIC_COMPOSITES = ("paper", "new-background")


def other_backgrounds(background: torch.Tensor) -> torch.Tensor:
    """B' ``(B,3,H,W)``: each sample gets the background of the previous sample in the batch
    (sample 0 the last one's), so no sample keeps its own. ValueError for a batch of one."""
    if background.shape[0] < 2:
        raise ValueError("critic_composite new-background needs batches of at least 2 samples")
    return background.roll(1, dims=0)


def matting_fake(alpha_r, image, background, kind: str = "paper"):
    """The critic's matting fake I_c ``(B,3,H,W)`` from A_r ``(B,1,H,W)`` in [0, 1] (the
    gradient flows through it) and I, B ``(B,3,H,W)`` RGB in [0, 1].

    ``paper``: A_r·I + (1 − A_r)·B with the sample's own B (Eq. 3). Where A_r = 1, I_c = I
    exactly, so a matte of 1 over the whole unknown band makes the fake the real image: the
    adversarial term has that trivial optimum (REFERENCE.md §8). ``new-background``:
    A_r·I + (1 − A_r)·B' with B' another photo's background (``other_backgrounds``), as at
    test time: a matte too wide carries the old scene into the new one, one too thin cuts the
    hair; no A_r gives back a real image.
    """
    if kind == "new-background":
        background = other_backgrounds(background)
    elif kind != "paper":
        raise ValueError(f"critic_composite must be one of {', '.join(CRITIC_COMPOSITES)}, got {kind!r}")
    return composite(alpha_r, image, background)


def matting_loss(
    pred_alpha,
    alpha,
    image,
    background,
    trimap,
    alpha_weight: float = 0.5,
    comp_weight: float = 0.5,
    eps: float = 1e-6,
):
    """IndexNet's loss: ``alpha_weight·ℓ_alpha + comp_weight·ℓ_comp`` on unknown pixels.

    Both terms are Charbonnier (``eps``) summed over the trimap's unknown pixels and divided by
    their count. The composition term compares ``pred·I + (1 − pred)·B`` with
    ``A·I + (1 − A)·B`` (HMH has no un-premultiplied foreground; this is the alpha error
    weighted by the colour contrast between I and B), summed over the 3 channels.
    Returns ``(total, alpha_term, comp_term)``.
    """
    mask = unknown_mask(trimap)
    l_alpha = masked_mean(charbonnier(pred_alpha, alpha, eps), mask)
    comp_pred = composite(pred_alpha, image, background)
    comp_true = composite(alpha, image, background)
    l_comp = masked_mean(charbonnier(comp_pred, comp_true, eps), mask)
    return alpha_weight * l_alpha + comp_weight * l_comp, l_alpha, l_comp


def alpha_l1_unknown(pred_alpha, alpha, trimap) -> torch.Tensor:
    """ℓ_gm: mean |A_r − A| over the trimap's unknown pixels (per sample, then batch mean)."""
    return masked_mean((pred_alpha - alpha).abs(), unknown_mask(trimap))


def harmonization_l1(harmonized, image) -> torch.Tensor:
    """ℓ_gh: mean |I_h − I| over all pixels and channels."""
    return (harmonized - image).abs().mean()


def _check_kind(kind: str) -> None:
    if kind not in GAN_KINDS:
        raise ValueError(f"unknown GAN loss {kind!r}; choose one of {', '.join(GAN_KINDS)}")


def discriminator_loss(kind: str, real: torch.Tensor, fakes) -> torch.Tensor:
    """Critic loss from scores ``real`` ``(B,)`` and a list of fake score tensors.

    - ``"paper"``: Eq. 3 as written, ``Σ_k E[D(fake_k)] − E[D(I)]`` (fakes weigh k:1; an
      unconstrained Wasserstein critic, see REFERENCE §1 caution).
    - ``"hinge"``: ``E[relu(1 − D(I))] + mean_k E[relu(1 + D(fake_k))]``.
    - ``"wgan-gp"``: ``mean_k E[D(fake_k)] − E[D(I)]``; add ``gradient_penalty`` separately.
    """
    _check_kind(kind)
    if kind == "paper":
        return sum(f.mean() for f in fakes) - real.mean()
    if kind == "hinge":
        fake = torch.stack([torch.relu(1 + f).mean() for f in fakes]).mean()
        return torch.relu(1 - real).mean() + fake
    return torch.stack([f.mean() for f in fakes]).mean() - real.mean()


def generator_adversarial_loss(
    kind: str, fake: torch.Tensor, real: torch.Tensor | None = None
) -> torch.Tensor:
    """Generator's adversarial term for one fake type (scores ``(B,)``).

    ``"paper"``: Eq. 4, ``E[D(I) − D(fake)]`` (needs ``real``; the real term carries no generator
    gradient but keeps the logged value as written). ``"hinge"``/``"wgan-gp"``: ``−E[D(fake)]``.
    """
    _check_kind(kind)
    if kind == "paper":
        if real is None:
            raise ValueError("the paper's generator loss needs the real scores D(I)")
        return real.mean() - fake.mean()
    return -fake.mean()


def gradient_penalty(
    critic,
    real: torch.Tensor,
    fake: torch.Tensor,
    eps: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """WGAN-GP penalty ``E[(‖∇D(x̂)‖₂ − 1)²]``, ``x̂ = eps·real + (1 − eps)·fake`` (Gulrajani 2017).

    ``real``/``fake`` ``(B,C,H,W)``; ``eps`` ``(B,1,1,1)`` in [0, 1] (drawn uniformly from
    ``generator`` when omitted). Differentiable w.r.t. the critic's parameters (double backward).
    """
    if eps is None:
        eps = torch.rand(real.shape[0], 1, 1, 1, generator=generator).to(real)
    mixed = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(mixed)
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    norms = grad.flatten(1).norm(2, dim=1)
    return ((norms - 1) ** 2).mean()
