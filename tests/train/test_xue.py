"""Xue et al. 2012 (zero-offset mode) against the authors' MATLAB code run in GNU Octave on
real composites (``tests/fixtures/xue/``, see its README), and the pieces against simple
oracles and literal values."""

from __future__ import annotations

import colorsys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hmh_train.infer import xue_color as C
from hmh_train.infer import xue_stats as S
from hmh_train.infer.xue import XueInputError, adjust_contrast, harmonize_xue, to_uint8, xue_zero

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "xue"
#: fixture → offsets Octave printed (cntrst, lum, cct, sat), README.md
NAMES = ("dovenet", "beach", "astronaut", "chelsea")


def _read(name: str, part: str) -> np.ndarray:
    return np.array(Image.open(FIXTURES / f"{name}_{part}.png"))


@pytest.mark.parametrize("name", NAMES)
def test_equals_the_matlab_code_run_in_octave(name):
    composite, mask, official = _read(name, "composite"), _read(name, "mask"), _read(name, "octave")
    ours = harmonize_xue(composite, mask)
    diff = np.abs(ours.astype(int) - official.astype(int))
    assert (diff <= 1).mean() >= 0.99  # the contract; measured: every pixel equal (README)
    assert (diff == 0).mean() >= 0.99
    print(f"{name}: within one level {(diff <= 1).mean():.4%}, exact {(diff == 0).mean():.4%}")
    assert (official != composite).mean() > 0.05  # the fixture really changes the image


def test_offsets_equal_the_ones_octave_printed():
    expected = {"cntrst": -2.361115, "lum": 0.301995, "cct": 72.497207, "sat": 0.506137}
    _, found = xue_zero(_read("dovenet", "composite") / 255.0, _read("dovenet", "mask") / 255.0)
    assert found == pytest.approx(expected, abs=2e-6)


def test_steps_the_code_skips_leave_the_image_as_octave_does():
    # a flat-colour patch: no local contrast above 0.1 and constant statistics, so every step
    # meets a NaN feature; Octave printed the NaN warning four times and wrote the input back
    composite, mask = _read("flat", "composite"), _read("flat", "mask")
    out, found = xue_zero(composite / 255.0, mask / 255.0)
    assert found == {"cntrst": None, "lum": None, "cct": None, "sat": None}
    np.testing.assert_array_equal(to_uint8(out), _read("flat", "octave"))
    np.testing.assert_array_equal(_read("flat", "octave"), composite)
    assert S._constant(np.full(5000, np.log2(S.EPS_LIN)))  # even where the mean rounds off


def test_strel_disk_is_matlabs_periodic_line_approximation():
    for r in range(3):  # exact disks below 3
        yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
        np.testing.assert_array_equal(S.disk_nhood(r), xx**2 + yy**2 <= r * r)
    # as Octave lists getnhood(strel('disk', R)) with the harness's MATLAB-default shim
    assert S.disk_nhood(3).all() and S.disk_nhood(3).shape == (5, 5)
    expected4 = ["0011100", "0111110", "1111111", "1111111", "1111111", "0111110", "0011100"]
    assert ["".join(str(int(v)) for v in row) for row in S.disk_nhood(4)] == expected4
    rows6 = ["".join(str(int(v)) for v in row) for row in S.disk_nhood(6)]
    assert rows6[:3] == ["00111111100", "01111111110", "11111111111"] and rows6 == rows6[::-1]
    for r in (5, 12, 30):
        nhood = S.disk_nhood(r)
        assert nhood.shape[0] == nhood.shape[1] <= 2 * r + 1 and (nhood == nhood[::-1, ::-1]).all()


def test_first_component_is_the_first_met_scanning_columns():
    mask = np.zeros((10, 12), bool)
    mask[1:3, 4:6] = True  # row-major first
    mask[5:8, 1:3] = True  # column-major first (as MATLAB's regionprops lists it)
    assert S.first_bbox(mask) == (1.5, 5.5, 2.0, 3.0)
    assert S.first_bbox(np.zeros((4, 4), bool)) is None


