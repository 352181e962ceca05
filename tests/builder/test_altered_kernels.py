"""The foreground variant's kernels: composite, person-weighted Reinhard, make_sample."""

import cv2
import numpy as np
import pytest

from hmh_builder import schema
from hmh_builder.ingest.synthetic import synthetic_portrait
from hmh_builder.kernels.adjust import apply_adjustment
from hmh_builder.kernels.colour import adjust_illumination, lab_mean_std, reinhard_transfer, weighted_mean_std
from hmh_builder.kernels.composite import composite_foreground_altered
from hmh_builder.pipeline.sample import Choice, make_sample


def test_foreground_composite_literal():
    image = np.array([[[10, 20, 30], [100, 100, 100], [200, 50, 0]]], np.uint8)
    alpha = np.array([[0, 51, 255]], np.uint8)  # 51/255 = 0.2
    adjusted = np.array([[[250, 250, 250], [0, 0, 0], [60, 70, 80]]], np.uint8)
    background = np.array([[[11, 21, 31], [200, 200, 200], [5, 5, 5]]], np.uint8)
    out = composite_foreground_altered(adjusted, alpha, background, image)
    # A = 0: the real image (not B, which differs from it here); A = 0.2: 0.2·0 + 0.8·200;
    # A = 1: the adjusted colour.
    assert out.tolist() == [[[10, 20, 30], [160, 160, 160], [60, 70, 80]]]
    assert out.dtype == np.uint8


def test_weighted_mean_std_literal():
    values = np.array([[0.0, 5.0], [10.0, 5.0], [99.0, -1.0]])
    mean, std = weighted_mean_std(values, np.array([1, 3, 0]))
    # (0·1 + 10·3) / 4 = 7.5; ((0 − 7.5)²·1 + (10 − 7.5)²·3) / 4 = 18.75; weight 0 ignored.
    np.testing.assert_allclose(mean, [7.5, 5.0])
    np.testing.assert_allclose(std, [np.sqrt(18.75), 0.0])
    with pytest.raises(ValueError, match="no pixels"):
        weighted_mean_std(values, np.zeros(3))
    plain = weighted_mean_std(values)
    np.testing.assert_allclose(plain[0], values.mean(0))


def _tiny_portrait():
    """4×4 RGB with mid-range colours; the person (A > 0) is the left half."""
    rng = np.random.default_rng(7)
    image = rng.integers(60, 190, size=(4, 4, 3)).astype(np.uint8)
    alpha = np.zeros((4, 4), np.uint8)
    alpha[:, :2] = 255
    alpha[:, 2] = 128
    return image, alpha


def test_person_weighted_reinhard_matches_an_oracle():
    """The source statistics are the A-weighted CIELAB mean/std; an independent numpy/OpenCV
    computation of Reinhard with np.average gives the same pixels (±1 for float32 vs 64)."""
    image, alpha = _tiny_portrait()
    t_mean, t_std = np.array([55.0, 12.0, -8.0]), np.array([9.0, 4.0, 6.0])
    got = reinhard_transfer(image, t_mean, t_std, source_weights=alpha)

    lab = cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_RGB2Lab).reshape(-1, 3).astype(np.float64)
    w = alpha.reshape(-1).astype(np.float64)
    s_mean = np.average(lab, axis=0, weights=w)
    s_std = np.sqrt(np.average((lab - s_mean) ** 2, axis=0, weights=w))
    moved = (lab - s_mean) * (t_std / s_std) + t_mean
    rgb = cv2.cvtColor(moved.reshape(4, 4, 3).astype(np.float32), cv2.COLOR_Lab2RGB)
    expected = np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)
    assert np.abs(got.astype(int) - expected).max() <= 1
    # and it is not the unweighted transfer (the background pixels would count there)
    assert not np.array_equal(got, reinhard_transfer(image, t_mean, t_std))
    # the person's weighted statistics reach the target
    mean, std = lab_mean_std(got, weights=alpha, max_pixels=None)
    np.testing.assert_allclose(mean, t_mean, atol=1.0)
    np.testing.assert_allclose(std, t_std, atol=1.0)


