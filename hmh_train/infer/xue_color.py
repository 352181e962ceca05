"""Colour arithmetic of Xue et al. (2012) as the iHarmony4 repository's MATLAB demo computes it.

Pure numpy, float64, every operation in the order the MATLAB code writes it (so that results
agree with the authors' code to the last bits, not only approximately):

- sRGB transfer (``GammaInv.m`` / ``GammaFwd.m``);
- OptProp 2.1's ``rgb2xyz(I, 'srgb', 'D65/2', 'Gamma', 1)`` (linear RGB → XYZ 0–100, **no**
  clipping: OptProp's clip test compares two literals and is never true), ``xyz2rgb(...,
  'Gamma', 1)`` (clips linear RGB to [0, 1]; NaN stays NaN), ``xyz2xyy`` / ``xyy2xyz``,
  ``xy2cct`` (Robertson's isotemperature lines) as ``calcCCTimg.m`` clips it, in mired;
- MATLAB's hexcone ``rgb2hsv`` / ``hsv2rgb`` (no clipping; S > 1 gives negative channels);
- the Adobe DNG SDK conversions the code ports as ``CalcMiredAndTint_byxy.m`` and
  ``Calcxy_byMiredAndTint.m`` (its table has 0.24702 at 325 mired where OptProp's has
  0.24792; each function keeps its own table).

Images are (H, W, 3) arrays in RGB order (channel 0 = R), linear or sRGB-encoded as named;
XYZ/xyY are (H, W, 3) with Y in 0–100.
"""

from __future__ import annotations

import numpy as np

#: sRGB primaries (x, y, Y) as OptProp's ``rgbs('srgb')`` lists them (D65/2).
SRGB_XYY = np.array([[0.64, 0.33, 21.2656], [0.3, 0.6, 71.5158], [0.15, 0.06, 7.21856]])
#: (mired, u, v, slope) of Robertson's isotemperature lines, OptProp's ``i_xy2cct``.
OPTPROP_ISOTEMP = np.array(
    [
        [0, 0.18006, 0.26352, -0.24341], [10, 0.18066, 0.26589, -0.25479],
        [20, 0.18133, 0.26846, -0.26876], [30, 0.18208, 0.27119, -0.28539],
        [40, 0.18293, 0.27407, -0.30470], [50, 0.18388, 0.27709, -0.32675],
        [60, 0.18494, 0.28021, -0.35156], [70, 0.18611, 0.28342, -0.37915],
        [80, 0.18740, 0.28668, -0.40955], [90, 0.18880, 0.28997, -0.44278],
        [100, 0.19032, 0.29326, -0.47888], [125, 0.19462, 0.30141, -0.58204],
        [150, 0.19962, 0.30921, -0.70471], [175, 0.20525, 0.31647, -0.84901],
        [200, 0.21142, 0.32312, -1.0182], [225, 0.21807, 0.32909, -1.2168],
        [250, 0.22511, 0.33439, -1.4512], [275, 0.23247, 0.33904, -1.7298],
        [300, 0.24010, 0.34308, -2.0637], [325, 0.24792, 0.34655, -2.4681],
        [350, 0.25591, 0.34951, -2.9641], [375, 0.26400, 0.35200, -3.5814],
        [400, 0.27218, 0.35407, -4.3633], [425, 0.28039, 0.35577, -5.3762],
        [450, 0.28863, 0.35714, -6.7262], [475, 0.29685, 0.35823, -8.5955],
        [500, 0.30505, 0.35907, -11.324], [525, 0.31320, 0.35968, -15.628],
        [550, 0.32129, 0.36011, -23.325], [575, 0.32931, 0.36038, -40.770],
        [600, 0.33724, 0.36051, -116.45],
    ]
)  # fmt: skip
#: The DNG SDK table of ``CalcMiredAndTint_byxy.m`` / ``Calcxy_byMiredAndTint.m``.
DNG_TEMP_TABLE = OPTPROP_ISOTEMP.copy()
DNG_TEMP_TABLE[19, 1] = 0.24702
TINT_SCALE = -3000.0


def gamma_inv(x: np.ndarray) -> np.ndarray:
    """sRGB-encoded → linear (``GammaInv.m``), elementwise, float64; NaN stays NaN."""
    x = np.asarray(x, np.float64)
    out = x.copy()
    low, high = x <= 0.04045, x > 0.04045
    out[low] = x[low] / 12.92
    out[high] = ((x[high] + 0.055) / (1 + 0.055)) ** 2.4
    return out


def gamma_fwd(x: np.ndarray) -> np.ndarray:
    """linear → sRGB-encoded (``GammaFwd.m``), elementwise, float64, no clipping."""
    x = np.asarray(x, np.float64)
    out = x.copy()
    low, high = x <= 0.0031308, x > 0.0031308
    out[low] = x[low] * 12.92
    out[high] = x[high] ** (1 / 2.4) * (1 + 0.055) - 0.055
    return out


