"""The dataset card states how the transfers were drawn, as configured, without false notes."""

from hmh_builder.release.card import CardFacts, render_card

META = {
    "counts": {"splits": {"train": {"illumination": 2, "saturation": 1}}},
    "params": {"illumination": {"stops": {"count": 2, "min": -0.5, "max": 0.25, "mean": -0.125}}},
    "text_params": {
        "saturation": {"method": {"distinct": 1, "count": 1, "equal_to_own_id": 0}},
        "reinhard": {"target": {"distinct": 3, "count": 3, "equal_to_own_id": 0}},
    },
}


def _card(**adjust):
    base = {
        "p_reinhard": 0.5,
        "p_illumination": 0.25,
        "p_saturation": 0.25,
        "illumination_style": "exposure",
        "illumination_offset": [-100.0, 200.0],
        "exposure_stops": [-1.0, 1.0],
        "saturation_style": "chroma",
        "saturation_factor": [0.5, 2.0],
        "msrcr_sigmas": [15.0, 80.0, 200.0],
        "msrcr_reference_size": 800,
        "msrcr_stretch": True,
    }
    manifest = {"counts": {"written": 3}, "config": {"adjust": {**base, **adjust}, "seed": 0}}
    return render_card(CardFacts("x", "1.0.0", "MIT", None, manifest, META, (64, 64)))


def test_card_states_configured_distributions_of_the_default_styles():
    text = _card()
    assert "- probabilities: reinhard 0.5, illumination 0.25, saturation 0.25" in text
    assert "EV (`stops`) drawn uniformly in [-1, 1]" in text
    assert "drawn log-uniformly in [0.5, 2]" in text
    assert "[-100, 200]" not in text.split("Full build config")[0]  # unused by the exposure style


def test_card_states_the_paper_styles_when_configured():
    text = _card(illumination_style="offset", saturation_style="msrcr", msrcr_stretch=False)
    assert "one offset drawn uniformly in [-100, 200] (0–255 units)" in text
    assert "MSRCR colour enhancement, sigmas [15.0, 80.0, 200.0] px at 800 px image height, hard clip" in text


def test_own_id_note_only_for_the_reinhard_target():
    text = _card()
    assert "- saturation `method`: 1 distinct values over 1 samples\n" in text
    assert "- reinhard `target`: 3 distinct values over 3 samples (0 equal to the sample's own id)" in text


def test_a_release_without_test_split_loads_and_lists_only_train():
    text = _card()  # META has a train split only
    snippet = text.split("```python\n", 1)[1].split("```", 1)[0]
    assert 'h5py.File("train.h5", "r")' in snippet and "test.h5" not in snippet
    assert len(snippet.strip().splitlines()) == 5
    assert "test.h5" not in text and "`test/*.h5`" not in text
    assert "Files: `train/*.h5` (shards, FORMAT.md v1), `train.h5` (virtual files)" in text


def test_both_splits_snippet_opens_test_and_names_train():
    meta = {**META, "counts": {"splits": {"train": {"saturation": 2}, "test": {"saturation": 1}}}}
    text = render_card(CardFacts("x", "1.0.0", "MIT", None, {"config": {}}, meta, (64, 64)))
    assert 'h5py.File("test.h5", "r") as f:  # or "train.h5"; one file per split' in text
    assert "Files: `train/*.h5`, `test/*.h5` (shards, FORMAT.md v1), `train.h5`, `test.h5`" in text
