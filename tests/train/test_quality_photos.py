"""benchmarks/quality_photos.py: portraits from the photographs shipped with scikit-image and
matplotlib (issue 20.2), a pure function of (seed, k), that hmh-build turns into shards."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("skimage", reason="--source photos needs scikit-image (a benchmark-only dependency)")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import quality_photos as P  # noqa: E402

from hmh_builder.cli import main as build_main  # noqa: E402
from hmh_builder.imageio import decode_image, decode_matte  # noqa: E402
from hmh_train.data.shards import ShardDataset  # noqa: E402


def test_every_photograph_is_a_real_colour_photo():
    photos = P.load_photos()
    assert len(photos) == len(P.PHOTOS) >= 6
    for photo in photos:
        assert photo.dtype == np.uint8 and photo.ndim == 3 and min(photo.shape[:2]) >= 300
        assert photo.std(axis=(0, 1)).min() > 10  # textured, in colour, not a flat test chart


def test_photo_portrait_keeps_real_pixels_where_the_matte_is_opaque_or_empty():
    photos = P.load_photos()
    rng = np.random.default_rng([5, 1])
    image, alpha = P.photo_portrait(rng, photos, 64, 48)
    assert image.shape == (64, 48, 3) and alpha.shape == (64, 48)
    soft = (alpha > 0) & (alpha < 255)
    assert soft.sum() > 20 and (alpha == 255).sum() > 100 and (alpha == 0).sum() > 100
    again, alpha_again = P.photo_portrait(np.random.default_rng([5, 1]), photos, 64, 48)
    assert np.array_equal(image, again) and np.array_equal(alpha, alpha_again)
    other, _ = P.photo_portrait(np.random.default_rng([5, 2]), photos, 64, 48)
    assert not np.array_equal(image, other)


def test_written_layout_builds_into_shards(tmp_path):
    ids = P.write_photo_layout(tmp_path / "src", 6, seed=3, height=48, width=40)
    first = tmp_path / "src" / "clip_img" / P.GROUP / "clip_00000000" / f"{ids[0]}.jpg"
    matte = tmp_path / "src" / "matting" / P.GROUP / "matting_00000000" / f"{ids[0]}.png"
    assert decode_image(str(first)).shape == (48, 40, 3)
    assert decode_matte(str(matte), "kaggle").shape == (48, 40)
    try:
        build_main.main(
            [
                "build",
                "--src",
                str(tmp_path / "src"),
                "--out",
                str(tmp_path / "out"),
                "--size",
                "32",
                "--workers",
                "1",
                "--test-fraction",
                "0.34",
                "--no-progress",
            ],
            standalone_mode=False,
        )
    except SystemExit as exc:
        assert exc.code in (0, None)
    train, test = ShardDataset(str(tmp_path / "out"), "train"), ShardDataset(str(tmp_path / "out"), "test")
    assert len(train) + len(test) == 6 and len(test) >= 1
