"""The individual checks behind :mod:`hmh_builder.inspect.verify` (pure functions over manifests,
open HDF5 files and arrays). Each returns plain sentences or :class:`Problem` objects.

Three folder kinds are known: ``"hmh"`` (an HMH build or release, FORMAT.md),
``"harmonization"`` (harmonization-pair shards, e.g. ``hmh-build iharmony4``; same folder
layout) and ``"backgrounds"`` (``hmh-build backgrounds`` output, see the schema module).
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from hmh_builder import schema

INVARIANT_TEXT = {
    "F": "F differs from round(A·I/255) by more than 1",
    "I_d": "I_d differs from I where A is 255",
    "I_d_outside": "I_d differs from I where A is 0 (a foreground-altered shard keeps the background)",
    "M": "the mask M is not binary (values other than 0 and 255)",
    "subset": "the subset differs from the first folder of the id",
}


def decode(value):
    """bytes → str; numpy scalars/arrays → Python values; anything else unchanged."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        return [decode(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def load_any_manifest(out_dir: str) -> dict:
    """Read an HMH or backgrounds manifest; ValueError with a one-line reason otherwise."""
    path = os.path.join(out_dir, "manifest.json")
    try:
        with open(path, encoding="utf-8") as handle:
            manifest = json.load(handle)
    except (OSError, json.JSONDecodeError):
        return schema.load_manifest(out_dir)  # raises the schema's one-line message
    if isinstance(manifest, dict) and manifest.get("format") == schema.BACKGROUND_MANIFEST_FORMAT:
        if manifest.get("format_version") != schema.FORMAT_VERSION:
            raise ValueError(f"{path}: format_version {manifest.get('format_version')!r} is not supported")
        return manifest
    if not isinstance(manifest, dict):
        raise ValueError(f"{path}: is not a JSON object")
    return schema.load_manifest(out_dir)


def kind_of(manifest: dict) -> str:
    """``"backgrounds"`` for a background manifest, else the manifest's kind (``"hmh"`` when
    it names none, ``"harmonization"`` for harmonization-pair shards)."""
    if manifest.get("format") == schema.BACKGROUND_MANIFEST_FORMAT:
        return "backgrounds"
    return schema.manifest_kind(manifest)


def shard_entries(manifest: dict, problems: list, problem) -> list:
    """The usable shard entries of a manifest; malformed ones become problems."""
    entries, seen = [], set()
    raw = manifest.get("shards")
    if not isinstance(raw, list):
        problems.append(problem("manifest.json", "has no 'shards' list"))
        return entries
    for index, entry in enumerate(raw):
        path = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(path, str) or os.path.isabs(path) or ".." in path.split("/"):
            problems.append(problem("manifest.json", f"shards[{index}] has no usable relative path"))
            continue
        if os.path.normpath(path) in seen:
            problems.append(problem("manifest.json", f"shards[{index}] lists {path} twice"))
            continue
        seen.add(os.path.normpath(path))
        entries.append(dict(entry, path=os.path.normpath(path)))
    return entries


def schema_problems(h5, kind: str, split) -> list:
    """Schema problems of an open shard (or a release's per-split virtual file) that a
    manifest of ``kind`` lists under ``split``, its kind attribute included."""
    if kind == "backgrounds":
        return schema.check_background_shard(h5)
    problems = schema.check_shard(h5, expect_split=split if split in schema.SPLITS else None)
    if not problems and schema.shard_kind(h5) != kind:
        problems.append(f"kind attribute is {schema.shard_kind(h5)!r}, the manifest says {kind!r}")
    return problems


def config_of(manifest: dict) -> dict:
    config = manifest.get("config")
    return config if isinstance(config, dict) else {}


def config_hash_of(manifest: dict):
    return manifest.get("config_hash") or config_of(manifest).get("config_hash")


def size_of(manifest: dict):
    """Configured [H, W] of a manifest, or None when it does not say."""
    size = config_of(manifest).get("size")
    if isinstance(size, int):
        return [size, size]
    if isinstance(size, (list, tuple)) and len(size) == 2:
        return [int(v) for v in size]
    return None


