"""Matting and harmonization metrics in the units papers report (numpy, one image at a time).

Matting (Deep Image Matting's MATLAB evaluation code, the convention of the HMH paper's
Table 1). ``pred``, ``gt``: alpha mattes ``(H, W)``, either **uint8 0–255** or **float 0–1**
(detected by dtype: any integer dtype is read as 0–255, any float dtype as 0–1; values
outside that range raise ValueError rather than being silently mis-scaled). ``trimap``:
``(H, W)`` uint8 {0, 128, 255} or float {0, 0.5, 1}. Pixels are counted where the trimap is
unknown (128 / 0.5) unless ``region="all"`` or an explicit boolean ``(H, W)`` mask is given.

- ``sad``: Σ|p − g| over the region with p, g in 0–1, **÷ 1000** (paper: "SAD 3.96").
- ``mse``: Σ(p − g)² / |region| with p, g in 0–1: a plain fraction, **not** ×1e3 (paper:
  "MSE 0.02"). NaN when the region is empty.
- ``gradient_error``: p, g min-max normalised over the whole image; gradient magnitude from
  first-derivative-of-Gaussian filters (σ = 1.4, 9×9, unit L2 norm, replicated border);
  Σ(|∇p| − |∇g|)² over the region, **÷ 1000**.
- ``connectivity_error``: thresholds t = 0.1, 0.2, …, 1 (k/10, exact); at each, the largest
  4-connected component of {p ≥ t} ∧ {g ≥ t} (zeros are background, never a component);
  l(x) = the last threshold at which x was still in that component (all pixels are at t = 0;
  1 if never dropped); φ = 1 − d·[d ≥ 0.15], d = α − l; Σ|φ_p − φ_g| over the region,
  **÷ 1000**. Ties between equally large components go to the one MATLAB's ``max`` picks:
  the first in column-major order. An empty intersection drops every remaining pixel.

Only DIM's ``compute_sad_loss.m`` divides by 1000 itself; its Grad and Conn functions return
raw sums and the division happens when tables are made. Published tables (and the HMH paper)
report all three ÷ 1000, so every function here returns the divided value.

Harmonization (iHarmony4 convention, 0–255 scale). Images ``(H, W, 3)`` (any channel order,
both the same), uint8 0–255 or float 0–1 (converted to 0–255).

- ``harmonization_mse``: mean squared error over all pixels and channels.
- ``fmse``: squared error summed over the pixels of ``region_mask`` and all channels, divided
  by 3 × (pixels in the region). In HMH that region is the altered side:
  ``altered_region(alpha)`` (the **background**, pixels with α < 1, where the adjusted
  background shows) or ``altered_region(alpha, "foreground")`` (the person, pixels with α > 0,
  for shards built with ``--altered foreground``).
- ``psnr``: 10·log10(255² / harmonization_mse); +inf for identical images.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

GRAD_SIGMA = 1.4
#: DIM's gaussgradient: halfsize = ceil(σ·sqrt(−2·ln(sqrt(2π)·σ·ε))), ε = 0.01 → 4 for σ = 1.4.
GRAD_EPSILON = 1e-2
CONN_STEP = 0.1
CONN_PHI_THRESHOLD = 0.15


def to_unit(x: np.ndarray) -> np.ndarray:
    """Alpha/image to float64 in 0–1: integer dtypes are divided by 255, floats kept as is."""
    x = np.asarray(x)
    if np.issubdtype(x.dtype, np.integer):
        return _checked_255(x) / 255.0
    if np.issubdtype(x.dtype, np.floating) or x.dtype == np.bool_:
        x = x.astype(np.float64)
        if x.size and (x.min() < -1e-6 or x.max() > 1 + 1e-6):
            raise ValueError(
                f"float input must be in 0-1 (got {x.min():g}..{x.max():g}); pass uint8 for 0-255 values"
            )
        return x
    raise TypeError(f"expected an integer (0-255) or float (0-1) array, got dtype {x.dtype}")


def _checked_255(x: np.ndarray) -> np.ndarray:
    """Integer array as float64 0–255; ValueError for values outside 0–255 (e.g. 16-bit PNGs)."""
    if x.size and (x.min() < 0 or x.max() > 255):
        raise ValueError(
            f"integer input must be in 0-255 (got {x.min()}..{x.max()}); convert "
            "16-bit images with >> 8 (or / 65535 as float) first"
        )
    return x.astype(np.float64)


def unknown_mask(trimap: np.ndarray) -> np.ndarray:
    """Boolean ``(H, W)``: unknown pixels of a uint8 {0,128,255} or float {0,0.5,1} trimap."""
    trimap = np.asarray(trimap)
    if np.issubdtype(trimap.dtype, np.integer):
        return trimap == 128
    return trimap == 0.5


def region_mask(trimap, region="unknown", shape=None) -> np.ndarray:
    """Boolean mask of the counted pixels: ``"unknown"`` (trimap), ``"all"``, or a given mask."""
    if isinstance(region, str):
        if region == "unknown":
            if trimap is None:
                raise ValueError("region='unknown' needs a trimap")
            return unknown_mask(trimap)
        if region == "all":
            return np.ones(shape if trimap is None else np.shape(trimap), dtype=bool)
        raise ValueError(f"region must be 'unknown', 'all' or a boolean mask, got {region!r}")
    return np.asarray(region).astype(bool)


def _prepare(pred, gt, trimap, region):
    p, g = to_unit(pred), to_unit(gt)
    if p.shape != g.shape or p.ndim != 2:
        raise ValueError(f"pred and gt must be equal (H, W) arrays, got {p.shape} and {g.shape}")
    mask = region_mask(trimap, region, p.shape)
    if mask.shape != p.shape:
        raise ValueError(f"trimap/region {mask.shape} does not match alpha {p.shape}")
    return p, g, mask


def sad(pred, gt, trimap=None, region="unknown") -> float:
    """Sum of absolute differences over the region, alphas in 0–1, ÷ 1000."""
    p, g, mask = _prepare(pred, gt, trimap, region)
    return float(np.abs(p - g)[mask].sum() / 1000.0)


def mse(pred, gt, trimap=None, region="unknown") -> float:
    """Mean squared error over the region, alphas in 0–1 (a fraction; NaN if the region is empty)."""
    p, g, mask = _prepare(pred, gt, trimap, region)
    count = int(mask.sum())
    return float(((p - g) ** 2)[mask].sum() / count) if count else float("nan")


def alpha_bias(pred, gt, trimap=None, region="unknown") -> float:
    """Mean *signed* error A_r − A over the region, alphas in 0–1 (positive: the matte is too
    wide, e.g. the trivial optimum of the paper's critic fake; NaN if the region is empty)."""
    p, g, mask = _prepare(pred, gt, trimap, region)
    count = int(mask.sum())
    return float((p - g)[mask].sum() / count) if count else float("nan")


def gaussian_gradient_kernels(sigma: float = GRAD_SIGMA, epsilon: float = GRAD_EPSILON):
    """(kx, ky) float64 kernels of DIM's ``gaussgradient``: G(y)·G'(x), unit L2 norm; ky = kx.T."""
    half = math.ceil(sigma * math.sqrt(-2.0 * math.log(math.sqrt(2 * math.pi) * sigma * epsilon)))
    u = np.arange(-half, half + 1, dtype=np.float64)
    gauss = np.exp(-(u**2) / (2 * sigma**2)) / (sigma * math.sqrt(2 * math.pi))
    dgauss = -u * gauss / sigma**2
    kx = gauss[:, None] * dgauss[None, :]  # rows: Gaussian along y; columns: derivative along x
    kx = kx / np.sqrt((kx**2).sum())
    return kx, kx.T.copy()


def minmax_normalise(x: np.ndarray) -> np.ndarray:
    """(x − min) / (max − min) over the whole image (MATLAB ``mat2gray``); zeros if constant."""
    low, high = float(x.min()), float(x.max())
    if high == low:
        return np.zeros_like(x, dtype=np.float64)
    return (x - low) / (high - low)


def gradient_magnitude(x: np.ndarray, sigma: float = GRAD_SIGMA) -> np.ndarray:
    """|∇x| ``(H, W)`` float64 with the Gaussian-derivative kernels, replicated border."""
    kx, ky = gaussian_gradient_kernels(sigma)
    x = np.asarray(x, dtype=np.float64)
    gx = cv2.filter2D(x, cv2.CV_64F, kx, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.filter2D(x, cv2.CV_64F, ky, borderType=cv2.BORDER_REPLICATE)
    return np.sqrt(gx**2 + gy**2)


def gradient_error(pred, gt, trimap=None, region="unknown", sigma: float = GRAD_SIGMA) -> float:
    """Σ(|∇p| − |∇g|)² over the region after min-max normalisation, ÷ 1000."""
    p, g, mask = _prepare(pred, gt, trimap, region)
    diff = gradient_magnitude(minmax_normalise(p), sigma) - gradient_magnitude(minmax_normalise(g), sigma)
    return float((diff**2)[mask].sum() / 1000.0)


def largest_component(binary: np.ndarray) -> np.ndarray:
    """Boolean mask of the largest 4-connected True component (ties: first in column-major order).

    All-False input gives an all-False mask (the background is never a component).
    """
    count, labels = cv2.connectedComponents(binary.astype(np.uint8), connectivity=4, ltype=cv2.CV_32S)
    if count <= 1:
        return np.zeros(binary.shape, dtype=bool)
    sizes = np.bincount(labels.ravel(), minlength=count)[1:]
    tied = np.flatnonzero(sizes == sizes.max()) + 1
    if len(tied) > 1:  # MATLAB's bwconncomp numbers components in column-major order
        column_major = labels.T.ravel()
        first = np.array([np.argmax(column_major == label) for label in tied])
        tied = tied[np.argsort(first)]
    return labels == tied[0]


def connectivity_levels(p: np.ndarray, g: np.ndarray, step: float = CONN_STEP) -> np.ndarray:
    """l(x) ``(H, W)``: the last threshold at which x was in the largest common component."""
    steps = int(round(1.0 / step))
    thresholds = np.arange(steps + 1) / steps  # k/steps: 0.6 is exactly 0.6 (not 6 × 0.1)
    level = np.full(p.shape, -1.0)
    for k in range(1, steps + 1):
        omega = largest_component((p >= thresholds[k]) & (g >= thresholds[k]))
        level[(level == -1) & ~omega] = thresholds[k - 1]
    level[level == -1] = 1.0
    return level


def connectivity_error(pred, gt, trimap=None, region="unknown", step: float = CONN_STEP) -> float:
    """Σ|φ_p − φ_g| over the region, φ = 1 − d·[d ≥ 0.15], d = α − l(x), ÷ 1000."""
    p, g, mask = _prepare(pred, gt, trimap, region)
    level = connectivity_levels(p, g, step)
    dp, dg = p - level, g - level
    phi_p = 1.0 - dp * (dp >= CONN_PHI_THRESHOLD)
    phi_g = 1.0 - dg * (dg >= CONN_PHI_THRESHOLD)
    return float(np.abs(phi_p - phi_g)[mask].sum() / 1000.0)


def _to_255(x) -> np.ndarray:
    x = np.asarray(x)
    return _checked_255(x) if np.issubdtype(x.dtype, np.integer) else to_unit(x) * 255.0


def altered_region(alpha, altered: str = "background") -> np.ndarray:
    """HMH's altered region ``(H, W)`` bool, where I_d differs from I: the background, every
    pixel with α < 1 (uint8 < 255), or with ``altered="foreground"`` the person, every pixel
    with α > 0 (uint8 > 0)."""
    if altered == "background":
        return to_unit(alpha) < 1.0
    if altered == "foreground":
        return to_unit(alpha) > 0.0
    raise ValueError(f"altered must be 'background' or 'foreground', got {altered!r}")


def harmonization_mse(pred, gt) -> float:
    """Mean squared error over all pixels and channels on the 0–255 scale."""
    p, g = _to_255(pred), _to_255(gt)
    if p.shape != g.shape:
        raise ValueError(f"pred {p.shape} and gt {g.shape} differ in shape")
    return float(((p - g) ** 2).mean())


def fmse(pred, gt, region_mask) -> float:
    """Squared error summed over ``region_mask`` pixels and all channels / (3 × region pixels).

    ``pred``, ``gt``: ``(H, W, 3)``; ``region_mask``: ``(H, W)`` bool (HMH: ``altered_region``).
    0–255 scale; NaN for an empty region.
    """
    p, g = _to_255(pred), _to_255(gt)
    mask = np.asarray(region_mask).astype(bool)
    if p.shape != g.shape or p.shape[:2] != mask.shape:
        raise ValueError(f"shapes differ: pred {p.shape}, gt {g.shape}, region {mask.shape}")
    count = int(mask.sum())
    if count == 0:
        return float("nan")
    return float(((p - g) ** 2)[mask].sum() / (p.shape[2] * count))


def psnr(pred, gt) -> float:
    """Peak signal-to-noise ratio in dB with a fixed peak of 255; +inf for identical images."""
    error = harmonization_mse(pred, gt)
    return float("inf") if error == 0 else float(10.0 * math.log10(255.0**2 / error))