def test_im2uint8_rounds_half_away_from_zero_and_zeroes_nan():
    values = np.array([0.5 / 255, 1.5 / 255, -0.2, 1.3, np.nan, 254.49 / 255])
    np.testing.assert_array_equal(to_uint8(values), [1, 2, 0, 255, 0, 254])


def test_colour_pieces_against_oracles():
    rng = np.random.default_rng(0)
    rgb = rng.uniform(0, 1, (50, 3))
    h, s, v = C.rgb_to_hsv(rgb[None])
    oracle = np.array([colorsys.rgb_to_hsv(*p) for p in rgb])
    np.testing.assert_allclose(np.stack((h[0], s[0], v[0]), -1), oracle, atol=1e-12)
    np.testing.assert_allclose(C.hsv_to_rgb(h, s, v)[0], rgb, atol=1e-12)
    np.testing.assert_allclose(C.gamma_fwd(C.gamma_inv(rgb)), rgb, atol=1e-12)
    # sRGB white is D65: Y = 100, x, y = 0.3127, 0.3290; about 6500 K = 153.6 mired
    white = C.xyz_to_xyy(C.rgb_to_xyz(np.ones((1, 1, 3))))[0, 0]
    np.testing.assert_allclose(white, [0.3127, 0.3290, 100.0], atol=1e-4)
    assert C.mired_image(np.ones((1, 1, 3)))[0, 0] == pytest.approx(1e6 / 6504, abs=0.5)
    mired, tint = C.mired_tint_from_xy(np.array([0.3127, 0.45]), np.array([0.3290, 0.41]))
    assert mired[0] == pytest.approx(153.6, abs=0.5)
    x, y = C.xy_from_mired_tint(mired, tint)
    np.testing.assert_allclose(np.stack((x, y)), [[0.3127, 0.45], [0.3290, 0.41]], atol=2e-4)


def test_contrast_curve_is_identity_at_one_half_and_steepens_below():
    bright = np.linspace(0, 1, 101)
    np.testing.assert_allclose(adjust_contrast(bright, 0.3, 0.5), bright, atol=1e-3)
    steeper = adjust_contrast(bright, 0.3, 0.4)
    assert steeper[40] > bright[40] and steeper[20] < bright[20]


def test_inputs_the_code_cannot_use_raise_one_line():
    composite, mask = _read("astronaut", "composite"), _read("astronaut", "mask")
    with pytest.raises(XueInputError, match="no foreground"):
        harmonize_xue(composite, np.zeros_like(mask))
    with pytest.raises(XueInputError, match="background region"):
        harmonize_xue(composite, np.full_like(mask, 255))
    with pytest.raises(XueInputError, match="mask is 100×256"):
        harmonize_xue(composite, mask[:, :100])
    tiny = np.zeros_like(mask)
    tiny[10:20, 10:20] = 255  # cropped mask sums to < 500: the code leaves the image as is
    np.testing.assert_array_equal(harmonize_xue(composite, tiny), composite)


def test_other_sizes_run_at_256_and_keep_full_resolution_detail():
    composite, mask = _read("astronaut", "composite"), _read("astronaut", "mask")
    big = np.array(Image.fromarray(composite).resize((512, 384), Image.BICUBIC))
    big_mask = np.array(Image.fromarray(mask).resize((512, 384), Image.NEAREST))
    out = harmonize_xue(big, big_mask)
    assert out.shape == big.shape
    far = np.array(Image.fromarray(mask).resize((512, 384), Image.BILINEAR)) == 0
    far &= np.roll(far, 8, 0) & np.roll(far, -8, 0) & np.roll(far, 8, 1) & np.roll(far, -8, 1)
    assert np.abs(out[far].astype(int) - big[far]).max() <= 1  # background kept
    inside = big_mask > 0
    assert np.abs(out[inside].astype(int) - big[inside]).mean() > 5  # foreground adjusted
    assert np.array_equal(harmonize_xue(big, big_mask), out)  # deterministic
