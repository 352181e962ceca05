"""Trimaps, paired crop/flip and online background adjustment (hmh_train.data.augment / adjust)."""

from __future__ import annotations

import kornia.color
import numpy as np
import pytest
import torch

from hmh_train.data.adjust import lab_stats, online_adjust, recomposite, reinhard_lab
from hmh_train.data.augment import (
    EVAL_TRIMAP_RADIUS,
    apply_crop_flip,
    draw_crop_flip,
    make_batch,
    trimap_from_alpha,
)


def _alpha(n=2, size=48, seed=0):
    """Alpha (n,1,size,size) on the uint8 grid: a disc of ones with a soft 3-px edge, zeros outside."""
    yy, xx = np.mgrid[:size, :size]
    dist = np.hypot(yy - size / 2, xx - size / 2)
    a = np.clip((size / 4 + 1.5 - dist) / 3, 0, 1)
    a = np.round(a * 255) / 255
    return torch.tensor(a, dtype=torch.float32).expand(n, 1, size, size).clone()


def _raw(n=3, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)
    alpha = (_alpha(n, size) * 255).round().to(torch.uint8)
    return {"I": image, "A": alpha, "B": image.clone(), "I_d": image.clone()}


def _naive_disk_dilation(mask, radius):
    """Oracle: a pixel is set when some set pixel lies within Euclidean distance ``radius``."""
    ys, xs = np.nonzero(mask)
    out = np.zeros_like(mask)
    for y in range(mask.shape[0]):
        for x in range(mask.shape[1]):
            out[y, x] = bool(((ys - y) ** 2 + (xs - x) ** 2 <= radius * radius).any())
    return out


@pytest.mark.parametrize("radius", [0, 1, 5, 19])
def test_trimap_matches_a_scipy_disk_dilation(radius):
    alpha = _alpha(1)
    trimap = trimap_from_alpha(alpha, radius)[0, 0].numpy()
    a = alpha[0, 0].numpy()
    band = (a > 0) & (a < 1)
    oracle = _naive_disk_dilation(band, radius)
    np.testing.assert_array_equal(trimap == 0.5, oracle)
    np.testing.assert_array_equal(trimap[~oracle], (a[~oracle] == 1).astype(np.float32))
    assert set(np.unique(trimap)) <= {0.0, 0.5, 1.0}


def test_trimap_per_sample_radius_and_band_contains_soft_alpha():
    alpha = _alpha(3)
    trimap = trimap_from_alpha(alpha, [1, 7, 19])
    soft = (alpha > 0) & (alpha < 1)
    assert bool((trimap[soft] == 0.5).all())
    widths = [(trimap[i] == 0.5).sum().item() for i in range(3)]
    assert widths[0] < widths[1] < widths[2]


def test_eval_batch_trimap_is_deterministic_with_the_documented_radius():
    raw = _raw()
    first, second = make_batch(raw, "cpu", train=False), make_batch(raw, "cpu", train=False)
    assert torch.equal(first.trimap, second.trimap)
    assert torch.equal(first.trimap, trimap_from_alpha(first.alpha, EVAL_TRIMAP_RADIUS))
    assert torch.equal(first.image, raw["I"].float() / 255)


def test_train_trimap_radius_is_random_but_seeded():
    raw = _raw(n=4)
    a = make_batch(raw, "cpu", torch.Generator().manual_seed(1), flip=False)
    b = make_batch(raw, "cpu", torch.Generator().manual_seed(1), flip=False)
    assert torch.equal(a.trimap, b.trimap)
    assert len({(a.trimap[i] == 0.5).sum().item() for i in range(4)}) > 1


def test_crop_and_flip_are_applied_identically_to_paired_images():
    raw = _raw(n=4)
    raw["A"] = raw["I"][:, :1].clone()  # every input is the same picture → outputs must agree
    batch = make_batch(raw, "cpu", torch.Generator().manual_seed(3), crop_min=0.6)
    assert torch.equal(batch.image, batch.background) and torch.equal(batch.image, batch.disharmonious)
    assert torch.equal(batch.alpha, batch.image[:, :1])
    assert not torch.equal(batch.image, raw["I"].float() / 255)


def test_pure_flip_equals_torch_flip_and_identity_is_exact():
    x = torch.rand(2, 4, 8, 8)
    theta = draw_crop_flip(torch.Generator().manual_seed(0), 2, crop_min=1.0, flip=False)
    assert torch.allclose(apply_crop_flip(x, theta), x, atol=1e-6)
    theta[:, 0, 0] = -1
    assert torch.allclose(apply_crop_flip(x, theta), x.flip(-1), atol=1e-6)


def test_online_adjust_changes_only_where_background_shows():
    g = torch.Generator().manual_seed(0)
    image, background = torch.rand(4, 3, 48, 48, generator=g), torch.rand(4, 3, 48, 48, generator=g)
    alpha = _alpha(4)
    composite = online_adjust(image, alpha, background, torch.Generator().manual_seed(5))
    fg = (alpha == 1).expand_as(image)
    assert torch.equal(composite[fg], image[fg])
    assert (composite[~fg] - image[~fg]).abs().max() > 0.05
    assert composite.min() >= 0 and composite.max() <= 1


def test_online_adjust_is_redrawn_each_call():
    image, background, alpha = torch.rand(4, 3, 16, 16), torch.rand(4, 3, 16, 16), _alpha(4, 16)
    g = torch.Generator().manual_seed(0)
    assert not torch.equal(
        online_adjust(image, alpha, background, g), online_adjust(image, alpha, background, g)
    )


def test_reinhard_moves_lab_statistics_to_the_target():
    g = torch.Generator().manual_seed(2)
    source = 0.2 + 0.3 * torch.rand(2, 3, 32, 32, generator=g)
    target = 0.5 + 0.2 * torch.rand(2, 3, 32, 32, generator=g) * torch.tensor([1.0, 0.5, 0.2])[:, None, None]
    out = reinhard_lab(source, target)
    (ms, ss), (mt, st), (mo, so) = lab_stats(source), lab_stats(target), lab_stats(out)
    assert ((mo - mt).abs() < 0.25 * (ms - mt).abs() + 0.5).all()
    assert ((so - st).abs() < 0.25 * (ss - st).abs() + 0.5).all()


def test_reinhard_toward_itself_is_identity():
    x = 0.1 + 0.8 * torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(4))
    assert torch.allclose(reinhard_lab(x, x), x, atol=2e-3)
    lab = kornia.color.rgb_to_lab(x)
    assert torch.allclose(kornia.color.lab_to_rgb(lab), x, atol=2e-3)


def test_recomposite_is_equation_one():
    image, background, alpha = torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4), torch.rand(1, 1, 4, 4)
    assert torch.allclose(recomposite(image, alpha, background), alpha * image + (1 - alpha) * background)


def test_train_batch_needs_a_generator():
    with pytest.raises(ValueError, match="Generator"):
        make_batch(_raw(), "cpu", None, train=True)