def attr_problems(attrs: dict, manifest: dict) -> list:
    """Shard attributes that disagree with the manifest."""
    problems = []
    if attrs.get("builder_version") != manifest.get("builder_version"):
        problems.append(
            f"builder_version attribute is {attrs.get('builder_version')!r}, the "
            f"manifest says {manifest.get('builder_version')!r}"
        )
    if attrs.get("config_hash") != config_hash_of(manifest):
        problems.append(
            f"config_hash attribute is {attrs.get('config_hash')!r}, the manifest "
            f"says {config_hash_of(manifest)!r}"
        )
    size = size_of(manifest)
    if size is not None and list(attrs.get("size", [])) != size:
        problems.append(f"size attribute is {attrs.get('size')}, the manifest config says {size}")
    if kind_of(manifest) == "hmh":
        try:
            side, recorded = schema.altered_of(attrs), schema.manifest_altered(manifest)
        except ValueError as exc:
            return problems + [str(exc)]
        if side != recorded:
            problems.append(f"altered attribute is {side!r}, the manifest config says {recorded!r}")
    return problems


def image_names(kind: str) -> tuple:
    return (schema.BACKGROUND_IMAGE_DATASET,) if kind == "backgrounds" else schema.image_datasets(kind)


def metadata(h5, kind: str, n: int) -> list:
    """Per-sample (transform, params) strings, the subset of harmonization pairs, or Nones
    for backgrounds."""
    if kind == "backgrounds":
        return [None] * n
    if kind == schema.KIND_PAIRS:
        return [decode(v) for v in h5["subset"][()]]
    transforms = [decode(v) for v in h5["transform"][()]]
    params = [decode(v) for v in h5["params"][()]]
    return list(zip(transforms, params, strict=False))


def invariant_failures(
    kind: str, images: dict, altered: str = schema.DEFAULT_ALTERED, sample_id: str = "", meta=None
) -> list:
    """Names of the invariants one sample breaks (keys of INVARIANT_TEXT); [] when all hold.

    Every HMH sample: F = round(A·I/255) ± 1. ``background``-altered: I_d = I where A = 255;
    ``foreground``-altered: I_d = I where A = 0 (the side that was not altered is the real
    image). Harmonization pairs: M binary, subset = first folder of the id."""
    if kind == "backgrounds":
        return []
    if kind == schema.KIND_PAIRS:
        failed = [] if mask_is_binary(images["M"]) else ["M"]
        return failed + ([] if meta == sample_id.split("/", 1)[0] else ["subset"])
    failed = []
    if not f_matches_premultiplied(images["I"], images["A"], images["F"]):
        failed.append("F")
    if altered == "foreground":
        if not composite_keeps_background(images["I"], images["A"], images["I_d"]):
            failed.append("I_d_outside")
    elif not composite_keeps_foreground(images["I"], images["A"], images["I_d"]):
        failed.append("I_d")
    return failed


def digest(kind: str, sample_id: str, meta, images: dict, altered: str = schema.DEFAULT_ALTERED) -> str:
    if kind == "backgrounds":
        return schema.background_digest(sample_id, images[schema.BACKGROUND_IMAGE_DATASET])
    if kind == schema.KIND_PAIRS:
        return schema.pair_digest(sample_id, meta, images)
    return schema.sample_digest(sample_id, meta[0], meta[1], images, altered)


def f_matches_premultiplied(image: np.ndarray, alpha: np.ndarray, foreground: np.ndarray) -> bool:
    """True when uint8 F (H, W, 3) equals round(A·I/255) within ±1 everywhere."""
    expected = (alpha.astype(np.uint16)[..., None] * image + 127) // 255
    return int(np.abs(expected.astype(np.int16) - foreground).max(initial=0)) <= 1


def mask_is_binary(mask: np.ndarray) -> bool:
    """True when a uint8 mask holds only 0 and 255."""
    return bool(np.isin(mask, (0, 255)).all())


def composite_keeps_foreground(image: np.ndarray, alpha: np.ndarray, composite: np.ndarray) -> bool:
    """True when I_d equals I wherever A is 255 (uint8 (H, W, 3) RGB, alpha (H, W))."""
    opaque = alpha == 255
    return bool(np.array_equal(image[opaque], composite[opaque]))


def composite_keeps_background(image: np.ndarray, alpha: np.ndarray, composite: np.ndarray) -> bool:
    """True when I_d equals I wherever A is 0 (uint8 (H, W, 3) RGB, alpha (H, W))."""
    clear = alpha == 0
    return bool(np.array_equal(image[clear], composite[clear]))


def split_count(counts: dict, split: str):
    """Samples of ``split`` recorded in ``counts`` (several layouts accepted), or None."""
    for holder in (counts, counts.get("splits"), counts.get("per_split")):
        if isinstance(holder, dict) and split in holder:
            value = holder[split]
            if isinstance(value, dict):
                value = value.get("samples", value.get("written"))
            return value
    return None


