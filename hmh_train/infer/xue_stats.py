"""The region statistics of Xue et al. (2012), as the iHarmony4 repository's MATLAB demo
computes them (``prepImg_input.m``, ``calcFeaturesAfterPrep.m``, ``computeFeatures.m``).

Pure numpy/OpenCV, float64. Images are (H, W, 3) RGB in [0, 1] (sRGB-encoded unless named
linear); masks are (H, W) float in [0, 1] (soft) or bool. MATLAB's conventions that decide
the result are followed: column-major order (the first connected component is the one met
first scanning columns; means sum in column-major order), ``strel('disk', R)`` with MATLAB's
default approximation (periodic lines, N = 4, exact disk only for R < 3), binary erosion
padded with true, ``round`` half away from zero, ``fspecial``/``imfilter(..., 'replicate')``.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from hmh_train.infer import xue_color as C

MASK_THRESH = 0.5
EPS_LIN = (1 / 255) / 12.92  # the code's "epsilon": one 8-bit step, linear
OVER_EXPOSED = 0.88
SHADOW = float(C.gamma_inv(np.array([60 / 255]))[0])
CONTRAST_MIN = 0.10
TOP_RATIO = 1 / 1024
#: The four statistics of demo.m, in its order: (goal, zone of the zero-offset mode).
STEPS = (("cntrst", "top"), ("lum", "top"), ("cct", "mean"), ("sat", "top"))


class XueInputError(ValueError):
    """The authors' code would stop on this input (no foreground, or an empty region)."""


def seq_mean(values: np.ndarray) -> float:
    """Mean with a left-to-right sum (as Octave's ``sum``/``mean``); NaN for none."""
    return float(np.cumsum(values)[-1] / values.size) if values.size else float("nan")


def colmajor(values: np.ndarray, where: np.ndarray) -> np.ndarray:
    """``values(where)`` in MATLAB's (column-major) order, 1-D."""
    return values.T[where.T]


def first_bbox(binary: np.ndarray):
    """``regionprops(BW, 'BoundingBox')`` read as ``STATS.BoundingBox`` (the first of several):
    (x, y, width, height) of the 8-connected component met first in column-major order, x and y
    the 1-based left/top pixel minus 0.5; None when ``binary`` is empty."""
    binary = np.asarray(binary, bool)
    if not binary.any():
        return None
    col_first = np.argmax(binary.T.reshape(-1))
    col, row = divmod(int(col_first), binary.shape[0])
    _, labels = cv2.connectedComponents(binary.astype(np.uint8), connectivity=8)
    rows, cols = np.nonzero(labels == labels[row, col])
    return (
        cols.min() + 0.5,
        rows.min() + 0.5,
        float(cols.max() - cols.min() + 1),
        float(rows.max() - rows.min() + 1),
    )


