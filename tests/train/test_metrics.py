"""Metrics against hand-computed literals and naive oracles written here (REFERENCE.md §6)."""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pytest

from hmh_train.evaluate import metrics as M

U = 128  # unknown trimap value


# ---------------------------------------------------------------- SAD / MSE, literal values
def test_sad_literal_counts_only_unknown():
    pred = np.array([[0, 255], [128, 0]], np.uint8)
    gt = np.zeros((2, 2), np.uint8)
    # all unknown: (0 + 255 + 128 + 0) / 255 / 1000
    assert M.sad(pred, gt, np.full((2, 2), U, np.uint8)) == pytest.approx(383 / 255 / 1000)
    # only the 255 pixel unknown: 1 / 1000
    trimap = np.array([[0, U], [255, 0]], np.uint8)
    assert M.sad(pred, gt, trimap) == pytest.approx(1 / 1000)
    assert M.sad(pred, gt, trimap, region="all") == pytest.approx(383 / 255 / 1000)
    # an explicit boolean mask: only the 128 pixel → 128/255/1000
    assert M.sad(pred, gt, region=np.array([[False, False], [True, False]])) == pytest.approx(
        128 / 255 / 1000
    )


def test_mse_literal_is_a_fraction_over_unknown_count():
    pred = np.array([[255, 0, 51]], np.uint8)
    gt = np.zeros((1, 3), np.uint8)
    # (1² + 0² + 0.2²) / 3
    assert M.mse(pred, gt, np.full((1, 3), U, np.uint8)) == pytest.approx((1 + 0.04) / 3)
    # only the first pixel counted: 1 / 1
    assert M.mse(pred, gt, np.array([[U, 0, 255]], np.uint8)) == pytest.approx(1.0)
    assert math.isnan(M.mse(pred, gt, np.zeros((1, 3), np.uint8)))


def test_uint8_and_float_inputs_agree_and_float_trimap_works():
    rng = np.random.default_rng(0)
    pred = rng.integers(0, 256, (16, 16), dtype=np.uint8)
    gt = rng.integers(0, 256, (16, 16), dtype=np.uint8)
    trimap8 = rng.choice(np.array([0, 128, 255], np.uint8), (16, 16))
    trimapf = trimap8 / 255.0
    trimapf[trimap8 == 128] = 0.5
    for fn in (M.sad, M.mse, M.gradient_error, M.connectivity_error):
        a = fn(pred, gt, trimap8)
        b = fn(pred / 255.0, gt / 255.0, trimapf)
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12), fn.__name__


def test_bad_shapes_raise():
    with pytest.raises(ValueError):
        M.sad(np.zeros((2, 2)), np.zeros((2, 3)), np.zeros((2, 2)))
    with pytest.raises(ValueError):
        M.sad(np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError):
        M.sad(np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 2)), region="everything")
    with pytest.raises(ValueError, match="0-1"):  # float 0-255 would silently be 255× off
        M.sad(np.full((2, 2), 200.0), np.zeros((2, 2)), region="all")
    with pytest.raises(ValueError, match="0-1"):
        M.psnr(np.full((2, 2, 3), 200.0), np.zeros((2, 2, 3)))


# ---------------------------------------------------------------- Grad
def test_grad_kernel_size_unit_norm_and_formula():
    kx, ky = M.gaussian_gradient_kernels()
    assert kx.shape == (9, 9)  # DIM: halfsize = ceil(1.4*sqrt(-2 ln(sqrt(2pi)*1.4*0.01))) = 4
    assert np.sqrt((kx**2).sum()) == pytest.approx(1.0)
    np.testing.assert_allclose(ky, kx.T)
    # independent formula: G(y) * G'(x) ∝ -x * exp(-(x² + y²) / (2σ²)), then unit L2 norm
    y, x = np.mgrid[-4:5, -4:5].astype(float)
    oracle = -x * np.exp(-(x**2 + y**2) / (2 * 1.4**2))
    np.testing.assert_allclose(kx, oracle / np.linalg.norm(oracle), atol=1e-12)


