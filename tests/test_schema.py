import h5py
import numpy as np
import pytest

from hmh_builder import schema


def _images(value):
    return {
        "I": np.full((2, 2, 3), value, np.uint8),
        "A": np.full((2, 2), value, np.uint8),
        "F": np.zeros((2, 2, 3), np.uint8),
        "B": np.zeros((2, 2, 3), np.uint8),
        "I_d": np.zeros((2, 2, 3), np.uint8),
    }


def test_split_is_pure_function_of_id_and_fraction():
    ids = [f"1803151818-{i:08d}" for i in range(20000)]
    splits = [schema.split_of(i, 0.1) for i in ids]
    assert splits == [schema.split_of(i, 0.1) for i in reversed(ids)][::-1]
    share = splits.count("test") / len(ids)
    assert 0.09 < share < 0.11
    assert all(schema.split_of(i, 0.0) == "train" for i in ids[:100])
    assert all(schema.split_of(i, 1.0) == "test" for i in ids[:100])


def test_content_digest_ignores_order():
    pairs = [("b", "2" * 64), ("a", "1" * 64), ("c", "3" * 64)]
    assert schema.content_digest(pairs) == schema.content_digest(sorted(pairs))
    assert schema.content_digest(pairs) != schema.content_digest(pairs[:2])


def test_sample_digest_changes_with_any_pixel_or_metadata():
    base = schema.sample_digest("x", "reinhard", "{}", _images(7))
    assert base == schema.sample_digest("x", "reinhard", "{}", _images(7))
    assert base != schema.sample_digest("x", "reinhard", "{}", _images(8))
    assert base != schema.sample_digest("x", "saturation", "{}", _images(7))
    assert base != schema.sample_digest("y", "reinhard", "{}", _images(7))


def test_created_shard_passes_check_and_broken_one_fails(tmp_path):
    path = tmp_path / "s.h5"
    with h5py.File(path, "w") as f:
        schema.create_shard_datasets(f, 3, 4, 5)
        f.attrs.update(schema.shard_attrs("train", 4, 5, "0.1.0", "abc"))
    with h5py.File(path, "r") as f:
        assert schema.check_shard(f, "train") == []
        assert f["I"].chunks == (1, 4, 5, 3)
        assert f["A"].shape == (3, 4, 5)
    with h5py.File(path, "a") as f:
        del f["B"]
        f.attrs["channel_order"] = "BGR"
    with h5py.File(path, "r") as f:
        problems = schema.check_shard(f)
    assert any("'B' is missing" in p for p in problems)
    assert any("channel_order" in p for p in problems)


def test_sample_seed_is_stable_literal():
    assert schema.sample_seed(0, "a")[0] == 0
    assert schema.sample_seed(0, "a") == schema.sample_seed(0, "a")
    assert schema.sample_seed(0, "a") != schema.sample_seed(1, "a")


def test_background_shard_schema_and_digest(tmp_path):
    path = tmp_path / "bg.h5"
    with h5py.File(path, "w") as f:
        schema.create_background_datasets(f, 2, 4, 5)
        for key, value in schema.background_attrs(4, 5, "0.1.0", "abc").items():
            f.attrs[key] = value
        assert schema.check_background_shard(f) == []
        assert f["image"].chunks == (1, 4, 5, 3)
        f.attrs["format"] = "hmh-shard"
        assert schema.check_background_shard(f) == [
            "attribute format is 'hmh-shard', expected 'hmh-backgrounds'"
        ]
    assert schema.background_shard_filename(3) == "backgrounds/backgrounds-00003.h5"
    image = np.zeros((4, 5, 3), np.uint8)
    digest = schema.background_digest("a/b", image)
    assert digest == schema.background_digest("a/b", image.copy())
    assert digest != schema.background_digest("a/c", image)
    image[0, 0, 0] = 1
    assert digest != schema.background_digest("a/b", image)