def _minkowski(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros((a.shape[0] + b.shape[0] - 1, a.shape[1] + b.shape[1] - 1), bool)
    for r, c in zip(*np.nonzero(b), strict=True):
        out[r : r + a.shape[0], c : c + a.shape[1]] |= a
    return out


def disk_nhood(radius: int) -> np.ndarray:
    """The neighbourhood of MATLAB's ``strel('disk', radius)`` (default N = 4): the exact disk
    for radius < 3; else the Minkowski sum of four periodic lines (directions (1,0), (1,1),
    (0,1), (-1,1), extent k = 2R / (cot(π/8) + 1/sin(π/8)), Adams 1993) plus horizontal and
    vertical lines of 2(R − reached) − 1 pixels when that is ≥ 3. bool (2m+1, 2m+1)."""
    if radius < 3:
        yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
        return xx**2 + yy**2 <= radius**2
    theta = math.pi / 8
    k = 2 * radius / (1 / math.tan(theta) + 1 / math.sin(theta))
    nhood = np.ones((1, 1), bool)
    for dr, dc in ((1, 0), (1, 1), (0, 1), (-1, 1)):
        p = math.floor(k / math.hypot(dr, dc))
        line = np.zeros((2 * p * abs(dr) + 1, 2 * p * abs(dc) + 1), bool)
        for i in range(-p, p + 1):
            line[p * abs(dr) + i * dr, p * abs(dc) + i * dc] = True
        nhood = _minkowski(nhood, line)
    rows = np.nonzero(nhood.any(axis=1))[0]
    reached = rows.max() - (nhood.shape[0] + 1) // 2 + 1
    length = 2 * (radius - reached - 1) + 1
    if length >= 3:
        nhood = _minkowski(nhood, np.ones((1, length), bool))
        nhood = _minkowski(nhood, np.ones((length, 1), bool))
    return nhood


def erode(binary: np.ndarray, radius: int) -> np.ndarray:
    """``imerode(BW, strel('disk', radius))``: outside the image counts as true."""
    if radius == 0:
        return binary.copy()
    kernel = disk_nhood(radius).astype(np.uint8)
    return cv2.erode(binary.astype(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT, borderValue=1) > 0


def gaussian(size: int, sigma: float) -> np.ndarray:
    """``fspecial('gaussian', size, sigma)``: normalised, values below eps·max set to 0."""
    half = (size - 1) / 2
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1]
    h = np.exp(-(xx * xx + yy * yy) / (2 * sigma * sigma))
    h[h < np.finfo(float).eps * h.max()] = 0
    return h / h.sum()


def imfilter(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``imfilter(image, kernel, 'replicate')`` (correlation, same size), float64."""
    return cv2.filter2D(image, cv2.CV_64F, kernel, borderType=cv2.BORDER_REPLICATE)


def local_contrast(bright: np.ndarray) -> np.ndarray:
    """``calcLocalCntrst_Bright.m``: |L − E(L)| / max(E(L), eps), E a 7×7 Gaussian of σ 1.5."""
    mean = imfilter(bright, gaussian(7, 1.5))
    return np.abs((bright - mean) / np.maximum(mean, EPS_LIN))


def crop_box(mask: np.ndarray):
    """``prepImg_input.m``'s crop: (rows, cols) slices of the 3×3-bounding-box window around
    the first foreground component (mask > 0.5); XueInputError when there is none."""
    box = first_bbox(mask > MASK_THRESH)
    if box is None:
        raise XueInputError("the mask has no foreground (no value above 50 %): nothing to adjust")
    cx, cy, w, h = box
    sx, sy = _round(max(cx - w, 1)), _round(max(cy - h, 1))
    tx, ty = _round(min(cx + 2 * w, mask.shape[1])), _round(min(cy + 2 * h, mask.shape[0]))
    return slice(sy - 1, ty), slice(sx - 1, tx)


def _round(value: float) -> int:
    """MATLAB's ``round`` of a positive value (half away from zero)."""
    return math.floor(value + 0.5)


def planes(image: np.ndarray) -> dict:
    """``prepImg_input.m`` on a crop (h, w, 3) sRGB in [0, 1]: linearise, blur with a Gaussian
    of σ = min(h, w)/1024, then the per-pixel maps {bright (0.21 R + 0.72 G + 0.07 B),
    contrast (``local_contrast``), mired (``xue_color.mired_image``), sat (hexcone S)}."""
    sigma = min(image.shape[:2]) / 1024
    ready = imfilter(C.gamma_inv(image), gaussian(math.ceil(sigma * 2) * 2 + 1, sigma))
    bright = ready[:, :, 0] * 0.21 + ready[:, :, 1] * 0.72 + ready[:, :, 2] * 0.07
    _, sat, _ = C.rgb_to_hsv(ready)
    return {"bright": bright, "contrast": local_contrast(bright), "mired": C.mired_image(ready), "sat": sat}


def _top(sorted_desc: np.ndarray) -> float:
    return seq_mean(sorted_desc[: math.floor(1 + TOP_RATIO * sorted_desc.size)])


def _constant(values: np.ndarray) -> bool:
    """Octave's ``skewness``/``kurtosis`` of ``values`` are NaN (the code then leaves the image
    unchanged): none or one value, or a zero ``std`` of the centred values, which Octave
    computes as ``x1 = x − mean(x)``, ``sumsq(x1 − mean(x1))`` with left-to-right sums (so an
    all-equal vector whose mean rounds away from its value is not NaN there)."""
    if values.size < 2:
        return True
    centred = values - np.cumsum(values)[-1] / values.size
    centred = centred - np.cumsum(centred)[-1] / values.size
    return not np.any(centred * centred)


def _harsh_fails(logv: np.ndarray) -> bool:
    """``computeFeatures.m``'s harsh-lighting histogram (centres −10:0.25:1) has its highest
    bin above floor(n/1000) at −10, where ``harshDrop`` comes out empty and the code stops."""
    centres = np.arange(45) * 0.25 - 10
    counts = np.bincount(np.searchsorted((centres[:-1] + centres[1:]) / 2, logv, side="right"), minlength=45)
    return int(np.nonzero(counts > len(logv) // 1000)[0].max()) == 0


def region_stats(maps: dict, region: np.ndarray, name: str) -> dict:
    """{goal: (statistic, nan)} over one bool region of the crop, for the zones of ``STEPS``
    (lum: mean log2 luminance of the top 1/1024; cntrst: mean local contrast (> 0.1) of the
    top 1/1024; cct: mean mired of the well-exposed pixels; sat: mean log2 S of their top
    1/1024). ``nan``: the code's feature vector has a NaN there (the step is skipped).
    XueInputError where ``computeFeatures.m`` would stop (an empty region)."""
    bright = np.maximum(maps["bright"], EPS_LIN)
    logv = np.sort(np.log2(colmajor(bright, region)))[::-1]
    lit = region & (bright > SHADOW) & (bright < OVER_EXPOSED)
    if logv.size == 0 or not (region & (bright < OVER_EXPOSED)).any() or not lit.any():
        raise XueInputError(f"the {name} region has no usable pixels after erosion")
    if _harsh_fails(logv):
        raise XueInputError(f"the {name} region is almost black")
    contrast = colmajor(maps["contrast"], region & (maps["contrast"] > CONTRAST_MIN))
    contrast = np.sort(contrast[~np.isnan(contrast)])[::-1]
    padded = np.concatenate((contrast, np.full(max(0, 100 - contrast.size), CONTRAST_MIN)))
    mired = np.sort(colmajor(maps["mired"], lit))[::-1]
    logs = np.sort(np.log2(colmajor(np.maximum(maps["sat"], EPS_LIN), lit)))[::-1]
    return {
        "lum": (_top(logv), _constant(logv)),
        "cntrst": (_top(padded) if contrast.size else CONTRAST_MIN, contrast.size == 0 or _constant(padded)),
        "cct": (seq_mean(mired), _constant(mired)),
        "sat": (_top(logs), _constant(logs)),
    }


def offsets(image: np.ndarray, mask: np.ndarray) -> dict | None:
    """{goal: offset or None (NaN: step skipped)} of the foreground minus the background
    statistic (``MatchAlgorithm.m`` up to ``setOffset.m``), or None when the cropped mask sums
    to less than 500 (the code leaves the image as it is). ``image`` (H, W, 3) sRGB [0, 1],
    ``mask`` (H, W) float [0, 1]."""
    rows, cols = crop_box(mask)
    crop_mask = mask[rows, cols]
    if crop_mask.sum() < 500:
        return None
    maps = planes(image[rows, cols])
    binary = crop_mask > MASK_THRESH
    _, _, w, h = first_bbox(binary)
    fg = erode(binary, math.floor(min(w, h) * 0.03))
    bg = erode(~binary, math.floor(min(w, h) * 0.15))
    stats_f, stats_b = region_stats(maps, fg, "foreground"), region_stats(maps, bg, "background")
    return {
        goal: None if stats_f[goal][1] or stats_b[goal][1] else stats_f[goal][0] - stats_b[goal][0]
        for goal, _ in STEPS
    }
