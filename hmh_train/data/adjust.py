"""Online adjustment of one side on the device (``--online-adjust``).

Each call re-draws an adjusted side for every sample and re-composites I_d, so every epoch sees
fresh disharmonious composites instead of the one stored in the shard. The side is the one the
shards alter (``ShardDataset.altered``):

- ``background`` (the paper's main setting): B_t = T(B) and I_d = A·I + (1−A)·B_t (Eq. 1);
  exactly I where A = 1.
- ``foreground`` (the paper's Fig. 6 variant, as ``hmh-build --altered foreground``):
  F_t = T(I) and I_d = A·F_t + (1−A)·B; exactly I where A = 0.

One of three transfers per sample, chosen uniformly (as the builder does):

- ``reinhard``: per-channel mean/std matching in CIELAB (Reinhard et al. 2001, the CIELAB
  variant the HMH reference uses, without its a*/b* swap and clamp bugs) toward the statistics
  of *another* image I_t of the same batch; for the foreground both statistics are those of
  the person (weighted by the sample's own alpha and by I_t's alpha), as the builder's;
- ``illumination``: one uniform offset added to every channel (the reference's brightness
  change; range ``ILLUMINATION_OFFSET`` on the 0–255 scale), clamped;
- ``saturation``: HSV saturation scaled by a uniform factor in ``SATURATION_FACTOR`` (a cheap
  device-side stand-in for the builder's MSRCR colour enhancement).

All tensors float32 RGB in [0, 1]; images ``(B,3,H,W)``, alpha ``(B,1,H,W)``. The random draws
do not depend on the side.
"""

from __future__ import annotations

import kornia.color
import kornia.enhance
import torch

from hmh_builder import schema

ILLUMINATION_OFFSET = (-100.0, 200.0)
SATURATION_FACTOR = (0.3, 1.8)
TRANSFERS = schema.TRANSFORMS  # FORMAT.md's names, in its order


def _mean_std(lab: torch.Tensor, eps: float = 1e-6, weights: torch.Tensor | None = None):
    """Per-image, per-channel mean and std (std at least ``eps``) of ``(B,3,H,W)``, each
    ``(B,3,1,1)``. With ``weights`` ``(B,1,H,W)`` ≥ 0 (an alpha): μ = Σw·x / Σw and
    σ = sqrt(Σw·(x − μ)² / Σw), the statistics of the weighted region only."""
    if weights is None:
        return lab.mean(dim=(2, 3), keepdim=True), lab.std(dim=(2, 3), keepdim=True).clamp_min(eps)
    total = weights.sum(dim=(2, 3), keepdim=True).clamp_min(eps)
    mean = (weights * lab).sum(dim=(2, 3), keepdim=True) / total
    var = (weights * (lab - mean) ** 2).sum(dim=(2, 3), keepdim=True) / total
    return mean, var.sqrt().clamp_min(eps)


def lab_stats(rgb01: torch.Tensor, eps: float = 1e-6, weights: torch.Tensor | None = None):
    """Per-image, per-channel CIELAB mean and std, each ``(B,3,1,1)`` (L 0..100, a*/b* ±128);
    weighted by ``weights`` ``(B,1,H,W)`` when given (see ``_mean_std``)."""
    return _mean_std(kornia.color.rgb_to_lab(rgb01), eps, weights)


