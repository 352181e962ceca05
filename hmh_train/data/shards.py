"""Reading HMH shards for training: ``ShardDataset``, a resumable sampler and ``make_loader``.

The dataset reads a build folder (``OUT/{split}/{split}-NNNNN.h5`` + ``manifest.json``,
``shared/FORMAT.md``) or a release folder (the same shard folders, or one virtual dataset
file ``{split}.h5`` per split). HDF5 files are opened lazily inside each process that reads
(never before DataLoader workers fork) and items are uint8 tensors, channel-first, RGB.

Two shard kinds are read (``docs/FORMAT.md``): HMH shards (items I, A, B, I_d) and
harmonization-pair shards, e.g. ``hmh-build iharmony4`` (items I, I_d and the mask M of the
changed region; no A, F, B). ``ShardDataset.kind`` says which; one split holds one kind.

Sample order is a pure function of ``(seed, epoch)`` so a resumed run sees exactly the batches
an uninterrupted one would (``ResumableSampler.set_epoch(epoch, skip_batches)``).
"""

from __future__ import annotations

import bisect
import glob
import os
import random

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from hmh_builder import schema

IMAGE_KEYS = ("I", "A", "B", "I_d")
#: Items of harmonization-pair shards: real image, composite, mask (255 = changed region).
PAIR_KEYS = ("I", "I_d", "M")


def item_keys(kind: str) -> tuple:
    """Image keys of a ``ShardDataset`` item for shards of ``kind``."""
    return PAIR_KEYS if kind == schema.KIND_PAIRS else IMAGE_KEYS


def altered_side(dataset) -> str | None:
    """The side whose colours a dataset's I_d alters and the harmonizer adjusts: its
    ``altered`` ("background" or "foreground") for HMH shards; None for harmonization pairs,
    whose stored mask marks the region (no side)."""
    return None if dataset.kind == schema.KIND_PAIRS else dataset.altered


def split_files(root: str, split: str, virtual: bool = False) -> list[str]:
    """The HDF5 files holding ``split`` under ``root``: the shard folder, or else (or with
    ``virtual``) a release's per-split virtual file ``{split}.h5``.

    Raises ValueError with one line naming the path when the folder, manifest or split is unusable.
    """
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise ValueError(f"{root}: no such shards folder")
    if os.path.exists(os.path.join(root, "manifest.json")):
        schema.load_manifest(root)  # checks format and format_version
    shards = sorted(glob.glob(os.path.join(root, split, f"{split}-*.h5")))
    if shards and not virtual:
        return shards
    vds = os.path.join(root, f"{split}.h5")
    if os.path.isfile(vds):
        return [vds]
    raise ValueError(
        f"{root}: no {split} shards ({split}/{split}-*.h5 or {split}.h5); "
        "is this an hmh-build output or release folder?"
    )


def _shard_length(path: str, split: str) -> tuple[int, tuple[int, int], str]:
    """Validate one shard's schema and return (samples, (H, W), kind, altered side); opens and
    closes the file."""
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            problems = schema.check_shard(h5, expect_split=split)
            if problems:
                raise ValueError(f"{path}: {problems[0]}")
            return (
                int(h5["id"].shape[0]),
                tuple(int(v) for v in h5.attrs["size"]),
                schema.shard_kind(h5),
                schema.altered_of(h5.attrs),
            )
    except OSError as exc:
        raise ValueError(f"{path}: not a readable HDF5 file ({exc})") from None