def xyy_to_xyz(xyy: np.ndarray) -> np.ndarray:
    """OptProp ``i_xyy2xyz``: (..., 3) x, y, Y → X, Y, Z (Y/y · (x, y, 1 − (x + y)))."""
    ratio = xyy[..., 2] / xyy[..., 1]
    x, y = xyy[..., 0], xyy[..., 1]
    return np.stack((x * ratio, y * ratio, (1 - (x + y)) * ratio), axis=-1)


SRGB_TO_XYZ = xyy_to_xyz(SRGB_XYY)  # rows: the XYZ of each primary
XYZ_TO_SRGB = np.linalg.inv(SRGB_TO_XYZ)


def rgb_to_xyz(linear_rgb: np.ndarray) -> np.ndarray:
    """OptProp ``rgb2xyz(I, 'srgb', 'D65/2', 'Gamma', 1)``: linear RGB (..., 3) → XYZ 0–100,
    not clipped."""
    return linear_rgb @ SRGB_TO_XYZ


def xyz_to_rgb(xyz: np.ndarray) -> np.ndarray:
    """OptProp ``xyz2rgb(XYZ, 'D65/2', 'srgb', 'Gamma', 1)``: XYZ 0–100 → linear RGB clipped
    to [0, 1] (NaN stays NaN)."""
    rgb = xyz @ XYZ_TO_SRGB
    rgb[rgb < 0] = 0.0
    rgb[rgb > 1] = 1.0
    return rgb


