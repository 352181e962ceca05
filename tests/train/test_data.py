"""ShardDataset, ResumableSampler and make_loader on a tiny build."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from hmh_builder.cli import main as build_main
from hmh_train.data.shards import ResumableSampler, ShardDataset, make_loader
from tests.train.conftest import SIZE


def test_items_are_uint8_channel_first_and_match_the_shard(shards):
    dataset = ShardDataset(shards, "train")
    item = dataset[len(dataset) - 1]
    assert {k: tuple(item[k].shape) for k in ("I", "A", "B", "I_d")} == {
        "I": (3, SIZE, SIZE),
        "A": (1, SIZE, SIZE),
        "B": (3, SIZE, SIZE),
        "I_d": (3, SIZE, SIZE),
    }
    assert all(item[k].dtype == torch.uint8 for k in ("I", "A", "B", "I_d"))
    shard, row = dataset.locate(len(dataset) - 1)
    with h5py.File(dataset.files[shard], "r") as h5:  # oracle: plain h5py, HWC → CHW
        np.testing.assert_array_equal(item["I"].numpy(), h5["I"][row].transpose(2, 0, 1))
        np.testing.assert_array_equal(item["A"].numpy()[0], h5["A"][row])
        assert item["id"] == h5["id"][row].decode()


def test_both_splits_cover_every_sample_once(shards):
    ids = [
        ShardDataset(shards, s)[i]["id"]
        for s in ("train", "test")
        for i in range(len(ShardDataset(shards, s)))
    ]
    assert len(ids) == len(set(ids)) == 10


def test_loader_batches_with_workers(shards):
    loader = make_loader(ShardDataset(shards), batch_size=3, workers=2, seed=0)
    batches = list(loader)
    assert len(batches) == len(loader.dataset) // 3
    assert batches[0]["I"].shape == (3, 3, SIZE, SIZE) and batches[0]["I"].dtype == torch.uint8
    assert len(batches[0]["id"]) == 3


class _RandomProbe(torch.utils.data.Dataset):
    """Returns what numpy, python random and torch draw inside the worker."""

    def __len__(self):
        return 4

    def __getitem__(self, index):
        import random

        return torch.tensor(
            [np.random.randint(1 << 30), random.randrange(1 << 30), int(torch.randint(1 << 30, ()))]
        )


def test_workers_are_seeded_differently():
    loader = make_loader(_RandomProbe(), batch_size=1, shuffle=False, workers=2, seed=0)
    draws = [tuple(b[0].tolist()) for b in loader]  # items 0, 2 from worker 0; 1, 3 from worker 1
    for column in range(3):
        assert draws[0][column] != draws[1][column]


def test_sampler_order_is_a_function_of_seed_and_epoch():
    a, b = ResumableSampler(10, seed=3), ResumableSampler(10, seed=3)
    a.set_epoch(1)
    b.set_epoch(1)
    assert list(a) == list(b) and sorted(a) == list(range(10))
    b.set_epoch(2)
    assert list(a) != list(b)


def test_sampler_skip_resumes_inside_an_epoch():
    sampler = ResumableSampler(10, seed=1)
    sampler.set_epoch(4)
    full = list(sampler)
    sampler.set_epoch(4, skip=6)
    assert list(sampler) == full[6:] and len(sampler) == 4


def test_sampler_ranks_partition_the_epoch():
    ranks = [ResumableSampler(10, seed=2, rank=r, world_size=3) for r in range(3)]
    for r in ranks:
        r.set_epoch(0)
    seen = [i for r in ranks for i in r]
    assert all(len(r) == 4 for r in ranks) and set(seen) == set(range(10))


def test_missing_folder_is_one_line(tmp_path):
    with pytest.raises(ValueError, match="no such shards folder") as info:
        ShardDataset(tmp_path / "nope")
    assert "\n" not in str(info.value)


def test_empty_split_is_one_line(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(ValueError, match="no train shards"):
        ShardDataset(tmp_path, "train")


def test_wrong_format_version_is_named(shards, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(shards, copy)
    (copy / "manifest.json").unlink()
    shard = sorted((copy / "train").glob("*.h5"))[0]
    with h5py.File(shard, "a") as h5:
        h5.attrs["format_version"] = 2
    with pytest.raises(ValueError, match="format_version is 2") as info:
        ShardDataset(copy, "train")
    assert str(shard) in str(info.value)


def test_wrong_manifest_version_is_named(shards, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(shards, copy)
    text = (copy / "manifest.json").read_text().replace('"format_version": 1', '"format_version": 7')
    (copy / "manifest.json").write_text(text)
    with pytest.raises(ValueError, match="format_version 7"):
        ShardDataset(copy, "train")


def test_release_folder_reads_the_same_samples_by_shards_and_by_virtual_file(shards, tmp_path):
    release = tmp_path / "release"
    result = CliRunner().invoke(
        build_main,
        [
            "package",
            str(shards),
            "--release",
            str(release),
            "--name",
            "hmh-test",
            "--version",
            "1.0.0",
            "--license",
            "CC-BY-NC-4.0",
            "--preview-n",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (release / "train.h5").is_file()
    built = ShardDataset(shards, "train")
    by_shards, by_vds = ShardDataset(release, "train"), ShardDataset(release, "train", virtual=True)
    assert by_vds.files == [str(release / "train.h5")] and len(by_vds) == len(built) == len(by_shards)
    for index in range(len(built)):
        for key in ("I", "A", "B", "I_d", "id"):
            assert _equal(by_vds[index][key], built[index][key]), (index, key)
            assert _equal(by_shards[index][key], built[index][key]), (index, key)


def _equal(a, b):
    return torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b
