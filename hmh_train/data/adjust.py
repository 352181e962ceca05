"""Online background adjustment on the device (``--online-adjust``).

Each call re-draws an adjusted background B_t from B for every sample and re-composites
I_d = A·I + (1−A)·B_t (the paper's Eq. 1), so every epoch sees fresh disharmonious
composites instead of the one stored in the shard. One of three transfers per sample, chosen
uniformly (as the builder does):

- ``reinhard``: per-channel mean/std matching in CIELAB (Reinhard et al. 2001, the CIELAB
  variant the HMH reference uses, without its a*/b* swap and clamp bugs) toward the statistics
  of *another* image I_t of the same batch;
- ``illumination``: one uniform offset added to every channel (the reference's brightness
  change; range ``ILLUMINATION_OFFSET`` on the 0–255 scale), clamped;
- ``saturation``: HSV saturation scaled by a uniform factor in ``SATURATION_FACTOR`` (a cheap
  device-side stand-in for the builder's MSRCR colour enhancement).

All tensors float32 RGB in [0, 1]; images ``(B,3,H,W)``, alpha ``(B,1,H,W)``.
"""
from __future__ import annotations

import kornia.color
import kornia.enhance
import torch

from hmh_builder import schema

ILLUMINATION_OFFSET = (-100.0, 200.0)
SATURATION_FACTOR = (0.3, 1.8)
TRANSFERS = schema.TRANSFORMS  # FORMAT.md's names, in its order


def _mean_std(lab: torch.Tensor, eps: float = 1e-6):
    """Per-image, per-channel mean and std (std at least ``eps``) of ``(B,3,H,W)``, each ``(B,3,1,1)``."""
    return lab.mean(dim=(2, 3), keepdim=True), lab.std(dim=(2, 3), keepdim=True).clamp_min(eps)


def lab_stats(rgb01: torch.Tensor, eps: float = 1e-6):
    """Per-image, per-channel CIELAB mean and std, each ``(B,3,1,1)`` (L 0..100, a*/b* ±128)."""
    return _mean_std(kornia.color.rgb_to_lab(rgb01), eps)


def reinhard_lab(source01: torch.Tensor, target01: torch.Tensor) -> torch.Tensor:
    """Reinhard colour transfer of ``source01`` toward ``target01``'s Lab statistics.

    Per channel in CIELAB: ``(x − μ_src) · σ_tgt/σ_src + μ_tgt``, back to RGB, clipped to [0, 1].
    Both ``(B,3,H,W)`` RGB in [0, 1]; sample k of source is matched to sample k of target.
    """
    lab = kornia.color.rgb_to_lab(source01)
    mean_s, std_s = _mean_std(lab)
    mean_t, std_t = lab_stats(target01)
    return kornia.color.lab_to_rgb((lab - mean_s) * (std_t / std_s) + mean_t, clip=True)


def other_index(n: int, generator: torch.Generator) -> torch.Tensor:
    """For each of n samples the index of a *different* sample (n == 1 → itself)."""
    if n == 1:
        return torch.zeros(1, dtype=torch.long)
    step = torch.randint(1, n, (n,), generator=generator)
    return (torch.arange(n) + step) % n


def _uniform(generator, n, low, high) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def adjust_background(image: torch.Tensor, background: torch.Tensor,
                      generator: torch.Generator) -> torch.Tensor:
    """B_t ``(B,3,H,W)`` in [0, 1]: one random transfer per sample applied to ``background``.

    All parameters are drawn for every sample (so the stream does not depend on the choices);
    each transfer is computed only for the samples that chose it.
    """
    n, device = background.shape[0], background.device
    choice = torch.randint(0, len(TRANSFERS), (n,), generator=generator)
    partner = other_index(n, generator)
    offset = _uniform(generator, n, *ILLUMINATION_OFFSET) / 255.0
    factor = _uniform(generator, n, *SATURATION_FACTOR)
    out = torch.empty_like(background)
    rows = [torch.nonzero(choice == k).flatten() for k in range(len(TRANSFERS))]
    if len(rows[0]):
        idx = rows[0].to(device)
        out[idx] = reinhard_lab(background[idx], image[partner[rows[0]].to(device)])
    if len(rows[1]):
        idx = rows[1].to(device)
        out[idx] = (background[idx] + offset[rows[1]].to(device).view(-1, 1, 1, 1)).clamp(0.0, 1.0)
    if len(rows[2]):
        idx = rows[2].to(device)
        out[idx] = kornia.enhance.adjust_saturation(background[idx], factor[rows[2]].to(device)).clamp(0.0, 1.0)
    return out


def recomposite(image: torch.Tensor, alpha: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """A·I + (1−A)·B (Eq. 1), all float in [0, 1]; exactly I where A == 1."""
    return torch.where(alpha >= 1, image, alpha * image + (1 - alpha) * background)


def online_adjust(image: torch.Tensor, alpha: torch.Tensor, background: torch.Tensor,
                  generator: torch.Generator) -> torch.Tensor:
    """A fresh disharmonious composite I_d ``(B,3,H,W)`` from I, A and B (see module doc)."""
    return recomposite(image, alpha, adjust_background(image, background, generator))
