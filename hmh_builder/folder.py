"""Read samples from an HMH build or release folder (the shards its manifest lists).

Used by preview and stats; opens each shard read-only with h5py and yields plain numpy
arrays (uint8, RGB, channel-last, as stored).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from hmh_builder import schema


@dataclass(frozen=True)
class SampleRef:
    """Where one sample lives: shard path relative to the folder and row index."""

    shard: str
    row: int
    sample_id: str
    split: str


def shard_list(folder, split: str | None = None) -> list:
    """Manifest shard entries of ``split`` (all splits when None), sorted by path.

    Raises ValueError (one line) when the folder has no usable manifest.
    """
    manifest = schema.load_manifest(folder)
    entries = [e for e in manifest.get("shards", [])
               if split is None or e.get("split") == split]
    return sorted(entries, key=lambda e: e["path"])


def sample_refs(folder, split: str | None = None) -> list:
    """Every sample of ``split`` in the folder, in shard then row order."""
    import h5py

    refs = []
    for entry in shard_list(folder, split):
        with h5py.File(os.path.join(folder, entry["path"]), "r") as h5:
            ids = [_decode(v) for v in h5["id"][()]]
        refs += [SampleRef(entry["path"], row, sample_id, entry["split"])
                 for row, sample_id in enumerate(ids)]
    return refs


def read_samples(folder, refs, names=schema.IMAGE_DATASETS) -> list:
    """Read samples as dicts: image names → arrays, plus ``id``, ``transform``, ``params``."""
    import h5py

    out, handles = [], {}
    try:
        for ref in refs:
            if ref.shard not in handles:
                handles[ref.shard] = h5py.File(os.path.join(folder, ref.shard), "r")
            h5 = handles[ref.shard]
            sample = {name: h5[name][ref.row] for name in names}
            for key in schema.STRING_DATASETS:
                sample[key] = _decode(h5[key][ref.row])
            out.append(sample)
    finally:
        for handle in handles.values():
            handle.close()
    return out


def _decode(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