def _grad_oracle(pred, gt, mask):
    """Naive loops: min-max, replicate-padded correlation with the 9×9 kernels, squared diff."""
    kx, ky = M.gaussian_gradient_kernels()

    def magnitude(a):
        a = (a - a.min()) / (a.max() - a.min()) if a.max() > a.min() else np.zeros_like(a)
        h, w = a.shape
        out = np.zeros_like(a)
        for i in range(h):
            for j in range(w):
                sx = sy = 0.0
                for di in range(-4, 5):
                    for dj in range(-4, 5):
                        v = a[min(max(i + di, 0), h - 1), min(max(j + dj, 0), w - 1)]
                        sx += kx[di + 4, dj + 4] * v
                        sy += ky[di + 4, dj + 4] * v
                out[i, j] = math.hypot(sx, sy)
        return out

    return ((magnitude(pred) - magnitude(gt)) ** 2)[mask].sum() / 1000


def test_grad_matches_naive_loop_oracle():
    rng = np.random.default_rng(1)
    pred, gt = rng.random((7, 11)), rng.random((7, 11))
    trimap = rng.choice(np.array([0, 128, 255], np.uint8), (7, 11))
    assert M.gradient_error(pred, gt, trimap) == pytest.approx(
        _grad_oracle(pred, gt, trimap == 128), rel=1e-10
    )


def test_grad_min_max_normalisation_makes_affine_range_irrelevant():
    ramp = np.tile(np.linspace(0, 1, 12), (10, 1))
    trimap = np.full(ramp.shape, U, np.uint8)
    squeezed = 0.2 + 0.4 * ramp  # same shape, range [0.2, 0.6]
    assert M.gradient_error(squeezed, ramp, trimap) == pytest.approx(0.0, abs=1e-15)
    # without normalisation the gradients would differ by a factor 0.4: a real error
    assert M.gradient_error(ramp**2, ramp, trimap) > 1e-5


def test_grad_constant_images_have_zero_gradient():
    trimap = np.full((6, 6), U, np.uint8)
    assert M.gradient_error(np.full((6, 6), 0.3), np.zeros((6, 6)), trimap) == 0.0


# ---------------------------------------------------------------- Conn
def _conn_oracle(pred, gt, mask, connectivity=4):
    """BFS components; thresholds k/10; first largest in column-major scan wins ties."""
    p, g = M.to_unit(pred), M.to_unit(gt)
    h, w = p.shape
    steps = [(0, 1), (1, 0), (0, -1), (-1, 0)]
    if connectivity == 8:
        steps += [(1, 1), (1, -1), (-1, 1), (-1, -1)]
    level = np.full((h, w), -1.0)
    for k in range(1, 11):
        t = k / 10
        inside = (p >= t) & (g >= t)
        seen = np.zeros((h, w), bool)
        best = []
        for j in range(w):  # column-major scan, like MATLAB
            for i in range(h):
                if inside[i, j] and not seen[i, j]:
                    comp, queue = [], deque([(i, j)])
                    seen[i, j] = True
                    while queue:
                        a, b = queue.popleft()
                        comp.append((a, b))
                        for da, db in steps:
                            na, nb = a + da, b + db
                            if 0 <= na < h and 0 <= nb < w and inside[na, nb] and not seen[na, nb]:
                                seen[na, nb] = True
                                queue.append((na, nb))
                    if len(comp) > len(best):
                        best = comp
        omega = np.zeros((h, w), bool)
        for a, b in best:
            omega[a, b] = True
        level[(level == -1) & ~omega] = (k - 1) / 10
    level[level == -1] = 1.0
    dp, dg = p - level, g - level
    phi_p, phi_g = 1 - dp * (dp >= 0.15), 1 - dg * (dg >= 0.15)
    return np.abs(phi_p - phi_g)[mask].sum() / 1000


