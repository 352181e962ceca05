import pytest

from hmh_builder import schema
from hmh_builder.kernels.adjust import DEFAULT_ADJUST
from hmh_builder.pipeline.plan import plan_shards
from hmh_builder.pipeline.sources import Pair

PAIRS = [Pair(f"p{k:03d}", f"image/p{k:03d}.jpg", f"alpha/p{k:03d}.png", "plain") for k in range(40)]


def test_shards_hold_sorted_ids_of_one_split_in_fixed_chunks():
    tasks = plan_shards(PAIRS, 0, 0.25, 7, DEFAULT_ADJUST)
    for split in schema.SPLITS:
        expected = sorted(p.id for p in PAIRS if schema.split_of(p.id, 0.25) == split)
        mine = [t for t in tasks if t.split == split]
        assert [t.index for t in mine] == list(range(len(mine)))
        got = [[s.id for s in t.samples] for t in mine]
        assert got == [expected[i : i + 7] for i in range(0, len(expected), 7)]
    assert tasks[0].path == "train/train-00000.h5" and tasks[0].name == "train-00000"


def test_plan_does_not_depend_on_discovery_order():
    forward = plan_shards(PAIRS, 1, 0.1, 5, DEFAULT_ADJUST)
    backward = plan_shards(PAIRS[::-1], 1, 0.1, 5, DEFAULT_ADJUST)
    assert forward == backward
    assert [t.digest() for t in forward] == [t.digest() for t in backward]


def test_plan_digest_changes_with_content():
    base = plan_shards(PAIRS, 0, 0.0, 10, DEFAULT_ADJUST)
    other_seed = plan_shards(PAIRS, 1, 0.0, 10, DEFAULT_ADJUST)
    fewer = plan_shards(PAIRS[1:], 0, 0.0, 10, DEFAULT_ADJUST)
    assert base[0].digest() != other_seed[0].digest()
    assert base[0].digest() != fewer[0].digest()


def test_reinhard_targets_carry_their_image_and_matte_paths():
    by_id = {p.id: p for p in PAIRS}
    for task in plan_shards(PAIRS, 0, 0.1, 100, DEFAULT_ADJUST):
        for sample in task.samples:
            assert [t[0] for t in sample.targets] == list(sample.choice.targets)
            for target_id, image, alpha, layout in sample.targets:
                assert image == f"image/{target_id}.jpg"
                assert (alpha, layout) == (by_id[target_id].alpha, by_id[target_id].layout)


def test_shard_size_must_be_positive():
    with pytest.raises(ValueError):
        plan_shards(PAIRS, 0, 0.1, 0, DEFAULT_ADJUST)


def test_auto_shard_size_caps_bytes_and_keeps_64_shards():
    from hmh_builder.pipeline.config import BuildConfig

    auto = BuildConfig(source="/src")
    assert auto.samples_per_shard(256, 256, 34427) == 538  # ceil(34427 / 64), 460 MB
    assert auto.samples_per_shard(256, 256, 10**6) == (1 << 30) // (256 * 256 * 13) == 1260
    assert auto.samples_per_shard(800, 600, 10**6) == (1 << 30) // (800 * 600 * 13)
    assert auto.samples_per_shard(256, 256, 6) == 1
    assert BuildConfig(source="/src", shard_size=7).samples_per_shard(256, 256, 10**6) == 7