class ShardDataset(Dataset):
    """Samples of one split as dicts of uint8 tensors.

    Item of HMH shards: ``I``, ``B``, ``I_d`` ``(3,H,W)`` RGB, ``A`` ``(1,H,W)`` (0 background,
    255 foreground); of harmonization-pair shards (``kind == "harmonization"``): ``I``,
    ``I_d`` ``(3,H,W)`` RGB and ``M`` ``(1,H,W)`` (255 = the changed region, else 0). All
    uint8 (channel-first *views* of the stored HWC rows; collation copies them once into the
    batch), plus ``id`` (str). Files are validated on construction (opened and
    closed) and re-opened lazily in whichever process reads, keyed by process id. In a release
    folder the shard folders are read; ``virtual=True`` reads ``{split}.h5`` instead.
    ``altered`` is the side the shards' I_d alters (``schema.ALTERED_SIDES``; shards written
    before the attribute existed read as "background").
    """

    def __init__(self, root, split: str = "train", virtual: bool = False):
        self.root, self.split = os.fspath(root), split
        self.files = split_files(self.root, split, virtual)
        lengths, sizes, kinds, sides = zip(*(_shard_length(path, split) for path in self.files), strict=False)
        if len(set(sizes)) != 1:
            raise ValueError(f"{self.root}: {split} shards have different sizes {sorted(set(sizes))}")
        if len(set(kinds)) != 1:
            raise ValueError(f"{self.root}: {split} shards mix kinds {sorted(set(kinds))}")
        if len(set(sides)) != 1:
            raise ValueError(f"{self.root}: {split} shards alter different sides {sorted(set(sides))}")
        self.size, self.kind, self.altered = sizes[0], kinds[0], sides[0]
        self.keys = item_keys(self.kind)
        self.offsets = np.cumsum((0,) + lengths).tolist()
        if self.offsets[-1] == 0:
            raise ValueError(f"{self.root}: split {split!r} has no samples")
        self._handles: dict = {}
        self._pid = None

    def __len__(self) -> int:
        return self.offsets[-1]

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_handles"], state["_pid"] = {}, None
        return state

    def _handle(self, index: int):
        """(datasets by name, ids) of file ``index``, opened once per process."""
        import h5py

        if self._pid != os.getpid():  # new process (forked worker): never reuse a parent handle
            self._handles, self._pid = {}, os.getpid()
        if index not in self._handles:
            h5 = h5py.File(self.files[index], "r")
            ids = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in h5["id"][()]]
            self._handles[index] = (h5, {key: h5[key] for key in self.keys}, ids)
        return self._handles[index]

    def locate(self, index: int) -> tuple[int, int]:
        """(file index, row) of global sample ``index``."""
        if not 0 <= index < len(self):
            raise IndexError(f"sample {index} out of range 0..{len(self) - 1}")
        shard = bisect.bisect_right(self.offsets, index) - 1
        return shard, index - self.offsets[shard]

    def __getitem__(self, index: int) -> dict:
        shard, row = self.locate(int(index))
        _, datasets, ids = self._handle(shard)
        item = {}
        for key in self.keys:
            array = torch.from_numpy(datasets[key][row])
            item[key] = array[None] if array.ndim == 2 else array.permute(2, 0, 1)  # view, no copy
        item["id"] = ids[row]
        return item

    def close(self) -> None:
        for h5, _, _ in self._handles.values():
            h5.close()
        self._handles = {}


class ResumableSampler(Sampler):
    """Deterministic, shardable, resumable sample order.

    Epoch e's order is ``randperm(n)`` from a generator seeded with ``seed·1_000_003 + e``
    (or ``0..n-1`` without shuffle); rank r of w takes every w-th index starting at r, like
    ``DistributedSampler`` (padded by wrapping so every rank gets the same count).
    ``set_epoch(e, skip)`` also drops the first ``skip`` indices of this rank (already consumed
    batches × batch size) for an exact resume.
    """

    def __init__(self, n: int, seed: int = 0, shuffle: bool = True, rank: int = 0, world_size: int = 1):
        self.n, self.seed, self.shuffle = n, int(seed), shuffle
        self.rank, self.world_size = rank, world_size
        self.per_rank = -(-n // world_size)
        self.epoch, self.skip = 0, 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = int(epoch), int(skip)

    def order(self, epoch: int) -> list[int]:
        """This rank's full index list for ``epoch`` (before skipping)."""
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            perm = torch.randperm(self.n, generator=g).tolist()
        else:
            perm = list(range(self.n))
        total = self.per_rank * self.world_size
        perm = (perm * (total // self.n + 1))[:total]
        return perm[self.rank :: self.world_size]

    def __iter__(self):
        return iter(self.order(self.epoch)[self.skip :])

    def __len__(self) -> int:
        return max(0, self.per_rank - self.skip)


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: seed python, numpy and torch from the worker's own seed.

    torch gives each worker ``base_seed + worker_id``; numpy and ``random`` are derived from it,
    so workers never share random streams (IndexNet's known pitfall).
    """
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)
    torch.manual_seed(seed)


def make_loader(
    dataset,
    batch_size: int,
    shuffle: bool = True,
    workers: int = 0,
    seed: int = 0,
    drop_last: bool = True,
    rank: int = 0,
    world_size: int = 1,
    prefetch: int = 4,
    pin_memory: bool | None = None,
) -> DataLoader:
    """A DataLoader over ``dataset`` with a ``ResumableSampler`` (``loader.sampler``).

    Pinned memory when the batches go to a CUDA device (``pin_memory``; None: whenever CUDA
    is available); ``prefetch`` batches per worker; persistent workers.
    """
    sampler = ResumableSampler(len(dataset), seed, shuffle, rank, world_size)
    extra = {"prefetch_factor": prefetch, "persistent_workers": True} if workers > 0 else {}
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        drop_last=drop_last,
        pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
        worker_init_fn=seed_worker,
        generator=torch.Generator().manual_seed(seed),
        **extra,
    )
