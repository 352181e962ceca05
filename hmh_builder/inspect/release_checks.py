"""Checks of a release folder behind :mod:`hmh_builder.inspect.verify`: every ``SHA256SUMS`` line,
that every file is listed there, the per-split HDF5 virtual files (schema, sources =
the split's shards in path order, ids equal to the shards' ids), and that no file carries a
local path or host name (:mod:`hmh_builder.inspect.privacy`).
"""

from __future__ import annotations

import os

from hmh_builder import schema
from hmh_builder.fsio import first_line
from hmh_builder.inspect.checks import schema_problems
from hmh_builder.inspect.privacy import leak_problems

SUMS_FILE = "SHA256SUMS"


def release_problems(out_dir, manifest, problem, hashed=None, facts=None) -> list:
    """For a release folder: SHA256SUMS entries and coverage, and the per-split VDS files.

    ``hashed`` maps relative paths already hashed (the shards) to their sha256 hex;
    ``facts`` are the shards' recomputed facts (for the virtual files' ids)."""
    hashed = hashed or {}
    sums_path = os.path.join(out_dir, SUMS_FILE)
    if not os.path.isfile(sums_path):
        return []
    problems, listed = [], set()
    with open(sums_path, encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            recorded, _, rel = line.rstrip("\n").partition("  ")
            rel = rel.lstrip("*")
            listed.add(os.path.normpath(rel))
            path = os.path.join(out_dir, rel)
            if not os.path.isfile(path):
                problems.append(problem(rel, f"is listed in {SUMS_FILE} but missing"))
            elif (hashed.get(os.path.normpath(rel)) or schema.file_sha256(path)) != recorded:
                problems.append(problem(rel, f"does not match its {SUMS_FILE} checksum"))
    for root, _, files in os.walk(out_dir):
        for name in files:
            rel = os.path.relpath(os.path.join(root, name), out_dir)
            if rel != SUMS_FILE and rel not in listed:
                problems.append(problem(rel, f"is not listed in {SUMS_FILE}"))
    return (
        problems
        + _vds_problems(out_dir, manifest, problem, facts)
        + leak_problems(out_dir, manifest, problem)
    )


def _vds_problems(out_dir, manifest, problem, facts) -> list:
    """Each split's virtual file: schema, sources = the split's shards in path order, ids."""
    problems = []
    for split in schema.SPLITS:
        shards = sorted(
            e["path"] for e in manifest.get("shards", []) if isinstance(e, dict) and e.get("split") == split
        )
        rel = f"{split}.h5"
        if not os.path.isfile(os.path.join(out_dir, rel)):
            if shards:
                problems.append(problem(rel, f"is missing (the release has {split} shards)"))
            continue
        ids = None
        if facts is not None:
            by_path = {f["path"]: [i for i, _ in f["digests"]] for f in facts}
            ids = [i for path in shards for i in by_path.get(os.path.normpath(path), [])]
        try:
            problems += [
                problem(rel, p)
                for p in _vds_file_problems(out_dir, rel, split, shards, ids, schema.manifest_kind(manifest))
            ]
        except Exception as exc:  # damaged virtual file
            problems.append(problem(rel, f"cannot be read ({first_line(exc)})"))
    return problems


def _vds_file_problems(out_dir, rel, split, shards, ids, kind=schema.KIND_HMH) -> list:
    import h5py

    with h5py.File(os.path.join(out_dir, rel), "r") as h5:
        problems = schema_problems(h5, kind, split)
        if problems:
            return problems
        for name in schema.image_datasets(kind):
            dset = h5[name]
            sources = [m.file_name for m in dset.virtual_sources()] if dset.is_virtual else []
            if sources != shards:
                problems.append(f"dataset {name!r} does not map the {split} shards in order")
        if ids is not None and list(h5["id"].asstr()[()]) != ids:
            problems.append(f"its ids differ from the {split} shards' ids")
    return problems
