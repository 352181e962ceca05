"""Composition of new portraits: predict A_r, composite onto a new background, harmonize.

Pure functions on arrays/tensors (no files; ``hmh_train.infer.composite`` does the file I/O).

Conventions: images float32 RGB in [0, 1], torch ``(B, 3, H, W)``; alpha ``(B, 1, H, W)`` in
[0, 1]; trimaps ``(B, 1, H, W)`` in {0, 0.5, 1}. Numpy helpers take uint8 ``(H, W[, 3])``.

- Any image size works: the matting net runs at the size rounded to multiples of 32 (IndexNet's
  test-time rule, in ``steps.predict_alpha``: resize, predict, resize back, clip, paste the
  known trimap regions at full resolution); the harmonization net runs at the size rounded to multiples of 2**num_downs
  (256 for the paper's U-Net), or at a given square size, and its *change* (I_h − composite at that size) is resized back
  and added to the full-resolution composite, so full-resolution detail is kept. At sizes that
  are already multiples (e.g. HMH's 256×256) both steps are exactly the plain network calls.
  ``compose`` runs the U-Net at ``HARMONIZE_SIDE``² (the training size, aspect not kept, as in
  the HMH set), since harmonization is a global colour/illumination change; evaluation runs it
  at the shards' own size.
- A coarse mask becomes a trimap by ``trimap_from_mask``: mask binarised at 50 %, foreground =
  mask eroded by a disk of ``band`` pixels, background = outside the mask dilated by ``band``,
  unknown in between (a band 2·``band`` wide around the mask edge).
- A new background is fitted to the portrait by ``fit_background``: scaled (aspect kept) until
  it covers the portrait, then centre-cropped.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F

#: Half-width (pixels) of the unknown band a coarse mask gets on each side of its edge.
MASK_BAND = 10
#: Side of the square the U-Net runs at when composing: HMH's training size (256×256; the
#: builder resizes portraits to it without keeping the aspect, so the same is done here).
HARMONIZE_SIDE = 256


def composite(image: torch.Tensor, alpha: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """I·A + B·(1 − A): ``image``, ``background`` ``(B,3,H,W)``, ``alpha`` ``(B,1,H,W)``, all [0, 1]."""
    if image.shape != background.shape or alpha.shape[-2:] != image.shape[-2:]:
        raise ValueError(
            f"image {tuple(image.shape)}, alpha {tuple(alpha.shape)} and background "
            f"{tuple(background.shape)} must share H and W"
        )
    return image * alpha + background * (1.0 - alpha)


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def trimap_from_mask(mask: np.ndarray, band: int = MASK_BAND) -> np.ndarray:
    """uint8 trimap {0, 128, 255} ``(H, W)`` from a coarse mask (uint8 0–255 or bool/float 0–1).

    Foreground (255) = mask ≥ 50 % eroded by a disk of radius ``band``; background (0) = not in
    the mask dilated by the same disk; unknown (128) in between. ``band`` 0 gives no unknown.
    """
    mask = np.asarray(mask)
    binary = (mask >= 128) if np.issubdtype(mask.dtype, np.integer) else (mask >= 0.5)
    binary = binary.astype(np.uint8)
    if band <= 0:
        return binary * 255
    inner = cv2.erode(binary, _disk(band), borderType=cv2.BORDER_REPLICATE)
    outer = cv2.dilate(binary, _disk(band), borderType=cv2.BORDER_REPLICATE)
    trimap = np.full(mask.shape[:2], 128, np.uint8)
    trimap[inner > 0] = 255
    trimap[outer == 0] = 0
    return trimap


def fit_background(background: np.ndarray, height: int, width: int) -> np.ndarray:
    """Scale ``background`` (H', W', 3) uint8 to cover (height, width) keeping its aspect, then
    centre-crop to exactly (height, width, 3). Area interpolation when shrinking, cubic else."""
    bh, bw = background.shape[:2]
    scale = max(height / bh, width / bw)
    new_h, new_w = max(height, math.ceil(bh * scale - 1e-9)), max(width, math.ceil(bw * scale - 1e-9))
    if (new_h, new_w) != (bh, bw):
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        background = cv2.resize(background, (new_w, new_h), interpolation=interp)
    top, left = (new_h - height) // 2, (new_w - width) // 2
    return np.ascontiguousarray(background[top : top + height, left : left + width])


def round_to_multiple(size: int, multiple: int) -> int:
    """The nearest positive multiple of ``multiple`` to ``size``."""
    return max(multiple, int(round(size / multiple)) * multiple)


def _resize(x: torch.Tensor, size, mode: str) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    kwargs = {} if mode == "nearest" else {"align_corners": False}
    return F.interpolate(x, size=size, mode=mode, **kwargs)


def trimap_to_unit(trimap: np.ndarray) -> torch.Tensor:
    """uint8 {0,128,255} ``(H, W)`` trimap → float ``(1, 1, H, W)`` in {0, 0.5, 1}."""
    t = torch.from_numpy(np.asarray(trimap)).float()
    out = torch.where(t >= 192, 1.0, torch.where(t >= 64, 0.5, 0.0))
    return out[None, None]


def trimap_to_uint8(trimap: torch.Tensor) -> np.ndarray:
    """float trimap in {0, 0.5, 1} (any shape) → uint8 {0, 128, 255} numpy."""
    t = trimap.detach().cpu()
    return torch.where(t >= 0.75, 255, torch.where(t >= 0.25, 128, 0)).to(torch.uint8).numpy()


@torch.no_grad()
def predict_alpha_any_size(matting_net, image: torch.Tensor, trimap: torch.Tensor) -> torch.Tensor:
    """A_r ``(B,1,H,W)`` in [0, 1] for any H, W: ``steps.predict_alpha`` (resizes to multiples
    of 32 and back, clamps, pastes the known trimap regions at full resolution)."""
    from hmh_train.nets.forward import predict_alpha

    return predict_alpha(matting_net, image, trimap)


@torch.no_grad()
def harmonize_any_size(
    harmonization_net,
    composite01: torch.Tensor,
    mask01: torch.Tensor,
    work_side: int | None = None,
    output: str = "paper",
) -> torch.Tensor:
    """I_h ``(B,3,H,W)`` in [0, 1] for any H, W; ``mask01`` ``(B,1,H,W)`` marks the region to
    adjust (``forward.region_mask(alpha, altered)``: 1 − alpha for the background, alpha for
    the person); ``output`` is the harmonizer's output form (``forward.harmonize``).

    The U-Net runs at ``work_side``×``work_side`` (rounded to a multiple of 2**num_downs), or
    with ``work_side`` None at H×W rounded to such multiples (a network with an ``input_size``,
    DIH, always at that side); its change (proposal − composite
    at that size) is resized to H×W and added to the full-resolution composite, and the
    ``keep``/``residual`` forms then keep the full-resolution composite where the full-resolution
    mask is 0 (``forward.finish_harmonized``). When the working size equals H×W this is exactly
    ``forward.harmonize``. Clamped to [0, 1].
    """
    from hmh_train.nets.forward import finish_harmonized, harmonize, harmonizer_proposal

    multiple = 2 ** int(getattr(harmonization_net, "num_downs", 8))
    size = tuple(composite01.shape[-2:])
    sides = size if work_side is None else (work_side, work_side)
    work = tuple(round_to_multiple(s, multiple) for s in sides)
    fixed = getattr(harmonization_net, "input_size", None)  # DIH: one input side only
    if fixed is not None:
        work = (fixed, fixed)
    if work == size:
        return harmonize(harmonization_net, composite01, mask01, output).clamp(0.0, 1.0)
    small = _resize(composite01, work, "bilinear")
    proposal = harmonizer_proposal(harmonization_net, small, _resize(mask01, work, "bilinear"), output)
    full = composite01 + _resize(proposal - small, size, "bilinear")
    return finish_harmonized(full, composite01, mask01, output).clamp(0.0, 1.0)


def compose(
    nets,
    image: torch.Tensor,
    background: torch.Tensor,
    trimap: torch.Tensor | None = None,
    alpha: torch.Tensor | None = None,
    harmonize_side: int | None = HARMONIZE_SIDE,
    altered: str = "background",
) -> dict:
    """The paper's test phase for one batch: {"alpha", "composite", "harmonized"} tensors.

    ``alpha`` given → used as is; else ``trimap`` and ``nets.matting`` predict A_r.
    ``harmonized`` is None when ``nets.harmonization`` is None; the U-Net runs at
    ``harmonize_side`` (see ``harmonize_any_size``; None = full resolution) with the mask
    ``region_mask(alpha, altered)``: 1 − alpha for "background" (the new scene is adjusted to
    the person, the paper's setting) or alpha for "foreground" (the person is adjusted to the
    scene, the paper's Fig. 6 variant), in the output form ``nets.harmonizer_output``.
    """
    from hmh_train.nets.forward import region_mask

    if alpha is None:
        if trimap is None or getattr(nets, "matting", None) is None:
            raise ValueError("without an alpha, compose needs a trimap and a matting network")
        alpha = predict_alpha_any_size(nets.matting, image, trimap)
    plain = composite(image, alpha, background)
    harmonized = None
    if getattr(nets, "harmonization", None) is not None:
        harmonized = harmonize_any_size(
            nets.harmonization,
            plain,
            region_mask(alpha, altered),
            harmonize_side,
            getattr(nets, "harmonizer_output", "paper"),
        )
    return {"alpha": alpha, "composite": plain, "harmonized": harmonized}


def to_tensor(image: np.ndarray, device="cpu") -> torch.Tensor:
    """uint8 ``(H, W, 3)`` RGB → float ``(1, 3, H, W)`` in [0, 1]; ``(H, W)`` → ``(1, 1, H, W)``."""
    t = torch.from_numpy(np.ascontiguousarray(image)).to(device).float() / 255.0
    return t[None, None] if t.dim() == 2 else t.permute(2, 0, 1)[None]


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float ``(1, C, H, W)`` in [0, 1] → uint8 ``(H, W, C)`` (``(H, W)`` for C = 1), rounded."""
    a = (x[0].detach().float().cpu().clamp(0, 1) * 255.0).round().to(torch.uint8)
    return a[0].numpy() if a.shape[0] == 1 else a.permute(1, 2, 0).numpy()
