"""Forward passes shared by training, evaluation and inference: the ``Nets`` container, the
wrapper-stripping ``unwrap``, IndexNet's input normalisation (``predict_alpha``) and the
U-Net's (``harmonize``).

Images are float ``(B,3,H,W)`` RGB in [0, 1]; alpha ``(B,1,H,W)`` in [0, 1]; trimap
``(B,1,H,W)`` in {0, 0.5, 1}. IndexNet sees ImageNet-normalised RGB + trimap; the U-Net and the
critic see [−1, 1].
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F

NET_NAMES = ("matting", "harmonization", "discriminator")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class Nets:
    """The three networks; any may be None for single-task runs."""

    matting: torch.nn.Module | None = None
    harmonization: torch.nn.Module | None = None
    discriminator: torch.nn.Module | None = None


def unwrap(module):
    """The plain module inside DDP and/or torch.compile wrappers."""
    module = getattr(module, "module", module)  # DistributedDataParallel
    return getattr(module, "_orig_mod", module)  # torch.compile


def unknown_mask(trimap: torch.Tensor) -> torch.Tensor:
    """Float mask ``(B,1,H,W)``: 1 where the trimap is unknown (0.5), else 0."""
    return ((trimap > 0.25) & (trimap < 0.75)).to(trimap.dtype)


def to_pm1(x):
    """[0, 1] → [−1, 1] (the U-Net's and the critic's input range)."""
    return x * 2 - 1


@functools.lru_cache(maxsize=None)
def _imagenet_stats(device: torch.device, dtype: torch.dtype):
    """ImageNet mean and std ``(1,3,1,1)`` on ``device``: built once, not copied to the device
    every step."""
    with torch.inference_mode(False):  # usable by training even if first built under inference
        return (torch.tensor(IMAGENET_MEAN, device=device, dtype=dtype).view(1, 3, 1, 1),
                torch.tensor(IMAGENET_STD, device=device, dtype=dtype).view(1, 3, 1, 1))


def predict_alpha(matting_net, image, trimap, raw: bool = False):
    """A_r ``(B,1,H,W)`` float32: IndexNet on (ImageNet-normalised I, trimap), known pixels pasted.

    ``A_r = M·pred + (1 − M)·T`` with M the unknown mask. ``pred`` is clamped to [0, 1] unless
    ``raw`` (training losses use the raw output, as IndexNet does). Sizes that are not multiples
    of 32 are resized (bilinear; trimap nearest) and the prediction resized back.
    """
    mean, std = _imagenet_stats(image.device, image.dtype)
    x = torch.cat(((image - mean) / std, trimap), dim=1)
    h, w = image.shape[2:]
    size = (max(32, round(h / 32) * 32), max(32, round(w / 32) * 32))
    if size != (h, w):
        x = torch.cat((F.interpolate(x[:, :3], size=size, mode="bilinear", align_corners=False),
                       F.interpolate(x[:, 3:], size=size, mode="nearest")), dim=1)
    pred = matting_net(x).float()
    if size != (h, w):
        pred = F.interpolate(pred, size=(h, w), mode="bilinear", align_corners=False)
    if not raw:
        pred = pred.clamp(0, 1)
    mask = unknown_mask(trimap)
    return mask * pred + (1 - mask) * trimap


def harmonize(harmonization_net, composite01, alpha01):
    """I_h ``(B,3,H,W)`` float32 in [0, 1] from a composite in [0, 1] and its alpha/mask."""
    x = torch.cat((to_pm1(composite01), alpha01), dim=1)
    return (harmonization_net(x).float() + 1) / 2


def harmonization_mask(batch):
    """The U-Net's mask input ``(B,1,H,W)`` for a ``data.augment.Batch``: the region to adjust.

    Harmonization-pair shards (iHarmony4) carry it: ``batch.mask`` (1 on the changed region)
    is used as stored. HMH batches derive it from the alpha (today: the alpha itself, as the
    U-Net has been trained so far). The one place that chooses the mask for training,
    validation and previews.
    """
    return batch.mask if batch.mask is not None else batch.alpha