def test_background_pixels_do_not_change_the_persons_transfer():
    image, alpha = _tiny_portrait()
    other = image.copy()
    other[alpha == 0] = 255 - other[alpha == 0]
    stats = (np.array([60.0, 5.0, 5.0]), np.array([10.0, 3.0, 3.0]))
    a = apply_adjustment(image, "reinhard", {}, stats, source_weights=alpha)
    b = apply_adjustment(other, "reinhard", {}, stats, source_weights=alpha)
    person = alpha > 0
    assert np.array_equal(a[person], b[person])


@pytest.fixture(scope="module")
def portrait():
    image, alpha, _ = synthetic_portrait(np.random.default_rng(4), 80, 60)
    target, target_alpha, _ = synthetic_portrait(np.random.default_rng(9), 80, 60)
    return image, alpha, lab_mean_std(target, weights=target_alpha)


@pytest.mark.parametrize(
    "transform, params",
    [
        ("illumination", {"gain": 1.5, "offset": 0.0}),
        ("saturation", {"method": "chroma", "factor": 0.5}),
        ("reinhard", {}),
    ],
)
@pytest.mark.parametrize("resolution", ["source", "output"])
def test_foreground_sample_invariants(portrait, transform, params, resolution):
    image, alpha, stats = portrait
    choice = Choice(transform, params)
    fg = make_sample(image, alpha, (32, 24), "multilevel", resolution, choice, stats, "foreground")
    bg = make_sample(image, alpha, (32, 24), "multilevel", resolution, choice, stats, "background")
    assert set(fg) == {"I", "A", "F", "B", "F_t", "I_d"} and "B_t" in bg
    for name in ("I", "A", "F", "B"):  # the same definitions on both sides
        assert np.array_equal(fg[name], bg[name]), name
    opaque, clear = fg["A"] == 255, fg["A"] == 0
    assert np.array_equal(fg["I_d"][clear], fg["I"][clear])
    assert np.array_equal(fg["I_d"][opaque], fg["F_t"][opaque])
    assert (fg["I_d"][opaque] != fg["I"][opaque]).any(), "the person's colours did not change"
    band = ~opaque & ~clear
    a = fg["A"].astype(np.float64)[..., None] / 255
    expected = a * fg["F_t"] + (1 - a) * fg["B"]
    assert np.abs(expected - fg["I_d"])[band].max() <= 1
    if transform == "illumination":  # F_t is the transform of I itself
        assert np.array_equal(fg["F_t"], adjust_illumination(fg["I"], 1.5, 0.0))


def test_source_resolution_background_differs_from_I_where_A_is_0(portrait):
    """Why the composite copies I where A = 0: a B estimated on the source and then resized
    is not exactly I there."""
    image, alpha, stats = portrait
    fg = make_sample(
        image,
        alpha,
        (32, 24),
        "multilevel",
        "source",
        Choice("illumination", {"gain": 1.5, "offset": 0.0}),
        stats,
        "foreground",
    )
    clear = fg["A"] == 0
    assert (fg["B"][clear] != fg["I"][clear]).any()
    assert np.array_equal(fg["I_d"][clear], fg["I"][clear])


def test_schema_side_defaults_and_digests():
    assert schema.altered_of({}) == "background"
    assert schema.altered_of({"altered": b"foreground"}) == "foreground"
    assert schema.manifest_altered({"config": {}}) == "background"
    with pytest.raises(ValueError, match="altered"):
        schema.altered_of({"altered": "person"})
    images = {
        name: np.zeros((2, 2, 3) if name != "A" else (2, 2), np.uint8) for name in schema.IMAGE_DATASETS
    }
    bg = schema.sample_digest("x", "reinhard", "{}", images)
    assert bg == schema.sample_digest("x", "reinhard", "{}", images, "background")
    assert bg != schema.sample_digest("x", "reinhard", "{}", images, "foreground")