def test_conn_background_is_not_a_component():
    # gt = 1 everywhere; pred = 1 on an L of 3 pixels + one isolated pixel, 0 elsewhere.
    # The zeros (5 pixels, one 4-connected blob) are larger than the L but are background.
    # L: l = 1, φ_p = φ_g = 1 → 0. Isolated: l = 0, φ_p = 1-1 = 0, φ_g = 0 → 0.
    # Zeros: l = 0, φ_p = 1 (d = 0), φ_g = 0 (d = 1) → 1 each → 5 / 1000.
    # (Counting the background as the largest component would give 0.)
    pred = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 1]], float)
    gt = np.ones((3, 3))
    trimap = np.full((3, 3), U, np.uint8)
    assert M.connectivity_error(pred, gt, trimap) == pytest.approx(5 / 1000)
    assert _conn_oracle(pred, gt, trimap == U) == pytest.approx(5 / 1000)


def test_conn_is_4_connected_diagonal_case():
    # p = 1, g = 0.65 on a diagonal of 3 pixels and a vertical pair; 0 elsewhere.
    # Intersection for t <= 0.6 is those 5 pixels, empty from 0.7 on.
    # 4-connectivity: largest = the pair → l = 0.6 there: d_p = 0.4 (φ_p 0.6), d_g = 0.05
    #   (φ_g 1) → 0.4 each; diagonal dropped at 0.1 → l = 0: φ_p = 0, φ_g = 0.35 → 0.35 each.
    #   Conn = (2·0.4 + 3·0.35) / 1000 = 1.85e-3.
    # 8-connectivity joins all five ((2,2) touches (1,3) diagonally): 5·0.4 / 1000 = 2.0e-3.
    on = np.array([[1, 0, 0, 1], [0, 1, 0, 1], [0, 0, 1, 0]], bool)
    pred, gt = on * 1.0, on * 0.65
    trimap = np.full(on.shape, U, np.uint8)
    levels = M.connectivity_levels(pred, gt)
    np.testing.assert_allclose(levels, np.where(on & (np.arange(4) == 3), 0.6, 0.0))
    assert M.connectivity_error(pred, gt, trimap) == pytest.approx(1.85e-3)
    assert _conn_oracle(pred, gt, trimap == U, 4) == pytest.approx(1.85e-3)
    assert _conn_oracle(pred, gt, trimap == U, 8) == pytest.approx(2.0e-3)


def test_conn_threshold_edges_and_ties():
    # 153/255 is exactly 0.6: still in at t = 0.6 (a naive 6*0.1 = 0.6000000000000001 drops it)
    a = np.array([[153]], np.uint8)
    assert M.connectivity_levels(M.to_unit(a), M.to_unit(a))[0, 0] == 0.6
    # alpha 1 everywhere: never dropped → l = 1
    assert M.connectivity_levels(np.ones((2, 2)), np.ones((2, 2))).tolist() == [[1, 1], [1, 1]]
    # two single pixels tie: MATLAB keeps the first in column-major order, (1, 0) not (0, 2)
    on = np.array([[0, 0, 1], [1, 0, 0]], float)
    np.testing.assert_array_equal(M.connectivity_levels(on, on), [[0, 0, 0], [1, 0, 0]])
    # nothing above 0.1 anywhere: everything gets l = 0
    np.testing.assert_array_equal(M.connectivity_levels(np.zeros((2, 2)), np.ones((2, 2))), 0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_conn_matches_bfs_oracle_on_random_blobs(seed):
    rng = np.random.default_rng(seed)
    # blocky random alphas so components of many sizes appear
    pred = np.kron(rng.integers(0, 256, (6, 5)), np.ones((2, 3))).astype(np.uint8)
    gt = np.clip(pred.astype(int) + rng.integers(-60, 61, pred.shape), 0, 255).astype(np.uint8)
    trimap = rng.choice(np.array([0, 128, 255], np.uint8), pred.shape)
    assert M.connectivity_error(pred, gt, trimap) == pytest.approx(
        _conn_oracle(pred, gt, trimap == U), rel=1e-12, abs=1e-15
    )
    assert M.connectivity_error(pred, gt, trimap, region="all") == pytest.approx(
        _conn_oracle(pred, gt, np.ones(pred.shape, bool)), rel=1e-12, abs=1e-15
    )


def test_perfect_prediction_scores_zero():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (10, 10), dtype=np.uint8)
    trimap = np.full(a.shape, U, np.uint8)
    for fn in (M.sad, M.mse, M.gradient_error, M.connectivity_error):
        assert fn(a, a, trimap) == 0.0


