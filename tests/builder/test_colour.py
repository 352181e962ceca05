import cv2
import numpy as np
import pytest

from hmh_builder.kernels import colour
from hmh_builder.kernels.colour import (
    adjust_illumination,
    adjust_saturation,
    lab_mean_std,
    lab_to_rgb,
    msrcr,
    reinhard_transfer,
    rgb_to_lab,
)


def _smooth_image(seed: int, h: int = 48, w: int = 64) -> np.ndarray:
    """A smooth, mid-range colourful uint8 RGB image (no clipping when shifted moderately)."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(70, 190, (4, 5, 3)).astype(np.float32)
    return np.rint(cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 255)).astype(np.uint8)


def test_rgb_to_lab_literal_values():
    # Reference CIELAB (D65) of sRGB primaries, e.g. from Bruce Lindbloom's calculator.
    rgb = np.array([[[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]]], np.uint8)
    want = [[100, 0, 0], [0, 0, 0], [53.24, 80.09, 67.20], [87.73, -86.18, 83.18], [32.30, 79.19, -107.86]]
    lab = rgb_to_lab(rgb)
    assert lab.dtype == np.float32 and lab.shape == (1, 5, 3)
    np.testing.assert_allclose(lab[0], want, atol=0.3)


def test_colour_round_trip_within_one():
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    corners = np.array([[[r, g, b] for r in (0, 255) for g in (0, 255) for b in (0, 255)]], np.uint8)
    for image in (rgb, corners):
        back = lab_to_rgb(rgb_to_lab(image))
        assert back.dtype == np.uint8
        assert np.abs(back.astype(int) - image).max() <= 1


def test_lab_mean_std_matches_numpy_and_mask():
    image = _smooth_image(0)
    lab = rgb_to_lab(image).reshape(-1, 3).astype(np.float64)
    mean, std = lab_mean_std(image)
    np.testing.assert_allclose(mean, lab.mean(0), rtol=1e-9)
    np.testing.assert_allclose(std, lab.std(0), rtol=1e-9)
    mask = np.zeros(image.shape[:2], np.uint8)
    mask[:10] = 1
    m_mean, _ = lab_mean_std(image, mask)
    np.testing.assert_allclose(m_mean, rgb_to_lab(image[:10]).reshape(-1, 3).mean(0), rtol=1e-5)
    with pytest.raises(ValueError):
        lab_mean_std(image, np.zeros(image.shape[:2], np.uint8))


def test_lab_mean_std_samples_large_images_on_a_grid():
    image = _smooth_image(7, 90, 120)  # 10,800 pixels
    mean, std = lab_mean_std(image, max_pixels=1000)  # step ceil(sqrt(10.8)) = 4
    want = rgb_to_lab(np.ascontiguousarray(image[::4, ::4])).reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(mean, want.mean(0), rtol=1e-9)
    np.testing.assert_allclose(std, want.std(0), rtol=1e-9)
    exact = rgb_to_lab(image).reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(lab_mean_std(image, max_pixels=None)[0], exact.mean(0), rtol=1e-9)
    np.testing.assert_allclose(mean, exact.mean(0), atol=0.5)
    mask = np.zeros(image.shape[:2], np.uint8)
    mask[:, :60] = 1
    np.testing.assert_allclose(
        lab_mean_std(image, mask, max_pixels=1000)[0],
        rgb_to_lab(np.ascontiguousarray(image[::4, :60:4])).reshape(-1, 3).mean(0),
        rtol=1e-5,
    )


@pytest.mark.parametrize(
    "target_mean, target_std",
    [
        ((55.0, -25.0, 20.0), (9.0, 3.0, 6.0)),  # green shift: negative a* must survive
        ((45.0, 10.0, -30.0), (7.0, 6.0, 2.5)),  # blue shift: negative b*; a/b std differ (no swap)
        ((60.0, 15.0, 25.0), (12.0, 4.0, 4.0)),
    ],
)
def test_reinhard_output_has_target_statistics(target_mean, target_std):
    out = reinhard_transfer(_smooth_image(1), target_mean, target_std)
    mean, std = lab_mean_std(out)
    np.testing.assert_allclose(mean, target_mean, atol=0.6)
    np.testing.assert_allclose(std, target_std, atol=0.6)


def test_reinhard_uses_paper_ratio_not_reciprocal():
    image = _smooth_image(2)
    _, src_std = lab_mean_std(image)
    out = reinhard_transfer(image, (50.0, 0.0, 0.0), 2 * src_std)
    np.testing.assert_allclose(lab_mean_std(out)[1], 2 * src_std, rtol=0.05)


def test_reinhard_flat_source_is_shifted_only():
    flat = np.full((8, 8, 3), 120, np.uint8)
    out = reinhard_transfer(flat, (40.0, -20.0, -10.0), (5.0, 5.0, 5.0))  # in sRGB gamut
    assert len(np.unique(out.reshape(-1, 3), axis=0)) == 1
    np.testing.assert_allclose(rgb_to_lab(out)[0, 0], (40, -20, -10), atol=1.0)


def test_reinhard_rejects_bad_statistics():
    with pytest.raises(ValueError):
        reinhard_transfer(_smooth_image(0), (50, 0, 0), (-1, 1, 1))


def test_adjust_illumination_literal():
    image = np.array([[[10, 100, 250]]], np.uint8)
    assert adjust_illumination(image, 1.0, 10).tolist() == [[[20, 110, 255]]]
    assert adjust_illumination(image, 2.0).tolist() == [[[20, 200, 255]]]
    assert adjust_illumination(image, 1.0, -100).tolist() == [[[0, 0, 150]]]


def test_adjust_saturation_scales_chroma():
    image = _smooth_image(4)
    lab = rgb_to_lab(image)
    assert np.abs(adjust_saturation(image, 1.0).astype(int) - image).max() <= 1
    grey = rgb_to_lab(adjust_saturation(image, 0.0))
    assert np.abs(grey[..., 1:]).max() < 1.0
    np.testing.assert_allclose(grey[..., 0], lab[..., 0], atol=0.6)
    double = rgb_to_lab(adjust_saturation(image, 1.5))
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    big = chroma > 10
    ratio = np.hypot(double[..., 1], double[..., 2])[big] / chroma[big]
    assert abs(np.median(ratio) - 1.5) < 0.02  # a few out-of-gamut colours clip in RGB
    assert np.mean(np.abs(ratio - 1.5) < 0.05) > 0.9
    with pytest.raises(ValueError):
        adjust_saturation(image, -1)


def test_msrcr_literal_on_flat_image():
    # Flat image: MSR = 0, so out = gain · bias = 125 everywhere, with or without stretching.
    flat = np.full((20, 30, 3), 77, np.uint8)
    assert (msrcr(flat, stretch=False) == 125).all()
    assert (msrcr(flat, stretch=True) == 125).all()


def test_msrcr_stretch_spans_range_and_keeps_shape():
    image = _smooth_image(5, 60, 80)
    out = msrcr(image, sigmas=(3, 10, 25))
    assert out.shape == image.shape and out.dtype == np.uint8
    assert out.min() == 0 and out.max() == 255


def test_reduced_resolution_blur_close_to_full_blur():
    image = _smooth_image(6, 120, 160).astype(np.float32)
    image += np.random.default_rng(0).normal(0, 20, image.shape).astype(np.float32)
    fast = colour._blur_large(image, 40.0)
    full = cv2.GaussianBlur(image, (0, 0), 40.0, borderType=cv2.BORDER_REFLECT)
    assert np.abs(fast - full).max() < 3.0


def _naive_msrcr(image, sigmas, stretch):
    """Oracle: MSRCR with full-resolution Gaussian blurs, written straight from the formula."""
    j = image.astype(np.float64) + 1.0
    msr = np.mean(
        [np.log(j) - np.log(cv2.GaussianBlur(j, (0, 0), s, borderType=cv2.BORDER_REFLECT)) for s in sigmas],
        axis=0,
    )
    cr = 46.0 * (np.log(125.0 * j) - np.log(j.sum(axis=2, keepdims=True)))
    out = 5.0 * (msr * cr + 25.0)
    if stretch:
        lo, hi = np.quantile(out.reshape(-1, 3), [0.01, 0.99], axis=0)
        out = (out - lo) * 255.0 / (hi - lo)
    return np.clip(np.rint(out), 0, 255)


@pytest.mark.parametrize("stretch", [False, True])
def test_msrcr_matches_full_resolution_oracle(stretch):
    image = _smooth_image(8, 96, 128)
    image = np.clip(image.astype(int) + np.random.default_rng(1).integers(-25, 26, image.shape), 0, 255)
    image = image.astype(np.uint8)
    sigmas = (3, 16, 40)
    got = msrcr(image, sigmas=sigmas, stretch=stretch).astype(np.float64)
    want = _naive_msrcr(image, sigmas, stretch)
    # Reduced-resolution blurs for the wide sigmas; measured: mean 0.31 / 0.19, max 2 / 1.
    assert np.abs(got - want).mean() < 1.0
    assert np.abs(got - want).max() <= 4
