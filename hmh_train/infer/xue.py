"""Xue et al. 2012, "Understanding and improving the realism of image composites", as the
iHarmony4 repository's MATLAB demo computes it (``bcmi/Image-Harmonization-Dataset-iHarmony4``,
``Xue et al/demo``: ``demo.m`` → ``MatchAlgorithm.m`` → ``manipulateFeature.m``), in its
**zero-offset mode** only.

The demo adjusts the foreground in four steps, in this order: local contrast (zone ``top``),
luminance (``top``), colour temperature (``mean``), saturation (``top``). Each step measures
the statistic on the eroded foreground and on the eroded surrounding background of a window
three bounding boxes wide (``xue_stats.offsets``) and shifts the foreground by *predicted −
offset*. The demo's random-forest zone choice (``multiCls_RF``) needs trained models that the
repository does not ship, so *predicted* is 0 here: the zero-offset mode, which matches the
foreground's statistic to the background's. ``sat`` uses zone ``top`` (the value demo.m has
commented out beside ``region = []``, with which the zero mode has no offset and fails).

Faithful: on real composites the result equals the MATLAB code run in GNU Octave (harness in
``shared/anchors/xue``) within one gray level on ≥ 99 % of pixels
(``tests/fixtures/xue/README.md``). Where the MATLAB code would stop with an error (no
foreground; an eroded region empty, all over-exposed or all dark) ``XueInputError`` is raised;
where it skips a step (the cropped mask sums to < 500, or a NaN statistic) the step leaves the
image unchanged, as there.
"""

from __future__ import annotations

import cv2
import numpy as np

from hmh_train.infer import xue_color as C
from hmh_train.infer.xue_stats import (
    CONTRAST_MIN,
    MASK_THRESH,
    STEPS,
    TOP_RATIO,
    XueInputError,
    colmajor,
    local_contrast,
    offsets,
    seq_mean,
)

#: The demo's working size: composite and mask are resized to SIZE × SIZE first.
SIZE = 256
#: Bézier parameters the contrast step tries (MATLAB's 0.4:0.05:0.6, last element exact).
ALPHAS = (0.4, 0.4 + 0.05, 0.4 + 2 * 0.05, 0.4 + 3 * 0.05, 0.6)
_T = np.arange(1001) * 0.001
_T[-1] = 1.0

__all__ = ["SIZE", "XueInputError", "harmonize_xue", "xue_zero"]


def _bezier(alp: float):
    x = 0 + 2 * (1 - _T) * _T * alp + _T**2 * 1
    y = 0 + 2 * (1 - _T) * _T * (1 - alp) + _T**2 * 1
    return x, y


