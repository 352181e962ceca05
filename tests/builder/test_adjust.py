import json

import numpy as np
import pytest

from hmh_builder.kernels import colour
from hmh_builder.kernels.adjust import (
    DEFAULT_ADJUST,
    PAPER_ADJUST,
    TRANSFORMS,
    AdjustSettings,
    apply_adjustment,
    draw_adjustment,
)


def _image(seed=0, h=40, w=50):
    rng = np.random.default_rng(seed)
    return rng.integers(40, 220, (h, w, 3), dtype=np.uint8)


def test_paper_recipe_values():
    assert PAPER_ADJUST.probabilities == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert PAPER_ADJUST.illumination_style == "offset"
    assert tuple(PAPER_ADJUST.illumination_offset) == (-100.0, 200.0)
    assert PAPER_ADJUST.saturation_style == "msrcr"
    assert tuple(PAPER_ADJUST.msrcr_sigmas) == (15.0, 80.0, 200.0)
    assert TRANSFORMS == ("reinhard", "illumination", "saturation")


@pytest.mark.parametrize("settings", [PAPER_ADJUST, DEFAULT_ADJUST])
def test_dict_round_trip_is_json(settings):
    data = json.loads(json.dumps(settings.to_dict()))
    assert AdjustSettings.from_dict(data) == settings


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"p_reinhard": 0.5}, "must be 1"),
        ({"p_reinhard": -0.1, "p_illumination": 0.6, "p_saturation": 0.5}, ">= 0"),
        ({"illumination_style": "gamma"}, "illumination_style"),
        ({"saturation_style": "hsv"}, "saturation_style"),
        ({"illumination_offset": [200, -100]}, "illumination_offset"),
        ({"saturation_factor": [0, 2]}, "saturation_factor"),
        ({"exposure_stops": "wide"}, "exposure_stops"),
        ({"msrcr_sigmas": []}, "msrcr_sigmas"),
        ({"brightness": 3}, "unknown adjust setting"),
    ],
)
def test_from_dict_rejects_bad_values(bad, match):
    with pytest.raises(ValueError, match=match):
        AdjustSettings.from_dict(bad)


def test_draw_is_deterministic_for_a_seed():
    a = [draw_adjustment(np.random.default_rng([7, k]), PAPER_ADJUST) for k in range(20)]
    b = [draw_adjustment(np.random.default_rng([7, k]), PAPER_ADJUST) for k in range(20)]
    assert a == b
    assert len({json.dumps(p, sort_keys=True) for _, p in a}) > 5


def test_draw_frequencies_follow_probabilities():
    settings = AdjustSettings(p_reinhard=0.5, p_illumination=0.3, p_saturation=0.2)
    rng = np.random.default_rng(0)
    names = [draw_adjustment(rng, settings)[0] for _ in range(4000)]
    freq = [names.count(t) / len(names) for t in TRANSFORMS]
    np.testing.assert_allclose(freq, [0.5, 0.3, 0.2], atol=0.025)
    only = AdjustSettings(p_reinhard=0.0, p_illumination=0.0, p_saturation=1.0)
    assert {draw_adjustment(rng, only)[0] for _ in range(50)} == {"saturation"}


def test_drawn_parameters_lie_in_their_ranges():
    rng = np.random.default_rng(1)
    for settings in (PAPER_ADJUST, DEFAULT_ADJUST):
        for _ in range(300):
            name, params = draw_adjustment(rng, settings)
            json.dumps(params)
            if name == "reinhard":
                assert params == {}
            elif name == "illumination" and settings.illumination_style == "offset":
                assert params["gain"] == 1.0 and -100 <= params["offset"] <= 200
            elif name == "illumination":
                assert params["offset"] == 0.0 and 0.5 <= params["gain"] <= 2.0
                assert params["gain"] == pytest.approx(2 ** params["stops"], abs=1e-4)
            elif settings.saturation_style == "chroma":
                assert params["method"] == "chroma" and 0.5 <= params["factor"] <= 2.0
            else:
                assert params["method"] == "msrcr" and params["stretch"] is False


def test_apply_illumination_and_chroma_match_kernels():
    image = _image()
    out = apply_adjustment(image, "illumination", {"gain": 1.0, "offset": -30.5})
    np.testing.assert_array_equal(out, colour.adjust_illumination(image, 1.0, -30.5))
    out = apply_adjustment(image, "saturation", {"method": "chroma", "factor": 1.7})
    np.testing.assert_array_equal(out, colour.adjust_saturation(image, 1.7))


def test_apply_msrcr_scales_sigmas_to_image_size():
    image = _image(2, 40, 50)
    params = {"method": "msrcr", "sigmas": [15.0, 80.0, 200.0], "reference_size": 100, "stretch": True}
    out = apply_adjustment(image, "saturation", params)
    np.testing.assert_array_equal(out, colour.msrcr(image, sigmas=[7.5, 40.0, 100.0], stretch=True))


def test_apply_reinhard_reaches_target_statistics():
    image = np.clip(_image(3).astype(int) // 3 + 80, 0, 255).astype(np.uint8)
    target = (50.0, -15.0, 12.0), (6.0, 3.0, 3.0)
    out = apply_adjustment(image, "reinhard", {"target": "x"}, target_stats=target)
    mean, std = colour.lab_mean_std(out)
    np.testing.assert_allclose(mean, target[0], atol=0.7)
    np.testing.assert_allclose(std, target[1], atol=0.7)


def test_apply_rejects_missing_stats_and_unknown_names():
    with pytest.raises(ValueError, match="target_stats"):
        apply_adjustment(_image(), "reinhard", {})
    with pytest.raises(ValueError, match="unknown transform"):
        apply_adjustment(_image(), "blur", {})
