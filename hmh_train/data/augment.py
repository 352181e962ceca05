"""Device-side batch preparation: uint8 loader batch → float ``Batch`` with trimap.

Everything here runs on the training device (CPU or CUDA) with torch/kornia. Random choices
come from an explicit CPU ``torch.Generator`` (saved in checkpoints, so a resumed run draws the
same crops, trimaps and adjustments); nothing touches the global RNG.

Tensor conventions (``notes/TRAIN_API.md``): images float32 ``(B, 3, H, W)`` RGB in [0, 1];
alpha ``(B, 1, H, W)`` in [0, 1]; trimap ``(B, 1, H, W)`` with values {0, 0.5, 1}. Batches of
harmonization-pair shards (loader items I, I_d, M) have no alpha, background or trimap
(None) and carry ``mask`` ``(B, 1, H, W)`` in {0, 1} instead (1 = the changed region).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from hmh_train.data.adjust import online_adjust

#: Half-width (pixels) of the unknown band added around 0 < A < 1 at evaluation time. Fixed so
#: that evaluation trimaps are deterministic; 10 px at 256×256 is the middle of IndexNet's
#: training range (1–19).
EVAL_TRIMAP_RADIUS = 10
#: IndexNet's training recipe draws the band radius uniformly from this inclusive range.
TRAIN_TRIMAP_RADII = (1, 19)


@dataclass
class Batch:
    """One training batch on the device (float32, RGB, [0, 1]).

    image (I) ``(B,3,H,W)``, alpha (A) ``(B,1,H,W)``, background (B) ``(B,3,H,W)``,
    disharmonious (I_d) ``(B,3,H,W)``, trimap ``(B,1,H,W)`` in {0, 0.5, 1}. From
    harmonization-pair shards: alpha, background and trimap are None and ``mask``
    ``(B,1,H,W)`` in {0, 1} is the stored region to harmonize (1 = changed). ``altered``: the
    side of HMH shards that I_d alters ("background" or "foreground", ``ShardDataset.altered``);
    ``nets.forward.harmonization_mask`` turns it into the U-Net's mask.
    """

    image: torch.Tensor
    alpha: torch.Tensor | None
    background: torch.Tensor | None
    disharmonious: torch.Tensor
    trimap: torch.Tensor | None
    mask: torch.Tensor | None = None
    altered: str = "background"


def squared_distance_to_mask(mask: torch.Tensor, max_radius: int) -> torch.Tensor:
    """Squared Euclidean distance ``(B,1,H,W)`` from each pixel to the nearest set pixel of
    ``mask``, exact up to ``max_radius`` (farther pixels get a value > max_radius²).

    Two separable min-plus passes (rows, then columns) over offsets −r..r: O(r) whole-tensor
    operations instead of a (2r+1)² convolution.
    """
    far = float(2 * (max_radius + 1) ** 2)
    rows = torch.where(mask > 0, 0.0, far).to(torch.float32)
    for dim in (3, 2):
        source, out = rows, rows.clone()
        n = source.shape[dim]
        for k in range(1, min(max_radius, n - 1) + 1):
            cost = float(k * k)
            head, tail = source.narrow(dim, 0, n - k), source.narrow(dim, k, n - k)
            out.narrow(dim, k, n - k).copy_(torch.minimum(out.narrow(dim, k, n - k), head + cost))
            out.narrow(dim, 0, n - k).copy_(torch.minimum(out.narrow(dim, 0, n - k), tail + cost))
        rows = out
    return rows


def trimap_from_alpha(alpha01: torch.Tensor, radius) -> torch.Tensor:
    """Trimap ``(B,1,H,W)`` in {0, 0.5, 1} from alpha ``(B,1,H,W)`` in [0, 1].

    Unknown (0.5) = pixels with 0 < A < 1, widened by a disk of ``radius`` pixels (Euclidean
    distance ≤ radius; IndexNet's recipe dilates with an elliptical structuring element);
    elsewhere 1 where A == 1 and 0 where A == 0. ``radius`` is one int for the whole batch or
    a sequence of one int per sample; radius 0 keeps exactly the 0 < A < 1 band.
    """
    n = alpha01.shape[0]
    radii = [int(radius)] * n if isinstance(radius, int) else [int(r) for r in radius]
    if len(radii) != n:
        raise ValueError(f"got {len(radii)} radii for a batch of {n}")
    unknown = (alpha01 > 0) & (alpha01 < 1)
    distance = squared_distance_to_mask(unknown, max(radii))
    limit = torch.tensor(radii, device=alpha01.device, dtype=torch.float32).view(n, 1, 1, 1) ** 2
    known = (alpha01 >= 1).to(alpha01.dtype)
    return torch.where(distance <= limit, torch.full_like(known, 0.5), known)


def draw_crop_flip(generator: torch.Generator, n: int, crop_min: float, flip: bool) -> torch.Tensor:
    """Affine matrices ``(n, 2, 3)`` (normalised coordinates) for a random crop + flip per sample.

    The crop keeps a square-scaled window whose side is a uniform fraction in [crop_min, 1] of
    the image, at a uniform position inside it; it is resized back to the full size. Flip is
    horizontal with probability 0.5. One matrix per sample is applied to every paired image.
    """
    scale = crop_min + (1.0 - crop_min) * torch.rand(n, generator=generator)
    shift = (1.0 - scale)[:, None] * (2.0 * torch.rand(n, 2, generator=generator) - 1.0)
    sign = torch.ones(n)
    if flip:
        sign = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = scale * sign
    theta[:, 1, 1] = scale
    theta[:, :, 2] = shift
    return theta


def apply_crop_flip(stack: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Apply per-sample affine ``theta (B,2,3)`` to ``stack (B,C,H,W)`` (bilinear, border pad).

    Identity and pure flips reproduce the input exactly (pixel centres are sampled).
    """
    grid = F.affine_grid(theta.to(stack.device, stack.dtype), list(stack.shape), align_corners=False)
    return F.grid_sample(stack, grid, mode="bilinear", padding_mode="border", align_corners=False)


def to_unit(raw: dict, device, keys=("I", "A", "B", "I_d")) -> dict:
    """uint8 loader batch {I, A, B, I_d: (B,C,H,W)} → float32 [0, 1] tensors on ``device``
    (only ``keys``)."""
    non_blocking = torch.device(device).type == "cuda"
    return {key: raw[key].to(device, non_blocking=non_blocking).float().div_(255.0) for key in keys}


def make_pair_batch(
    raw: dict,
    device,
    generator: torch.Generator | None = None,
    train: bool = True,
    crop_min: float = 1.0,
    flip: bool = True,
) -> Batch:
    """A device ``Batch`` from a uint8 loader batch of harmonization pairs {I, I_d, M}.

    Training: one random crop/flip per sample applied to I, I_d and M together (as
    ``make_batch``), the mask re-binarised at 0.5 afterwards; evaluation: as stored.
    """
    t = to_unit(raw, device, ("I", "I_d", "M"))
    if train and (crop_min < 1.0 or flip):
        if generator is None:
            raise ValueError("make_pair_batch(train=True) needs a torch.Generator")
        theta = draw_crop_flip(generator, t["I"].shape[0], crop_min, flip)
        stack = apply_crop_flip(torch.cat([t["I"], t["I_d"], t["M"]], 1), theta)
        stack = stack.mul_(255.0).round_().div_(255.0)
        image, composite_, mask = stack.split([3, 3, 1], dim=1)
        t = {"I": image, "I_d": composite_, "M": (mask >= 0.5).to(mask.dtype)}
    return Batch(t["I"].contiguous(), None, None, t["I_d"].contiguous(), None, t["M"].contiguous())


def make_batch(
    raw: dict,
    device,
    generator: torch.Generator | None = None,
    train: bool = True,
    trimap_radius=None,
    crop_min: float = 1.0,
    flip: bool = True,
    online: bool = False,
    altered: str | None = "background",
) -> Batch:
    """Turn one uint8 loader batch into a device ``Batch``.

    ``altered``: the side the shards' I_d alters (``ShardDataset.altered``), kept on the batch
    and used by ``online``; None (harmonization pairs) reads as background.
    Training (``train=True``, needs ``generator``): one random crop/flip per sample applied to
    I, A, B and I_d together; trimap band radius drawn per sample from ``TRAIN_TRIMAP_RADII``
    unless ``trimap_radius`` is given; with ``online`` a fresh adjustment of that side and
    I_d = A·I + (1−A)·B_t, or A·F_t + (1−A)·B for the foreground
    (``hmh_train.data.adjust.online_adjust``). Evaluation: no crop/flip, radius
    ``trimap_radius`` or ``EVAL_TRIMAP_RADIUS``, the stored I_d. A batch of harmonization
    pairs (key ``M``, no ``A``) goes to :func:`make_pair_batch` (``online`` needs A and B:
    ValueError).
    """
    if "M" in raw and "A" not in raw:
        if online and train:
            raise ValueError(
                "--online-adjust redraws the background of HMH samples; "
                "harmonization-pair shards have no alpha or background"
            )
        return make_pair_batch(raw, device, generator, train, crop_min, flip)
    altered = altered or "background"
    online = online and train  # the stored I_d is then replaced: not copied, cropped or flipped
    t = to_unit(raw, device, ("I", "A", "B") if online else ("I", "A", "B", "I_d"))
    image, alpha, background, disharmonious = t["I"], t["A"], t["B"], t.get("I_d")
    n = image.shape[0]
    if train:
        if generator is None:
            raise ValueError("make_batch(train=True) needs a torch.Generator")
        if crop_min < 1.0 or flip:
            theta = draw_crop_flip(generator, n, crop_min, flip)
            parts = list(t.values())
            stack = apply_crop_flip(torch.cat(parts, 1), theta)
            stack = stack.mul_(255.0).round_().div_(255.0)  # stay on the uint8 grid: 0 and 1 exact
            image, alpha, background, *stored = stack.split([p.shape[1] for p in parts], dim=1)
            disharmonious = stored[0] if stored else None
        if trimap_radius is None:
            low, high = TRAIN_TRIMAP_RADII
            trimap_radius = torch.randint(low, high + 1, (n,), generator=generator).tolist()
        if online:
            disharmonious = online_adjust(image, alpha, background, generator, altered)
    elif trimap_radius is None:
        trimap_radius = EVAL_TRIMAP_RADIUS
    trimap = trimap_from_alpha(alpha, trimap_radius)
    return Batch(
        image.contiguous(),
        alpha.contiguous(),
        background.contiguous(),
        disharmonious.contiguous(),
        trimap,
        altered=altered,
    )
