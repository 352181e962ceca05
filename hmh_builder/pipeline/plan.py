"""Deterministic split and shard assignment, and each sample's random choices.

Samples are split by ``schema.split_of(id, test_fraction)``, sorted by id within the split and
cut into chunks of ``shard_size``: shard k of a split always gets the same ids for the same
source and config, whatever the worker count. A task carries only ids, relative paths and the
drawn choices (small to send to a process or a cluster worker).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from hmh_builder import schema
from hmh_builder.pipeline.sample import Choice, draw_choice


@dataclass(frozen=True)
class SampleTask:
    """One sample of a shard: id, paths relative to SRC, layout and its random choice.

    ``targets`` are (id, image path, matte path, layout) of the Reinhard target candidates,
    in order (the matte is read only for a foreground-altered build).
    """

    id: str
    image: str
    alpha: str
    layout: str
    choice: Choice
    targets: tuple = ()

    def plan_row(self) -> list:
        """What this sample is planned to be (ids, paths, choice), as JSON-ready values."""
        return [
            self.id,
            self.image,
            self.alpha,
            self.layout,
            self.choice.transform,
            self.choice.params,
            list(self.targets),
        ]


@dataclass(frozen=True)
class ShardTask:
    """One shard to build: its split, index, relative path and samples in row order.

    Samples are any frozen records with a ``plan_row()`` (:class:`SampleTask` here;
    ``ingest.iharmony4.PairEntry`` for harmonization pairs).
    """

    split: str
    index: int
    samples: tuple

    @property
    def path(self) -> str:
        return schema.shard_filename(self.split, self.index)

    @property
    def name(self) -> str:
        return f"{self.split}-{self.index:05d}"

    def digest(self) -> str:
        """SHA-256 of what the shard is planned to hold (each sample's ``plan_row()``)."""
        rows = [s.plan_row() for s in self.samples]
        text = json.dumps([self.split, self.index, rows], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def split_ids(ids, test_fraction: float) -> dict:
    """{"train": [...], "test": [...]}: ids per split, each sorted."""
    out = {split: [] for split in schema.SPLITS}
    for sample_id in ids:
        out[schema.split_of(sample_id, test_fraction)].append(sample_id)
    return {split: sorted(values) for split, values in out.items()}


def shard_tasks(split: str, samples, shard_size: int) -> list[ShardTask]:
    """``samples`` of one split, in order, cut into tasks of ``shard_size`` numbered from 0."""
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    return [
        ShardTask(split, index, tuple(samples[start : start + shard_size]))
        for index, start in enumerate(range(0, len(samples), shard_size))
    ]


def plan_shards(pairs, seed: int, test_fraction: float, shard_size: int, adjust) -> list[ShardTask]:
    """Every shard task of a build, train shards first, each split numbered from 0.

    Args:
        pairs: sources.Pair list (unique ids). seed: base seed. adjust: AdjustSettings.
    """
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    by_id = {p.id: p for p in pairs}
    sorted_ids = sorted(by_id)
    tasks = []
    for split, ids in split_ids(sorted_ids, test_fraction).items():
        samples = []
        for sample_id in ids:
            pair = by_id[sample_id]
            choice = draw_choice(seed, sample_id, sorted_ids, adjust)
            targets = tuple((t, by_id[t].image, by_id[t].alpha, by_id[t].layout) for t in choice.targets)
            samples.append(SampleTask(pair.id, pair.image, pair.alpha, pair.layout, choice, targets))
        tasks += shard_tasks(split, samples, shard_size)
    return tasks
