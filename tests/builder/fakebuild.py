"""A tiny FORMAT.md-conformant build folder written directly with ``hmh_builder.schema``.

Used by the verify/release tests as a fast stand-in; the release tests also run on real
``hmh-build`` output. Images are random but satisfy the invariants verify checks
(F = round(A·I/255), I_d = I where A = 255).
"""
from __future__ import annotations

import json
import os

import h5py
import numpy as np

from hmh_builder import schema

TRANSFORM_PARAMS = {
    "reinhard": lambda rng, ids: {"target": ids[int(rng.integers(len(ids)))]},
    "illumination": lambda rng, ids: {"offset": float(rng.uniform(-100, 200))},
    "saturation": lambda rng, ids: {"sigmas": [15, 80, 200]},
}


def fake_sample(rng, sample_id, ids, size):
    image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    alpha = np.zeros((size, size), np.uint8)
    alpha[size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 255
    alpha[size // 4 - 1, :] = rng.integers(1, 255, size, dtype=np.uint8)
    foreground = ((alpha.astype(np.uint16)[..., None] * image + 127) // 255).astype(np.uint8)
    background = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    composite = np.where(alpha[..., None] == 255, image, background // 2 + 10).astype(np.uint8)
    transform = schema.TRANSFORMS[int(rng.integers(3))]
    params = json.dumps(TRANSFORM_PARAMS[transform](rng, ids), sort_keys=True)
    images = {"I": image, "A": alpha, "F": foreground, "B": background, "I_d": composite}
    return transform, params, images


def write_fake_build(out, n=8, size=16, shard_size=3, test_fraction=0.3, seed=0):
    """Write OUT with ``n`` samples split by the split rule; returns the manifest dict."""
    rng = np.random.default_rng(seed)
    ids = [f"1803151818-{i:08d}" for i in range(n)]
    config = {"size": size, "seed": seed, "test_fraction": test_fraction,
              "shard_size": shard_size, "background": "fake"}
    chash = schema.config_hash(config)
    shards, digests = [], []
    for split in schema.SPLITS:
        split_ids = [i for i in ids if schema.split_of(i, test_fraction) == split]
        for index, start in enumerate(range(0, len(split_ids), shard_size)):
            chunk = split_ids[start:start + shard_size]
            rel = schema.shard_filename(split, index)
            digests += _write_shard(os.path.join(out, rel), chunk, ids, split, size, chash, rng)
            path = os.path.join(out, rel)
            shards.append({"path": rel, "split": split, "samples": len(chunk),
                           "bytes": os.path.getsize(path), "sha256": schema.file_sha256(path)})
    counts = {"discovered": n, "written": n, "failed": 0}
    for split in schema.SPLITS:
        counts[split] = sum(s["samples"] for s in shards if s["split"] == split)
    manifest = {"format": schema.MANIFEST_FORMAT, "format_version": schema.FORMAT_VERSION,
                "builder_version": "0.1.0", "config": config, "config_hash": chash,
                "counts": counts, "shards": shards,
                "content_digest": schema.content_digest(digests), "run": {"host": "test"}}
    with open(os.path.join(out, "manifest.json"), "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=2)
    open(os.path.join(out, "failures.jsonl"), "w").close()
    return manifest


def _write_shard(path, chunk, ids, split, size, chash, rng):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    digests = []
    with h5py.File(path, "w") as h5:
        schema.create_shard_datasets(h5, len(chunk), size, size)
        for key, value in schema.shard_attrs(split, size, size, "0.1.0", chash).items():
            h5.attrs[key] = value
        for row, sample_id in enumerate(chunk):
            transform, params, images = fake_sample(rng, sample_id, ids, size)
            for name, array in images.items():
                h5[name][row] = array
            h5["id"][row], h5["transform"][row], h5["params"][row] = sample_id, transform, params
            digests.append((sample_id, schema.sample_digest(sample_id, transform, params, images)))
    return digests