def reinhard_lab(
    source01: torch.Tensor,
    target01: torch.Tensor,
    source_weights: torch.Tensor | None = None,
    target_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Reinhard colour transfer of ``source01`` toward ``target01``'s Lab statistics.

    Per channel in CIELAB: ``(x − μ_src) · σ_tgt/σ_src + μ_tgt``, back to RGB, clipped to [0, 1].
    Both ``(B,3,H,W)`` RGB in [0, 1]; sample k of source is matched to sample k of target.
    ``source_weights``/``target_weights`` ``(B,1,H,W)`` (alphas) restrict each statistic to a
    region (the person, for the foreground side); every source pixel is transformed.
    """
    lab = kornia.color.rgb_to_lab(source01)
    mean_s, std_s = _mean_std(lab, weights=source_weights)
    mean_t, std_t = lab_stats(target01, weights=target_weights)
    return kornia.color.lab_to_rgb((lab - mean_s) * (std_t / std_s) + mean_t, clip=True)


def other_index(n: int, generator: torch.Generator) -> torch.Tensor:
    """For each of n samples the index of a *different* sample (n == 1 → itself)."""
    if n == 1:
        return torch.zeros(1, dtype=torch.long)
    step = torch.randint(1, n, (n,), generator=generator)
    return (torch.arange(n) + step) % n


def _uniform(generator, n, low, high) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def adjust_side(
    image: torch.Tensor, source: torch.Tensor, generator: torch.Generator, alpha: torch.Tensor | None = None
) -> torch.Tensor:
    """T(``source``) ``(B,3,H,W)`` in [0, 1]: one random transfer per sample.

    ``source`` is B (background side: B_t) or I (foreground side: F_t, then ``alpha`` weights
    the Reinhard statistics of the sample and of its partner, so the person is matched to
    another person). Reinhard's target is another image of the batch (``image``). All
    parameters are drawn for every sample (so the stream does not depend on the choices);
    each transfer is computed only for the samples that chose it.
    """
    n, device = source.shape[0], source.device
    choice = torch.randint(0, len(TRANSFERS), (n,), generator=generator)
    partner = other_index(n, generator)
    offset = _uniform(generator, n, *ILLUMINATION_OFFSET) / 255.0
    factor = _uniform(generator, n, *SATURATION_FACTOR)
    out = torch.empty_like(source)
    rows = [torch.nonzero(choice == k).flatten() for k in range(len(TRANSFERS))]
    if len(rows[0]):
        idx = rows[0].to(device)
        other = partner[rows[0]].to(device)
        out[idx] = reinhard_lab(
            source[idx],
            image[other],
            None if alpha is None else alpha[idx],
            None if alpha is None else alpha[other],
        )
    if len(rows[1]):
        idx = rows[1].to(device)
        out[idx] = (source[idx] + offset[rows[1]].to(device).view(-1, 1, 1, 1)).clamp(0.0, 1.0)
    if len(rows[2]):
        idx = rows[2].to(device)
        out[idx] = kornia.enhance.adjust_saturation(source[idx], factor[rows[2]].to(device)).clamp(0.0, 1.0)
    return out


def recomposite(image: torch.Tensor, alpha: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """A·I + (1−A)·B (Eq. 1), all float in [0, 1]; exactly I where A == 1."""
    return torch.where(alpha >= 1, image, alpha * image + (1 - alpha) * background)


def recomposite_foreground(
    image: torch.Tensor, alpha: torch.Tensor, adjusted: torch.Tensor, background: torch.Tensor
) -> torch.Tensor:
    """A·F_t + (1−A)·B with F_t = ``adjusted``, all float in [0, 1]; exactly I where A == 0
    (the untouched side is the real image, as the builder's ``composite_foreground_altered``)."""
    return torch.where(alpha <= 0, image, alpha * adjusted + (1 - alpha) * background)


def online_adjust(
    image: torch.Tensor,
    alpha: torch.Tensor,
    background: torch.Tensor,
    generator: torch.Generator,
    altered: str = "background",
) -> torch.Tensor:
    """A fresh disharmonious composite I_d ``(B,3,H,W)`` from I, A and B, altering the
    ``altered`` side (``schema.ALTERED_SIDES``; see module doc)."""
    if altered == "background":
        return recomposite(image, alpha, adjust_side(image, background, generator))
    if altered == "foreground":
        adjusted = adjust_side(image, image, generator, alpha)
        return recomposite_foreground(image, alpha, adjusted, background)
    raise ValueError(f"altered must be one of {', '.join(schema.ALTERED_SIDES)}, got {altered!r}")