def test_resizable_shard_shrinks_to_filled_rows_and_still_passes_check(tmp_path):
    path = tmp_path / "r.h5"
    with h5py.File(path, "w") as f:
        schema.create_shard_datasets(f, 5, 4, 6, with_b_t=True, resizable=True)
        f.attrs.update(schema.shard_attrs("test", 4, 6, "0.1.0", "abc"))
        f["I"][1] = np.full((4, 6, 3), 9, np.uint8)
        f["id"][1] = "second"
        schema.resize_shard_datasets(f, 2)
    with h5py.File(path, "r") as f:
        assert schema.check_shard(f, "test") == []
        assert f["I"].shape == (2, 4, 6, 3) and f["B_t"].shape == (2, 4, 6, 3)
        assert f["id"].shape == (2,) and f["id"][1].decode() == "second"
        assert int(f["I"][1].sum()) == 9 * 4 * 6 * 3 and f["I"].chunks == (1, 4, 6, 3)


def test_reproducible_on_another_day_literal_values():
    """Pinned values: a change to the id hash, the split rule, the digest layout or the
    config hash changes every build's content_digest, so it must show up here first."""
    assert schema.sample_seed(0, "a") == [0, 14598278634844962250]
    assert schema.sample_seed(7, "1803151818-00000003") == [7, 3477522692410613643]
    test_ids = [k for k in range(1, 75) if schema.split_of(f"1803151818-{k:08d}", 0.1) == "test"]
    assert test_ids == [26, 27, 37, 56, 63, 72]
    digest = schema.sample_digest("x", "reinhard", "{}", _images(7))
    assert digest == "21f419c48baa442c59db1286efa0c87a26ba63b5b5424cc64232e91b10063b3c"
    assert (
        schema.content_digest([("x", digest)])
        == "ecce90c783d34237fff659bf97bdb37482b15a19a99c717d94d90253f9ab7c66"
    )
    assert schema.config_hash({"b": [1, 2], "a": 1}) == "8baa73198470c7bb"


def test_pair_shards_are_a_kind_of_their_own(tmp_path):
    path = tmp_path / "pairs.h5"
    with h5py.File(path, "w") as f:
        schema.create_shard_datasets(f, 2, 4, 5, kind=schema.KIND_PAIRS)
        f.attrs.update(schema.shard_attrs("test", 4, 5, "v", "h", kind=schema.KIND_PAIRS))
    with h5py.File(path, "r") as f:
        assert schema.check_shard(f, "test") == [] and schema.shard_kind(f) == "harmonization"
        assert set(f) == {"I", "I_d", "M", "id", "subset"} and f["M"].shape == (2, 4, 5)
    with h5py.File(path, "r+") as f:
        f.attrs["kind"] = "other"
    with h5py.File(path, "r") as f:
        assert any("kind attribute is 'other'" in p for p in schema.check_shard(f))
    hmh = schema.shard_attrs("train", 4, 5, "v", "h")
    assert "kind" not in hmh  # HMH shards are written exactly as before
    assert (
        schema.manifest_kind({}) == "hmh"
        and schema.manifest_kind({"kind": "harmonization"}) == "harmonization"
    )


def test_pair_digest_changes_with_any_pixel_or_the_subset():
    images = {
        "I": np.zeros((2, 2, 3), np.uint8),
        "I_d": np.ones((2, 2, 3), np.uint8),
        "M": np.full((2, 2), 255, np.uint8),
    }
    base = schema.pair_digest("a/x_1_1.jpg", "a", images)
    assert base == schema.pair_digest("a/x_1_1.jpg", "a", dict(images))
    assert base != schema.pair_digest("a/x_1_1.jpg", "b", images)
    assert base != schema.pair_digest("a/x_1_1.jpg", "a", dict(images, M=np.zeros((2, 2), np.uint8)))


def test_load_manifest_says_in_one_line_what_is_wrong(tmp_path):
    cases = {
        "[]": "holds a JSON list, not a manifest object",
        "{": "not valid JSON (Expecting property name enclosed in double quotes at line 1)",
        '{"format": "other"}': "format is 'other', expected 'hmh-manifest'",
        '{"format": "hmh-manifest", "format_version": 9}': "format_version 9 is not supported",
    }
    for k, (text, reason) in enumerate(cases.items()):
        folder = tmp_path / str(k)
        folder.mkdir()
        (folder / "manifest.json").write_text(text)
        with pytest.raises(ValueError) as caught:
            schema.load_manifest(folder)
        assert str(caught.value).startswith(f"{folder / 'manifest.json'}: {reason}")
    with pytest.raises(ValueError, match="no manifest.json"):
        schema.load_manifest(tmp_path)
