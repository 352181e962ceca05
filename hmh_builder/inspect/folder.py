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
    entries = [e for e in manifest.get("shards", []) if split is None or e.get("split") == split]
    return sorted(entries, key=lambda e: e["path"])


def open_shard(folder, path: str):
    """The shard ``folder/path`` opened read-only with h5py; ValueError (one line naming the
    file and pointing to ``hmh-build verify``) when it is missing or not readable HDF5."""
    import h5py

    full = os.path.join(folder, path)
    try:
        return h5py.File(full, "r")
    except OSError as exc:
        reason = (
            "missing"
            if not os.path.exists(full)
            else f"not a readable HDF5 file ({str(exc).split('(', 1)[-1].rstrip(')') or exc})"
        )
        raise ValueError(f"{full}: {reason}; run `hmh-build verify {folder}`") from None


def sample_refs(folder, split: str | None = None) -> list:
    """Every sample of ``split`` in the folder, in shard then row order."""
    refs = []
    for entry in shard_list(folder, split):
        with open_shard(folder, entry["path"]) as h5:
            ids = list(h5["id"].asstr()[()])
        refs += [
            SampleRef(entry["path"], row, sample_id, entry["split"]) for row, sample_id in enumerate(ids)
        ]
    return refs


def read_samples(folder, refs, names=None) -> list:
    """Read samples as dicts: image names → arrays (default: every image dataset of the
    shard's kind), plus its string datasets (``id``, ``transform``, ``params`` for HMH
    shards; ``id``, ``subset`` for harmonization pairs)."""
    out, handles = [], {}
    try:
        for ref in refs:
            if ref.shard not in handles:
                handles[ref.shard] = open_shard(folder, ref.shard)
            h5 = handles[ref.shard]
            kind = schema.shard_kind(h5)
            sample = {name: h5[name][ref.row] for name in names or schema.image_datasets(kind)}
            for key in schema.string_datasets(kind):
                sample[key] = h5[key].asstr()[ref.row]
            out.append(sample)
    finally:
        for handle in handles.values():
            handle.close()
    return out
