"""Batched torch metrics equal the numpy ones sample by sample (CPU; CUDA too when present)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hmh_train.evaluate import metrics as M
from hmh_train.evaluate import metrics_torch as MT

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
PAIRS = [
    (MT.sad, M.sad),
    (MT.mse, M.mse),
    (MT.gradient_error, M.gradient_error),
    (MT.connectivity_error, M.connectivity_error),
]


def _random_batch(seed, b=4, h=20, w=24):
    rng = np.random.default_rng(seed)
    # blocky alphas (components of many sizes), a noisy prediction, a random trimap
    gt = np.kron(rng.integers(0, 256, (b, h // 4, w // 4)), np.ones((1, 4, 4))).astype(np.uint8)
    pred = np.clip(gt.astype(int) + rng.integers(-70, 71, gt.shape), 0, 255).astype(np.uint8)
    pred[0] = gt[0]  # one perfect sample
    trimap = rng.choice(np.array([0, 128, 255], np.uint8), gt.shape)
    return pred, gt, trimap


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("seed", [0, 1])
def test_matting_metrics_equal_numpy(device, seed):
    pred, gt, trimap = _random_batch(seed)
    tp, tg, tt = (torch.from_numpy(a).to(device) for a in (pred, gt, trimap))
    for batched, single in PAIRS:
        got = batched(tp, tg, tt).cpu().numpy()
        want = [single(pred[i], gt[i], trimap[i]) for i in range(len(pred))]
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, err_msg=single.__name__)
        # float 0-1 input with a (B,1,H,W) layout and region="all"
        got_all = batched(tp[:, None].double() / 255, tg[:, None].double() / 255, None, region="all")
        want_all = [single(pred[i], gt[i], region="all") for i in range(len(pred))]
        np.testing.assert_allclose(got_all.cpu().numpy(), want_all, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
def test_components_match_numpy_on_a_snake(device):
    # a long 4-connected snake (slow for pure propagation) plus diagonal-only neighbours
    snake = np.zeros((9, 9), bool)
    snake[::2, :] = True
    snake[1::4, -1] = True
    snake[3::4, 0] = True
    snake[0, 0] = False
    got = MT.largest_component(torch.from_numpy(snake)[None].to(device))[0].cpu().numpy()
    np.testing.assert_array_equal(got, M.largest_component(snake))
    diag = np.eye(4, dtype=bool)
    got = MT.largest_component(torch.from_numpy(diag)[None].to(device))[0].cpu().numpy()
    np.testing.assert_array_equal(got, M.largest_component(diag))  # one pixel: (0, 0)
    assert got.sum() == 1 and got[0, 0]


@pytest.mark.parametrize("device", DEVICES)
def test_harmonization_metrics_equal_numpy(device):
    rng = np.random.default_rng(5)
    gt = rng.integers(0, 256, (3, 8, 10, 3), dtype=np.uint8)
    pred = np.clip(gt.astype(int) + rng.integers(-30, 31, gt.shape), 0, 255).astype(np.uint8)
    pred[1] = gt[1]
    alpha = rng.choice(np.array([0, 100, 255], np.uint8), gt.shape[:3])
    tp, tg = (torch.from_numpy(a).permute(0, 3, 1, 2).to(device) for a in (pred, gt))
    ta = torch.from_numpy(alpha).to(device)
    region = MT.altered_region(ta)
    np.testing.assert_array_equal(region.cpu().numpy(), [M.altered_region(a) for a in alpha])
    np.testing.assert_allclose(
        MT.harmonization_mse(tp, tg).cpu(),
        [M.harmonization_mse(p, g) for p, g in zip(pred, gt, strict=False)],
    )
    np.testing.assert_allclose(
        MT.fmse(tp, tg, region).cpu(),
        [M.fmse(p, g, M.altered_region(a)) for p, g, a in zip(pred, gt, alpha, strict=False)],
    )
    np.testing.assert_allclose(
        MT.psnr(tp.float() / 255, tg.float() / 255).cpu(),
        [M.psnr(p, g) for p, g in zip(pred, gt, strict=False)],
        rtol=1e-6,
    )
    assert MT.psnr(tg, tg)[0] == float("inf")