def xyz_to_xyy(xyz: np.ndarray) -> np.ndarray:
    """OptProp ``xyz2xyy``: (..., 3) → x, y (NaN where X + Y + Z = 0), Y."""
    denom = xyz[..., 0] + xyz[..., 1] + xyz[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.stack((xyz[..., 0] / denom, xyz[..., 1] / denom, xyz[..., 1]), axis=-1)


def mired_image(linear_rgb: np.ndarray) -> np.ndarray:
    """``calcCCTimg.m``: correlated colour temperature in mired (1e6 / K) of linear RGB (H, W, 3).

    OptProp's ``xy2cct`` (a temperature where the chromaticity crosses between two
    isotemperature lines, NaN where it crosses none), then clipped to [1500, 20000] K the way
    MATLAB's ``max``/``min`` do it (NaN → 1500 K), then ``K.^(-1) * 1e6``.
    """
    xyz = rgb_to_xyz(linear_rgb)
    xyy = xyz_to_xyy(xyz)
    kelvin = _xy_to_cct(xyy[..., 0], xyy[..., 1])
    kelvin = np.fmin(np.fmax(kelvin, 1500.0), 20000.0)
    return kelvin**-1.0 * 1e6


def _xy_to_cct(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    table = OPTPROP_ISOTEMP
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = -x + 6 * y + 1.5
        us, vs = (2 * x) / denom, (3 * y) / denom
        kelvin = np.full(x.shape, np.nan)
        open_ = np.ones(x.shape, bool)
        prev = None
        for j in range(len(table)):
            mirek, ut, vt, tt = table[j]
            dj = (vs - vt) - tt * (us - ut)
            if prev is not None:
                cross = open_ & ((prev < 0) & (dj > 0) | (prev > 0) & (dj < 0))
                dit = prev[cross] / np.sqrt(1 + table[j - 1, 3] ** 2)
                djt = dj[cross] / np.sqrt(1 + tt**2)
                kelvin[cross] = 1000000.0 / (
                    table[j - 1, 0] + (dit / (dit - djt)) * (mirek - table[j - 1, 0])
                )
                open_ &= ~cross
            prev = dj
    return kelvin


def rgb_to_hsv(rgb: np.ndarray):
    """MATLAB's hexcone ``[H, S, V] = rgb2hsv(RGB)`` of (H, W, 3), no clipping: returns
    (H in [0, 1], S, V) arrays; later maxima win ties (B over G over R)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = np.maximum(np.maximum(r, g), b)
    c = v - np.minimum(np.minimum(r, g), b)
    zero = c == 0
    cd = np.where(zero, 1.0, c)
    h = np.zeros_like(v)
    for k, (top, num) in enumerate(((r, g - b), (g, b - r), (b, r - g))):
        sel = top == v
        h[sel] = (2.0 * k + num[sel] / cd[sel]) if k else num[sel] / cd[sel]
    h = h / 6
    h[h < 0] += 1
    h[zero] = 0.0
    s = np.zeros_like(v)
    ok = (v != 0) & ~zero
    s[ok] = c[ok] / v[ok]
    return h, s, v


def hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """MATLAB's hexcone ``hsv2rgb(H, S, V)`` → (..., 3), no clipping (S > 1 gives negative
    channels; H outside [0, 1] gives 0)."""
    h6 = 6 * h
    k = np.floor(h6)
    f = h6 - k
    p, q, t = 1 - s, 1 - s * f, 1 - s * (1 - f)
    one = np.ones_like(h)
    sectors = [(one, t, p), (q, one, p), (p, one, t), (p, q, one), (t, p, one), (one, p, q)]
    out = np.zeros(h.shape + (3,))
    for sector, colour in enumerate(sectors):
        m = (k == sector) | ((k == 6) if sector == 0 else False)
        for ch in range(3):
            out[..., ch][m] = colour[ch][m]
    return v[..., None] * out


def mired_tint_from_xy(x: np.ndarray, y: np.ndarray):
    """``CalcMiredAndTint_byxy.m`` on arrays: (mired, tint) of chromaticities x, y (any shape).

    The loop over the table's lines 2..31 stops at the first line the point is not above
    (distance ``dt <= 0``) or at the last; ``f`` weighs that line against the previous one.
    NaN x, y give NaN.
    """
    tab = DNG_TEMP_TABLE
    with np.errstate(divide="ignore", invalid="ignore"):
        u = 2.0 * x / (1.5 - x + 6.0 * y)
        v = 3.0 * y / (1.5 - x + 6.0 * y)
        length = np.sqrt(1.0 + tab[:, 3] * tab[:, 3])
        du_all, dv_all = 1.0 / length, tab[:, 3] / length
        dts = np.stack([-(u - tab[i, 1]) * dv_all[i] + (v - tab[i, 2]) * du_all[i] for i in range(1, 31)])
        below = dts <= 0.0
        stop = np.where(below.any(axis=0), below.argmax(axis=0), 29) + 1  # 0-based table row, 1..30
        dt = np.take_along_axis(dts, (stop - 1)[None], 0)[0]
        last_dt = np.where(stop > 1, np.take_along_axis(dts, np.maximum(stop - 2, 0)[None], 0)[0], 0.0)
        dt = -np.where(dt > 0.0, 0.0, dt)
        f = np.where(stop == 1, 0.0, dt / (last_dt + dt))
        prev = stop - 1
        mired = tab[prev, 0] * f + tab[stop, 0] * (1.0 - f)
        uu = u - (tab[prev, 1] * f + tab[stop, 1] * (1.0 - f))
        vv = v - (tab[prev, 2] * f + tab[stop, 2] * (1.0 - f))
        last_du = np.where(stop > 1, du_all[prev], 0.0)
        last_dv = np.where(stop > 1, dv_all[prev], 0.0)
        du = du_all[stop] * (1.0 - f) + last_du * f
        dv = dv_all[stop] * (1.0 - f) + last_dv * f
        length = np.sqrt(du * du + dv * dv)
        du, dv = du / length, dv / length
        tint = (uu * du + vv * dv) * TINT_SCALE
    return mired, tint


def xy_from_mired_tint(mired: np.ndarray, tint: np.ndarray):
    """``Calcxy_byMiredAndTint.m`` on arrays: chromaticity (x, y) of (mired, tint); the
    table's last segment extends beyond 600 mired, its first below 10; NaN gives NaN."""
    tab = DNG_TEMP_TABLE
    offset = tint * (1.0 / TINT_SCALE)
    upper = tab[1:, 0]
    hit = mired[..., None] < upper  # index i: r < table[i + 1].r
    idx = np.where(hit[..., :29].any(axis=-1), hit[..., :29].argmax(axis=-1), 29)
    nxt = idx + 1
    with np.errstate(divide="ignore", invalid="ignore"):
        f = (tab[nxt, 0] - mired) / (tab[nxt, 0] - tab[idx, 0])
        u = tab[idx, 1] * f + tab[nxt, 1] * (1.0 - f)
        v = tab[idx, 2] * f + tab[nxt, 2] * (1.0 - f)
        len1, len2 = np.sqrt(1.0 + tab[idx, 3] * tab[idx, 3]), np.sqrt(1.0 + tab[nxt, 3] * tab[nxt, 3])
        uu3 = (1.0 / len1) * f + (1.0 / len2) * (1.0 - f)
        vv3 = (tab[idx, 3] / len1) * f + (tab[nxt, 3] / len2) * (1.0 - f)
        len3 = np.sqrt(uu3 * uu3 + vv3 * vv3)
        uu3, vv3 = uu3 / len3, vv3 / len3
        u = u + uu3 * offset
        v = v + vv3 * offset
        x = 1.5 * u / (u - 4.0 * v + 2.0)
        y = v / (u - 4.0 * v + 2.0)
    return x, y
