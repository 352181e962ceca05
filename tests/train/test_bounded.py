"""Bounded-memory matting (``infer.bounded``): tiles equal the whole-image result when every
crop holds the predictor's whole support (oracle: a local filter), the cap and the guided
return to full size, and the whole-image path is exactly the predictor."""

from __future__ import annotations

import cv2
import numpy as np

from hmh_train.infer import bounded


def local_predict(radius: int):
    """A stand-in matting 'network' whose output at a pixel depends only on the pixels within
    ``radius`` (a box mean of the gray image), 0–255 float32."""

    def predict(image, trimap):
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
        size = 2 * radius + 1
        return cv2.boxFilter(gray, cv2.CV_32F, (size, size), borderType=cv2.BORDER_REFLECT)

    return predict


def photo_and_trimap(h=300, w=420, seed=0):
    rng = np.random.default_rng(seed)
    image = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), np.uint8), (0, 0), 3)
    trimap = np.zeros((h, w), np.uint8)
    cv2.circle(trimap, (w // 2, h // 2), min(h, w) // 3, 255, -1)
    ring = cv2.dilate(trimap, np.ones((15, 15), np.uint8)) - cv2.erode(trimap, np.ones((15, 15), np.uint8))
    trimap[ring > 0] = 128
    return image, trimap


def test_tiles_equal_the_whole_image_where_crops_hold_the_support():
    image, trimap = photo_and_trimap()
    predict = local_predict(radius=5)
    whole = bounded.tiled_alpha(predict, image, trimap, tile=10_000, margin=0)
    tiled = bounded.tiled_alpha(predict, image, trimap, tile=64, margin=8)  # margin > radius
    assert len(bounded.tile_boxes(trimap == 128, 64, 8)) > 4
    np.testing.assert_array_equal(tiled, whole)
    # a margin smaller than the support is not the same (the test can fail)
    assert not np.array_equal(bounded.tiled_alpha(predict, image, trimap, tile=64, margin=2), whole)


def test_known_pixels_keep_the_trimap_and_tiles_without_unknown_are_skipped():
    image, trimap = photo_and_trimap()
    calls = []

    def predict(crop, crop_trimap):
        calls.append(crop.shape)
        return np.full(crop.shape[:2], 77.0, np.float32)

    alpha = bounded.tiled_alpha(predict, image, trimap, tile=64, margin=8)
    np.testing.assert_array_equal(alpha[trimap != 128], trimap[trimap != 128].astype(np.float32))
    assert (alpha[trimap == 128] == 77.0).all()
    assert len(calls) == len(bounded.tile_boxes(trimap == 128, 64, 8)) < (300 // 64 + 1) * (420 // 64 + 1)
    assert bounded.tile_boxes(np.zeros((50, 50), bool), 16, 4) == []


def test_an_image_within_the_cap_and_one_crop_is_exactly_the_predictor():
    image, trimap = photo_and_trimap()
    seen = []

    def predict(crop, crop_trimap):
        seen.append(crop.shape)
        return local_predict(3)(crop, crop_trimap)

    alpha = bounded.bounded_alpha(predict, image, trimap, max_side=420, tile=300, margin=60)
    assert seen == [image.shape]
    want = local_predict(3)(image, trimap)
    np.testing.assert_array_equal(alpha[trimap == 128], want[trimap == 128])


def test_capped_images_run_small_and_come_back_at_full_size():
    image, trimap = photo_and_trimap(600, 840)
    seen = []

    def predict(crop, crop_trimap):
        seen.append(crop.shape[:2])
        return local_predict(2)(crop, crop_trimap)

    alpha = bounded.bounded_alpha(predict, image, trimap, max_side=420, tile=1000, margin=0)
    assert seen == [(300, 420)]
    assert alpha.shape == trimap.shape and alpha.dtype == np.float32
    np.testing.assert_array_equal(alpha[trimap != 128], trimap[trimap != 128].astype(np.float32))
    full = local_predict(4)(image, trimap)  # the same filter at full size (radius × 2)
    band = trimap == 128
    assert abs(alpha[band].mean() - full[band].mean()) < 2.0  # gray levels
    assert 0 <= alpha.min() and alpha.max() <= 255
    guided = bounded.bounded_alpha(predict, image, trimap, max_side=420, tile=1000, margin=0, eps=1e-3)
    np.testing.assert_array_equal(guided[trimap != 128], alpha[trimap != 128])
    assert not np.array_equal(guided, alpha) and abs(guided[band].mean() - alpha[band].mean()) < 2.0


def test_guided_filter_against_a_direct_oracle():
    rng = np.random.default_rng(1)
    guide = rng.random((12, 13)).astype(np.float32)
    src = rng.random((12, 13)).astype(np.float32)
    got = bounded.guided_filter(guide, src, radius=1, eps=0.01)
    pad_g, pad_s = np.pad(guide, 1, mode="symmetric"), np.pad(src, 1, mode="symmetric")

    def mean(x, i, j):
        return x[i : i + 3, j : j + 3].mean()

    a, b = np.zeros_like(guide), np.zeros_like(guide)
    for i in range(12):
        for j in range(13):
            gi, si = pad_g[i : i + 3, j : j + 3], pad_s[i : i + 3, j : j + 3]
            a[i, j] = ((gi * si).mean() - gi.mean() * si.mean()) / (gi.var() + 0.01)
            b[i, j] = si.mean() - a[i, j] * gi.mean()
    pa, pb = np.pad(a, 1, mode="symmetric"), np.pad(b, 1, mode="symmetric")
    want = np.array([[mean(pa, i, j) * guide[i, j] + mean(pb, i, j) for j in range(13)] for i in range(12)])
    np.testing.assert_allclose(got, want, atol=1e-5)
    # a constant source comes back unchanged; the radius grows as the cap shrinks
    np.testing.assert_allclose(bounded.guided_filter(guide, np.full_like(src, 0.3), 2), 0.3, atol=1e-5)
    assert bounded.radius_for(1.0) == 2 and bounded.radius_for(0.25) == 8