def _nearest(table: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Index of the nearest entry of an increasing ``table`` (first on ties), as
    ``[~, idx] = min(abs(table - v))``."""
    hi = np.clip(np.searchsorted(table, values), 1, len(table) - 1)
    lo = hi - 1
    return np.where(np.abs(table[lo] - values) <= np.abs(table[hi] - values), lo, hi)


def adjust_contrast(bright: np.ndarray, thresh: float, alp: float) -> np.ndarray:
    """``AdjustLocCntrst.m``: the Bézier tone curve of parameter ``alp`` (0.5 = identity)
    applied above and below ``thresh`` (linear luminance, any shape)."""
    x, y = _bezier(alp)
    rng_low, rng_high = thresh, 1 - thresh
    xx = bright - thresh
    up = xx >= 0
    out = np.empty_like(bright)
    out[up] = thresh + rng_high * y[_nearest(x, xx[up] / rng_high)]
    out[~up] = thresh - rng_low * y[_nearest(x, -xx[~up] / rng_low)]
    return out


def _top_contrast(bright: np.ndarray, region: np.ndarray) -> float:
    values = colmajor(local_contrast(bright), region)
    values = np.sort(values[values > CONTRAST_MIN])[::-1]
    count = values.size  # the code pads to 100 values with 0.1 but keeps this count
    if count < 100:
        values = np.concatenate((values, np.full(100 - count, CONTRAST_MIN)))
    return seq_mean(values[: int(np.floor(1 + TOP_RATIO * count))])


def _contrast(xyy: np.ndarray, mask: np.ndarray, shift: float) -> np.ndarray:
    bright = xyy[:, :, 2] / 100
    region = mask >= MASK_THRESH
    base = _top_contrast(bright, region)
    thresh = seq_mean(colmajor(bright, mask > MASK_THRESH))
    best, best_err = 0.5, 1000.0
    for alp in ALPHAS:
        diff = _top_contrast(adjust_contrast(bright, thresh, alp), region) - base
        if abs(diff - shift) < best_err:
            best, best_err = alp, abs(diff - shift)
    fg = mask > MASK_THRESH
    bright[fg] = adjust_contrast(bright, thresh, best)[fg]
    xyy[:, :, 2] = bright * 100
    return xyy


def _cct(xyy: np.ndarray, mask: np.ndarray, shift: float) -> np.ndarray:
    mired, tint = C.mired_tint_from_xy(xyy[:, :, 0], xyy[:, :, 1])
    fg = mask > MASK_THRESH
    mired[fg] = mired[fg] + shift
    x, y = C.xy_from_mired_tint(mired, tint)
    xyy[:, :, 0][fg], xyy[:, :, 1][fg] = x[fg], y[fg]
    return xyy


def manipulate(goal: str, image: np.ndarray, mask: np.ndarray, shift: float) -> np.ndarray:
    """``manipulateFeature.m`` with the background shift 0: ``image`` (H, W, 3) sRGB float64
    (not clipped), ``mask`` (H, W) float [0, 1]; the foreground (mask > 0.5) shifted by
    ``shift`` (log2 luminance, contrast, mired or log2 saturation). Returns the same form."""
    linear = C.gamma_inv(image)
    fg = mask > MASK_THRESH
    if goal == "sat":
        h, s, v = C.rgb_to_hsv(linear)
        s[fg] = s[fg] * 2.0**shift  # the background's factor is 2**0
        out = C.hsv_to_rgb(h, s, v)
    else:
        xyy = C.xyz_to_xyy(C.rgb_to_xyz(linear))
        if goal == "lum":
            bright = xyy[:, :, 2] / 100
            bright[fg] = bright[fg] * 2.0**shift
            xyy[:, :, 2] = bright * 100
        elif goal == "cntrst":
            xyy = _contrast(xyy, mask, shift)
        else:
            xyy = _cct(xyy, mask, shift)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = C.xyz_to_rgb(C.xyy_to_xyz(xyy))
    out[np.isnan(out)] = 0.0
    return C.gamma_fwd(out)


def xue_zero(image01: np.ndarray, mask01: np.ndarray) -> tuple[np.ndarray, dict]:
    """The demo's four steps in zero-offset mode on float64 arrays at any size: ``image01``
    (H, W, 3) sRGB RGB in [0, 1], ``mask01`` (H, W) in [0, 1] (1 = adjust). Returns the
    result (H, W, 3) float64, **not** clipped (the sat step can leave [0, 1]), and {goal:
    offset, None where the step was skipped}. XueInputError where the MATLAB code stops."""
    out = np.array(image01, np.float64)
    mask = np.asarray(mask01, np.float64)
    found = {}
    for goal, _zone in STEPS:
        stats = offsets(out, mask)
        found[goal] = None if stats is None else stats[goal]
        if found[goal] is not None:
            out = manipulate(goal, out, mask, 0 - found[goal])
    return out, found


def to_uint8(image01: np.ndarray) -> np.ndarray:
    """MATLAB's ``im2uint8`` of a double image: clip to [0, 1], × 255, round half away from
    zero, NaN → 0."""
    x = np.clip(np.nan_to_num(image01, nan=0.0), 0.0, 1.0) * 255
    r = np.floor(x)
    return (r + (x - r >= 0.5)).astype(np.uint8)


def _mask01(mask: np.ndarray, shape) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask[:, :, 0]  # oriMask(:,:,1)
    if mask.shape != tuple(shape):
        raise XueInputError(f"mask is {mask.shape[1]}×{mask.shape[0]}, composite {shape[1]}×{shape[0]}")
    if mask.dtype == np.uint8:
        return mask / 255.0
    if mask.dtype == bool:
        return mask.astype(np.float64)
    return np.clip(mask.astype(np.float64), 0.0, 1.0)


def harmonize_xue(composite: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Xue et al. 2012 in zero-offset mode (see the module docstring): uint8 (H, W, 3) RGB.

    ``composite``: uint8 (H, W, 3) RGB. ``mask``: (H, W) of the region to adjust (the pasted
    foreground in iHarmony4; the background for an HMH portrait): uint8 0–255, bool, or float
    in [0, 1]; grey values are kept as the demo keeps them (its thresholds are > 0.5 / ≥ 0.5).
    At 256 × 256 the result is the demo's (``im2uint8`` of the last step). Other sizes: the
    demo runs on SIZE × SIZE copies (area interpolation to shrink, cubic to enlarge; the mask
    likewise, soft) and its change is resized back (bilinear) and added to the full-resolution
    composite, then rounded, so full-resolution detail stays. XueInputError (one line) for a
    wrong-sized mask, no foreground, or a region the code cannot measure.
    """
    comp = np.asarray(composite)
    if comp.ndim != 3 or comp.shape[2] != 3 or comp.dtype != np.uint8:
        raise XueInputError(f"composite must be uint8 (H, W, 3) RGB, got {comp.dtype} {comp.shape}")
    h, w = comp.shape[:2]
    mask = _mask01(mask, (h, w))
    if (h, w) == (SIZE, SIZE):
        return to_uint8(xue_zero(comp / 255.0, mask)[0])
    interp = cv2.INTER_AREA if SIZE < min(h, w) else cv2.INTER_CUBIC
    small = cv2.resize(comp, (SIZE, SIZE), interpolation=interp) / 255.0
    small_mask = np.clip(cv2.resize(mask, (SIZE, SIZE), interpolation=interp), 0.0, 1.0)
    out = np.clip(np.nan_to_num(xue_zero(small, small_mask)[0]), 0.0, 1.0)
    change = cv2.resize((out - small) * 255.0, (w, h), interpolation=cv2.INTER_LINEAR)
    return to_uint8((comp + change) / 255.0)
