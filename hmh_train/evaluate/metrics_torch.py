"""Batched torch versions of ``hmh_train.evaluate.metrics`` (same definitions, same units; CPU or CUDA).

Alphas: ``(B, H, W)`` or ``(B, 1, H, W)`` tensors, uint8 0–255 or float 0–1 (detected by
dtype). Trimaps: same shape, uint8 {0, 128, 255} or float {0, 0.5, 1}. ``region`` is
``"unknown"`` (default), ``"all"`` or a boolean tensor of the alpha's shape. Images for the
harmonization metrics: ``(B, 3, H, W)`` uint8 0–255 or float 0–1. Every function returns a
float64 ``(B,)`` tensor on the input's device: one value per sample, exactly what the numpy
function returns for that sample (computation is in float64).

Connected components (for Conn) are found on the device by min-label propagation over the
4-neighbourhood with pointer jumping, for all samples and all thresholds at once.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hmh_train.evaluate import metrics as np_metrics


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """float64 in 0–1: integer dtypes ÷ 255, floats unchanged; ``(B,1,H,W)`` squeezed to ``(B,H,W)``."""
    if x.dim() == 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.dtype.is_floating_point or x.dtype == torch.bool:
        return x.to(torch.float64)
    return x.to(torch.float64) / 255.0


def _mask(trimap, region, like: torch.Tensor) -> torch.Tensor:
    if isinstance(region, str):
        if region == "all":
            return torch.ones_like(like, dtype=torch.bool)
        if region != "unknown" or trimap is None:
            raise ValueError(f"region must be 'unknown' (with a trimap), 'all' or a mask, got {region!r}")
        t = trimap[:, 0] if trimap.dim() == 4 else trimap
        return t == 128 if not t.dtype.is_floating_point else t == 0.5
    m = region[:, 0] if region.dim() == 4 else region
    return m.to(torch.bool)


def _prepare(pred, gt, trimap, region):
    p, g = to_unit(pred), to_unit(gt)
    if p.shape != g.shape or p.dim() != 3:
        raise ValueError(
            f"pred and gt must be equal (B, H, W) tensors, got {tuple(p.shape)}, {tuple(g.shape)}"
        )
    mask = _mask(trimap, region, p).to(p.device)
    if mask.shape != p.shape:
        raise ValueError(f"trimap/region {tuple(mask.shape)} does not match alpha {tuple(p.shape)}")
    return p, g, mask


def sad(pred, gt, trimap=None, region="unknown") -> torch.Tensor:
    """Σ|p − g| over the region, alphas 0–1, ÷ 1000; ``(B,)``."""
    p, g, mask = _prepare(pred, gt, trimap, region)
    return ((p - g).abs() * mask).sum((1, 2)) / 1000.0


def mse(pred, gt, trimap=None, region="unknown") -> torch.Tensor:
    """Σ(p − g)² / |region|, alphas 0–1 (NaN for an empty region); ``(B,)``."""
    p, g, mask = _prepare(pred, gt, trimap, region)
    return ((p - g) ** 2 * mask).sum((1, 2)) / mask.sum((1, 2)).to(torch.float64)


def gradient_magnitude(x: torch.Tensor, sigma: float = np_metrics.GRAD_SIGMA) -> torch.Tensor:
    """|∇x| ``(B, H, W)`` float64, Gaussian-derivative kernels, replicated border."""
    kx, ky = np_metrics.gaussian_gradient_kernels(sigma)
    half = kx.shape[0] // 2
    weight = torch.as_tensor(kx[None], dtype=torch.float64, device=x.device)
    weight = torch.stack([weight, torch.as_tensor(ky[None], dtype=torch.float64, device=x.device)])
    padded = F.pad(x[:, None].to(torch.float64), (half,) * 4, mode="replicate")
    grads = F.conv2d(padded, weight)  # correlation; the sign flip of true convolution cancels
    return grads.pow(2).sum(1).sqrt()


def minmax_normalise(x: torch.Tensor) -> torch.Tensor:
    """Per-sample (x − min)/(max − min) over the image; zeros for a constant sample."""
    low = x.amin((1, 2), keepdim=True)
    span = x.amax((1, 2), keepdim=True) - low
    return torch.where(
        span > 0, (x - low) / torch.where(span > 0, span, torch.ones_like(span)), torch.zeros_like(x)
    )


def gradient_error(pred, gt, trimap=None, region="unknown", sigma=np_metrics.GRAD_SIGMA) -> torch.Tensor:
    """Σ(|∇p| − |∇g|)² over the region after min-max normalisation, ÷ 1000; ``(B,)``."""
    p, g, mask = _prepare(pred, gt, trimap, region)
    diff = gradient_magnitude(minmax_normalise(p), sigma) - gradient_magnitude(minmax_normalise(g), sigma)
    return (diff**2 * mask).sum((1, 2)) / 1000.0


def component_labels(binary: torch.Tensor) -> torch.Tensor:
    """4-connected labels ``(N, H, W)`` int64: each True pixel gets the smallest row-major index
    of its component; False pixels get H·W (a sentinel)."""
    n, h, w = binary.shape
    sentinel = h * w
    index = torch.arange(h * w, device=binary.device, dtype=torch.int32).view(1, h, w)
    labels = torch.where(binary, index, torch.full_like(index, sentinel))
    tail = torch.full((n, 1), sentinel, device=binary.device, dtype=torch.int32)
    while True:
        padded = F.pad(labels, (1, 1, 1, 1), value=sentinel)
        new = torch.minimum(
            torch.minimum(padded[:, 1:-1, :-2], padded[:, 1:-1, 2:]),
            torch.minimum(padded[:, :-2, 1:-1], padded[:, 2:, 1:-1]),
        )
        new = torch.where(binary, torch.minimum(labels, new), labels)
        flat = torch.cat([new.reshape(n, -1), tail], 1)
        new = flat.gather(1, new.reshape(n, -1).long()).view(n, h, w)  # pointer jumping
        if torch.equal(new, labels):
            return labels.long()
        labels = new


def largest_component(binary: torch.Tensor) -> torch.Tensor:
    """Boolean ``(N, H, W)``: the largest 4-connected component per sample (ties: first in
    column-major order, as MATLAB); all False where nothing is set."""
    n, h, w = binary.shape
    labels = component_labels(binary).reshape(n, -1)
    sizes = torch.zeros(n, h * w + 1, dtype=torch.int64, device=binary.device)
    sizes.scatter_add_(1, labels, torch.ones_like(labels))
    sizes[:, -1] = 0
    column_major = torch.arange(h * w, device=binary.device).view(w, h).t().reshape(1, -1).expand(n, -1)
    first = torch.full((n, h * w + 1), h * w, dtype=torch.int64, device=binary.device)
    first.scatter_reduce_(1, labels, column_major, reduce="amin")
    biggest = sizes.amax(1, keepdim=True)
    score = torch.where((sizes == biggest) & (sizes > 0), first, torch.full_like(first, h * w + 1))
    chosen = score.argmin(1, keepdim=True)
    return ((labels == chosen) & (biggest > 0)).view(n, h, w)


def connectivity_levels(p: torch.Tensor, g: torch.Tensor, step: float = np_metrics.CONN_STEP) -> torch.Tensor:
    """l(x) ``(B, H, W)`` float64: last threshold k·step at which x was in the largest common component."""
    steps = int(round(1.0 / step))
    thresholds = torch.arange(steps + 1, dtype=torch.float64, device=p.device) / steps
    b, h, w = p.shape
    t = thresholds[1:].view(1, steps, 1, 1)
    both = ((p[:, None] >= t) & (g[:, None] >= t)).reshape(b * steps, h, w)
    dropped = ~largest_component(both).view(b, steps, h, w)
    index = torch.arange(steps, device=p.device).view(1, steps, 1, 1)
    first = torch.where(dropped, index, torch.full_like(index, steps)).amin(1)  # i ↔ threshold i + 1
    return torch.where(first < steps, thresholds[first.clamp(max=steps - 1)], torch.ones_like(p))


def connectivity_error(pred, gt, trimap=None, region="unknown", step=np_metrics.CONN_STEP) -> torch.Tensor:
    """Σ|φ_p − φ_g| over the region, φ = 1 − d·[d ≥ 0.15], d = α − l, ÷ 1000; ``(B,)``."""
    p, g, mask = _prepare(pred, gt, trimap, region)
    level = connectivity_levels(p, g, step)
    dp, dg = p - level, g - level
    phi_p = 1.0 - dp * (dp >= np_metrics.CONN_PHI_THRESHOLD)
    phi_g = 1.0 - dg * (dg >= np_metrics.CONN_PHI_THRESHOLD)
    return ((phi_p - phi_g).abs() * mask).sum((1, 2)) / 1000.0


def _to_255(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.float64) * (255.0 if x.dtype.is_floating_point else 1.0)


def altered_region(alpha: torch.Tensor, altered: str = "background") -> torch.Tensor:
    """HMH's altered region, bool, same shape as ``alpha``: the background (α < 1) or, with
    ``altered="foreground"``, the person (α > 0)."""
    unit = alpha.to(torch.float64) / (1.0 if alpha.dtype.is_floating_point else 255.0)
    if altered == "background":
        return unit < 1.0
    if altered == "foreground":
        return unit > 0.0
    raise ValueError(f"altered must be 'background' or 'foreground', got {altered!r}")


def harmonization_mse(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Per-sample MSE over all pixels and channels, 0–255 scale; ``(B,)``."""
    return ((_to_255(pred) - _to_255(gt)) ** 2).flatten(1).mean(1)


def fmse(pred: torch.Tensor, gt: torch.Tensor, region_mask: torch.Tensor) -> torch.Tensor:
    """Σ over region pixels and channels of squared error / (C × region pixels); ``(B,)``.

    ``region_mask``: ``(B, H, W)`` or ``(B, 1, H, W)`` bool (HMH: ``altered_region(alpha)``).
    """
    mask = (region_mask[:, 0] if region_mask.dim() == 4 else region_mask).to(torch.float64)
    err = ((_to_255(pred) - _to_255(gt)) ** 2).sum(1)
    return (err * mask).sum((1, 2)) / (pred.shape[1] * mask.sum((1, 2)))


def psnr(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Per-sample PSNR (dB) with peak 255; +inf for identical images; ``(B,)``."""
    return 10.0 * torch.log10(255.0**2 / harmonization_mse(pred, gt))
