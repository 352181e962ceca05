import numpy as np
import pytest

from hmh_builder.kernels.composite import composite, premultiply


def _random(rng, shape):
    return rng.integers(0, 256, shape, dtype=np.uint8)


def test_premultiply_matches_naive_loop():
    rng = np.random.default_rng(0)
    image, alpha = _random(rng, (12, 9, 3)), _random(rng, (12, 9))
    alpha[0, 0], alpha[0, 1] = 0, 255
    out = premultiply(image, alpha)
    assert out.dtype == np.uint8 and out.shape == image.shape
    for y in range(12):
        for x in range(9):
            for c in range(3):
                # I·A/255 is never exactly k + 1/2 (255 is odd), so rounding is unambiguous.
                want = (2 * int(image[y, x, c]) * int(alpha[y, x]) + 255) // 510
                assert int(out[y, x, c]) == want


def test_premultiply_literal_values():
    image = np.array([[[255, 128, 1]]], np.uint8)
    assert premultiply(image, np.array([[0]], np.uint8)).tolist() == [[[0, 0, 0]]]
    assert premultiply(image, np.array([[255]], np.uint8)).tolist() == [[[255, 128, 1]]]
    assert premultiply(image, np.array([[51]], np.uint8)).tolist() == [[[51, 26, 0]]]  # ×0.2


def test_composite_exact_at_alpha_extremes():
    rng = np.random.default_rng(1)
    image, background = _random(rng, (16, 12, 3)), _random(rng, (16, 12, 3))
    alpha = np.zeros((16, 12), np.uint8)
    alpha[:8] = 255
    out = composite(image, alpha, background)
    np.testing.assert_array_equal(out[:8], image[:8])
    np.testing.assert_array_equal(out[8:], background[8:])


def test_composite_matches_formula_for_soft_alpha():
    rng = np.random.default_rng(2)
    image, background, alpha = _random(rng, (9, 9, 3)), _random(rng, (9, 9, 3)), _random(rng, (9, 9))
    a = alpha.astype(np.float64)[..., None] / 255
    want = a * image + (1 - a) * background
    out = composite(image, alpha, background)
    assert np.abs(out.astype(np.float64) - want).max() <= 0.5 + 1e-3
    assert composite(
        np.full((1, 1, 3), 200, np.uint8), np.array([[128]], np.uint8), np.full((1, 1, 3), 0, np.uint8)
    ).tolist() == [[[100, 100, 100]]]


@pytest.mark.parametrize("bad_alpha_shape", [(4, 5), (5, 4, 1)])
def test_shape_mismatch_raises(bad_alpha_shape):
    image = np.zeros((5, 5, 3), np.uint8)
    with pytest.raises(ValueError):
        premultiply(image, np.zeros(bad_alpha_shape, np.uint8))
    with pytest.raises(ValueError):
        composite(image, np.zeros(bad_alpha_shape, np.uint8), image)