def manifest_problems(out_dir, manifest, kind, facts, digests, recomputed, problem) -> list:
    """Manifest fields that disagree with the facts recomputed from the shards."""
    problems = []
    mp = lambda text: problems.append(problem("manifest.json", text))  # noqa: E731
    if manifest.get("content_digest") != recomputed:
        mp(f"content_digest is {manifest.get('content_digest')}, the shards give {recomputed}")
    ids = [sample_id for sample_id, _ in digests]
    if len(set(ids)) != len(ids):
        mp(f"{len(ids) - len(set(ids))} sample id(s) occur in more than one place")
    counts = manifest.get("counts") if isinstance(manifest.get("counts"), dict) else {}
    if counts.get("written") != len(ids):
        mp(f"counts.written is {counts.get('written')}, the shards hold {len(ids)} samples")
    splits = (schema.BACKGROUND_SPLIT,) if kind == "backgrounds" else schema.SPLITS
    for split in splits:
        held = sum(f["samples"] for f in facts if f["split"] == split or kind == "backgrounds")
        recorded = split_count(counts, split)
        if recorded is not None and recorded != held:
            mp(f"counts for {split} is {recorded}, the shards hold {held}")
    problems += _failure_problems(out_dir, counts, problem)
    recorded_hash = config_hash_of(manifest)
    config = {k: v for k, v in config_of(manifest).items() if k != "config_hash"}
    if config and recorded_hash != schema.config_hash(config):
        if recorded_hash == _hash_with_source(config):
            mp(
                f"config_hash {recorded_hash} was made by an older hmh-build (it hashed the "
                "source path too); rebuild with --overwrite, then package again"
            )
        else:
            mp(
                f"config_hash {recorded_hash} does not match the recorded config "
                f"({schema.config_hash(config)}); the config was edited"
            )
    problems += _split_rule_problems(manifest, kind, facts, digests, problem)
    if kind == schema.KIND_PAIRS:
        problems += _pair_count_problems(manifest, counts, facts, problem)
    return problems


def _pair_count_problems(manifest, counts, facts, problem) -> list:
    """Harmonization pairs: counts.subsets against the shards, and each split's shards come
    from a list the config names (the split is the list a pair was read from)."""
    from hmh_builder.ingest.iharmony4 import subset_counts

    problems = []
    ids = {split: [] for split in schema.SPLITS}
    for fact in facts:
        ids.setdefault(fact["split"], []).extend(i for i, _ in fact["digests"])
    held = subset_counts(ids)
    if counts.get("subsets") != held:
        problems.append(
            problem("manifest.json", f"counts.subsets is {counts.get('subsets')}, the shards hold {held}")
        )
    splits = config_of(manifest).get("splits")
    for fact in facts:
        if isinstance(splits, list) and fact["split"] not in splits:
            problems.append(
                problem(
                    fact["path"],
                    f"holds the {fact['split']} split, but the config reads only {', '.join(splits)}",
                )
            )
    return problems


def _hash_with_source(config: dict) -> str:
    """The config hash of builds before the source path was left out of it."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _failure_problems(out_dir, counts, problem) -> list:
    path = os.path.join(out_dir, "failures.jsonl")
    if not os.path.isfile(path):
        return [problem("failures.jsonl", "is missing (it must exist, even when empty)")]
    problems, lines = [], 0
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            lines += 1
            try:
                record = json.loads(line)
                ok = isinstance(record, dict) and {"id", "path", "stage", "reason"} <= set(record)
            except json.JSONDecodeError:
                ok = False
            if not ok:
                problems.append(
                    problem(
                        "failures.jsonl",
                        f"line {number} is not a failure record with id, path, stage and reason",
                    )
                )
    if counts.get("failed") != lines:
        problems.append(
            problem(
                "manifest.json",
                f"counts.failed is {counts.get('failed')}, failures.jsonl has {lines} record(s)",
            )
        )
    written = counts.get("written")
    if isinstance(written, int) and counts.get("discovered") != written + lines:
        problems.append(
            problem(
                "manifest.json",
                f"counts.discovered is {counts.get('discovered')}, written + failed is {written + lines}",
            )
        )
    return problems


def _split_rule_problems(manifest, kind, facts, digests, problem) -> list:
    fraction = config_of(manifest).get("test_fraction")
    if kind != "hmh" or not isinstance(fraction, (int, float)):
        return []
    problems = []
    position = 0
    for fact in facts:
        ids = [sample_id for sample_id, _ in digests[position : position + len(fact["digests"])]]
        position += len(fact["digests"])
        wrong = [i for i in ids if schema.split_of(i, fraction) != fact["split"]]
        if wrong:
            problems.append(
                problem(
                    fact["path"],
                    f"{len(wrong)} sample(s) belong to the other split by the split rule (first: {wrong[0]})",
                )
            )
    return problems
