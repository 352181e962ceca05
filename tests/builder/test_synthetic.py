import re

import cv2
import numpy as np
import pytest

from hmh_builder.ingest.synthetic import synthetic_portrait, write_kaggle_layout, write_plain_layout


def test_portrait_is_deterministic_and_seed_dependent():
    a = synthetic_portrait(np.random.default_rng(5), 80, 60)
    b = synthetic_portrait(np.random.default_rng(5), 80, 60)
    c = synthetic_portrait(np.random.default_rng(6), 80, 60)
    for x, y in zip(a, b, strict=False):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])


def test_portrait_shapes_and_soft_alpha_band(small_portrait):
    image, alpha, truth = small_portrait
    assert image.shape == truth.shape == (200, 150, 3) and alpha.shape == (200, 150)
    assert image.dtype == alpha.dtype == truth.dtype == np.uint8
    soft = (alpha > 0) & (alpha < 255)
    assert soft.mean() > 0.02  # hair strands and blurred edges
    assert (alpha == 0).mean() > 0.3 and (alpha == 255).mean() > 0.15
    np.testing.assert_array_equal(image[alpha == 0], truth[alpha == 0])
    assert np.abs(image[alpha == 255].astype(int) - truth[alpha == 255]).mean() > 10
    assert truth.std() > 10  # textured, not flat


def test_too_small_raises():
    with pytest.raises(ValueError):
        synthetic_portrait(np.random.default_rng(0), 8, 8)


def _read(path, flags=cv2.IMREAD_UNCHANGED):
    return cv2.imread(str(path), flags)


def test_kaggle_layout_files_and_colour_order(synthetic_source):
    root, ids = synthetic_source(n=2, seed=3, height=64, width=48)
    assert ids == ["1803151818-00000001", "1803151818-00000002"]
    for k, sid in enumerate(ids):
        image, alpha, truth = synthetic_portrait(np.random.default_rng([3, k]), 64, 48)
        jpg = root / "clip_img" / "1803151818" / "clip_00000000" / f"{sid}.jpg"
        png = root / "matting" / "1803151818" / "matting_00000000" / f"{sid}.png"
        assert jpg.read_bytes()[:2] == b"\xff\xd8"
        decoded = cv2.cvtColor(_read(jpg), cv2.COLOR_BGR2RGB)
        err = np.abs(decoded.astype(int) - image).mean()  # JPEG q95 of a noisy tiny image
        swapped = np.abs(decoded[..., ::-1].astype(int) - image).mean()
        assert err < 8 and swapped > 3 * err  # RGB order kept
        rgba = cv2.cvtColor(_read(png), cv2.COLOR_BGRA2RGBA)
        np.testing.assert_array_equal(rgba[..., 3], alpha)
        np.testing.assert_array_equal(rgba[..., :3], image)
        np.testing.assert_array_equal(
            cv2.cvtColor(_read(root / "_truth" / f"{sid}.png"), cv2.COLOR_BGR2RGB), truth
        )


def test_kaggle_layout_without_truth_and_custom_group(tmp_path):
    ids = write_kaggle_layout(tmp_path, 1, seed=0, height=32, width=32, group="1900000000", with_truth=False)
    assert re.fullmatch(r"1900000000-\d{8}", ids[0])
    assert not (tmp_path / "_truth").exists()
    assert (tmp_path / "matting" / "1900000000" / "matting_00000000" / f"{ids[0]}.png").is_file()


def test_plain_layout(tmp_path):
    stems = write_plain_layout(tmp_path, 2, seed=1, height=40, width=30)
    assert stems == ["portrait-00001", "portrait-00002"]
    _, alpha, _ = synthetic_portrait(np.random.default_rng([1, 1]), 40, 30)
    gray = _read(tmp_path / "alpha" / "portrait-00002.png")
    assert gray.ndim == 2
    np.testing.assert_array_equal(gray, alpha)
    assert _read(tmp_path / "image" / "portrait-00001.jpg").shape == (40, 30, 3)


@pytest.mark.parametrize("mode", ["cutout", "zero"])
def test_kaggle_matte_rgb_modes(tmp_path, mode):
    sid = write_kaggle_layout(tmp_path, 1, seed=2, height=48, width=40, with_truth=False, matte_rgb=mode)[0]
    image, alpha, _ = synthetic_portrait(np.random.default_rng([2, 0]), 48, 40)
    rgba = cv2.cvtColor(
        _read(tmp_path / "matting" / "1803151818" / "matting_00000000" / f"{sid}.png"), cv2.COLOR_BGRA2RGBA
    )
    np.testing.assert_array_equal(rgba[..., 3], alpha)
    want = np.where((alpha > 0)[..., None], image, 0) if mode == "cutout" else np.zeros_like(image)
    np.testing.assert_array_equal(rgba[..., :3], want)


def test_kaggle_bad_matte_mode(tmp_path):
    with pytest.raises(ValueError, match="matte_rgb"):
        write_kaggle_layout(tmp_path, 1, matte_rgb="grey")


def test_write_backgrounds_is_seeded_and_person_free(tmp_path):
    from hmh_builder.imageio import decode_image
    from hmh_builder.ingest.synthetic import write_backgrounds

    names = write_backgrounds(tmp_path / "a", 2, seed=0, height=40, width=30)
    assert names == ["scene-00001.jpg", "scene-00002.jpg"]
    write_backgrounds(tmp_path / "b", 2, seed=0, height=40, width=30)
    first = decode_image(str(tmp_path / "a" / names[0]))
    assert first.shape == (40, 30, 3)
    assert (tmp_path / "a" / names[0]).read_bytes() == (tmp_path / "b" / names[0]).read_bytes()
    assert not np.array_equal(first, decode_image(str(tmp_path / "a" / names[1])))