# ---------------------------------------------------------------- harmonization
def test_harmonization_mse_fmse_psnr_literals():
    gt = np.zeros((2, 2, 3), np.uint8)
    pred = gt.copy()
    pred[0, 0] = [255, 0, 0]  # one channel of one pixel off by 255
    # MSE over 12 values: 255² / 12
    assert M.harmonization_mse(pred, gt) == pytest.approx(255**2 / 12)
    region = np.array([[True, True], [False, False]])
    # fMSE: 255² / (3 channels × 2 region pixels)
    assert M.fmse(pred, gt, region) == pytest.approx(255**2 / 6)
    assert M.fmse(pred, gt, ~region) == 0.0
    # PSNR: 10 log10(255² / (255²/12)) = 10 log10 12
    assert M.psnr(pred, gt) == pytest.approx(10 * math.log10(12))
    assert M.psnr(gt, gt) == math.inf
    # float 0-1 inputs are put on the 0-255 scale
    assert M.harmonization_mse(pred / 255.0, gt / 255.0) == pytest.approx(255**2 / 12)
    assert math.isnan(M.fmse(pred, gt, np.zeros((2, 2), bool)))


def test_altered_region_is_the_background():
    alpha = np.array([[0, 128, 255]], np.uint8)
    np.testing.assert_array_equal(M.altered_region(alpha), [[True, True, False]])
    np.testing.assert_array_equal(M.altered_region(alpha / 255.0), [[True, True, False]])


def test_integer_input_outside_0_255_raises_instead_of_scaling_wrongly():
    # a 16-bit PNG matte read as uint16 would otherwise count 257x too much
    a16 = np.full((2, 2), 65535, np.uint16)
    with pytest.raises(ValueError, match="0-255"):
        M.sad(a16, np.zeros((2, 2), np.uint8), region="all")
    with pytest.raises(ValueError, match="0-255"):
        M.psnr(np.full((2, 2, 3), 300, np.int32), np.zeros((2, 2, 3), np.uint8))
    # int arrays inside 0-255 (e.g. int64 from arithmetic) are fine
    assert M.sad(np.full((2, 2), 255, np.int64), np.zeros((2, 2), np.uint8), region="all") == pytest.approx(
        4 / 1000
    )


def test_alpha_bias_is_the_signed_mean_over_the_region():
    """A_r − A averaged over the unknown pixels only (issue 20.3: positive = too wide)."""
    gt = np.array([[0, 128, 255], [0, 64, 255]], dtype=np.uint8)
    pred = np.array([[0.5, 1.0, 1.0], [0.0, 0.0, 0.0]])
    trimap = np.array([[0, 128, 255], [0, 128, 128]], dtype=np.uint8)
    expected = ((1.0 - 128 / 255) + (0.0 - 64 / 255) + (0.0 - 1.0)) / 3
    assert M.alpha_bias(pred, gt, trimap) == pytest.approx(expected, abs=1e-12)
    assert M.alpha_bias(gt, gt, trimap) == 0.0
    assert np.isnan(M.alpha_bias(pred, gt, np.zeros_like(trimap)))
