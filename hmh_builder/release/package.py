"""``hmh-build package``: turn a verified build folder into a release folder.

The release holds the shards (hard-linked where possible, else copied) under the same
relative paths, ``manifest.json`` and ``failures.jsonl`` (with the build machine's source path
and host name redacted: a release carries no local path), per split an HDF5 virtual file
(``train.h5``, ``test.h5``) joining its shards with relative paths, ``preview.png``,
``README.md`` (dataset card), ``croissant.json`` (Croissant 1.1) and ``SHA256SUMS``.
Everything is assembled in a hidden staging folder beside DIR and renamed into place at the
end, so DIR never holds a half-made release.
"""

from __future__ import annotations

import copy
import datetime
import json
import os
import re
import shutil
from dataclasses import dataclass

import numpy as np

from hmh_builder import schema
from hmh_builder.inspect.preview import write_preview
from hmh_builder.inspect.privacy import REDACTED
from hmh_builder.inspect.stats import metadata_stats
from hmh_builder.inspect.verify import verify_build
from hmh_builder.release import card, card_pairs, croissant

VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")
SUMS_FILE = "SHA256SUMS"


class PackageError(ValueError):
    """A reason not to package, as one line a user can act on."""


@dataclass(frozen=True)
class PackageOptions:
    out_dir: str
    release_dir: str
    name: str
    version: str
    license: str | None
    source_license: str | None = None
    preview_n: int = 8
    seed: int = 0
    progress: bool = False


def check_options(options: PackageOptions) -> None:
    """Raise PackageError for a missing licence, a bad version or name."""
    if not options.license or not options.license.strip():
        raise PackageError(
            "no --license given: state the licence of this release "
            "(e.g. CC-BY-NC-4.0); hmh-build never chooses one for you"
        )
    if not VERSION_RE.match(options.version):
        raise PackageError(f"--version {options.version!r} is not X.Y.Z (e.g. 1.0.0)")
    if not options.name.strip():
        raise PackageError("--name is empty")


def package_release(options: PackageOptions) -> dict:
    """Verify, then write the release folder; returns a summary dict (files, samples)."""
    check_options(options)
    problems = verify_build(options.out_dir, progress=options.progress)
    if problems:
        raise PackageError(
            f"{options.out_dir} does not verify ({len(problems)} problem(s), "
            f"first: {problems[0]}); run `hmh-build verify {options.out_dir}`"
        )
    if not schema.load_manifest(options.out_dir).get("shards"):
        raise PackageError(f"{options.out_dir} holds no samples; there is nothing to release")
    target = os.path.abspath(options.release_dir)
    source = os.path.abspath(options.out_dir)
    if os.path.commonpath([source, target]) in (source, target):
        raise PackageError(f"{options.release_dir} must be outside {options.out_dir} (and not contain it)")
    if os.path.exists(target) and (not os.path.isdir(target) or os.listdir(target)):
        raise PackageError(f"{options.release_dir} already exists and is not empty")
    staging = os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        summary = _assemble(options, staging)
        if os.path.isdir(target):
            os.rmdir(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return summary


def public_manifest(manifest: dict) -> dict:
    """The manifest as released: ``config.source`` and ``run.host`` replaced by REDACTED (the
    config hash leaves the source out, so it still checks); everything else unchanged."""
    public = copy.deepcopy(manifest)
    if isinstance(public.get("config"), dict) and "source" in public["config"]:
        public["config"]["source"] = REDACTED
    if isinstance(public.get("run"), dict) and "host" in public["run"]:
        public["run"]["host"] = REDACTED
    return public


def public_failures(text: str, source: str | None) -> str:
    """failures.jsonl as released: records are already relative to the source root; any
    absolute source path left inside a string (e.g. in a reason) is made relative too."""
    if not source or source in (REDACTED, "/"):
        return text
    lines = []
    for line in text.splitlines():
        if line.strip():
            record = {
                k: (v.replace(source.rstrip("/") + "/", "").replace(source, ".") if isinstance(v, str) else v)
                for k, v in json.loads(line).items()
            }
            lines.append(json.dumps(record, sort_keys=True) + "\n")
    return "".join(lines)


def _assemble(options: PackageOptions, staging: str) -> dict:
    built = schema.load_manifest(options.out_dir)
    manifest = public_manifest(built)
    os.makedirs(staging)
    linked = _place(options.out_dir, staging, manifest, built["config"].get("source"))
    splits = [s for s in schema.SPLITS if any(e["split"] == s for e in manifest["shards"])]
    for split in splits:
        write_split_file(staging, manifest, split)
    write_preview(
        staging,
        os.path.join(staging, "preview.png"),
        n=options.preview_n,
        split="test" if "test" in splits else splits[0],
        seed=options.seed,
    )
    meta = metadata_stats(staging)
    size = _shard_size(staging, manifest)
    facts = card.CardFacts(
        options.name, options.version, options.license, options.source_license, manifest, meta, size
    )
    kind = schema.manifest_kind(manifest)
    described = card_pairs if kind == schema.KIND_PAIRS else card
    _write_text(staging, "README.md", described.render_card(facts))
    top = ["manifest.json", "failures.jsonl", "README.md", "preview.png"] + [f"{s}.h5" for s in splits]
    sums = {rel: schema.file_sha256(os.path.join(staging, rel)) for rel in top}
    metadata = croissant.croissant_metadata(
        options.name,
        options.version,
        options.license,
        described.description(options.name, manifest),
        sums,
        splits,
        datetime.date.today().isoformat(),
        described.citation(options.name, options.version, manifest),
        kind,
    )
    _write_text(staging, "croissant.json", json.dumps(metadata, indent=2) + "\n")
    sums["croissant.json"] = schema.file_sha256(os.path.join(staging, "croissant.json"))
    sums.update({e["path"]: e["sha256"] for e in manifest["shards"]})
    _write_text(staging, SUMS_FILE, "".join(f"{sha}  {rel}\n" for rel, sha in sorted(sums.items())))
    return {
        "files": len(sums) + 1,
        "shards": len(manifest["shards"]),
        "hard_linked": linked,
        "samples": meta["counts"]["total"],
        "content_digest": manifest["content_digest"],
    }


def _place(out_dir: str, staging: str, manifest: dict, source: str | None) -> int:
    """Hard-link (else copy) the shards, write the public manifest and failures; returns links
    made."""
    linked = 0
    for entry in manifest["shards"]:
        source, dest = os.path.join(out_dir, entry["path"]), os.path.join(staging, entry["path"])
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        try:
            os.link(source, dest)
            linked += 1
        except OSError:
            shutil.copy2(source, dest)
    _write_text(staging, "manifest.json", json.dumps(manifest, indent=2) + "\n")
    with open(os.path.join(out_dir, "failures.jsonl"), encoding="utf-8") as handle:
        _write_text(staging, "failures.jsonl", public_failures(handle.read(), source))
    return linked


def _shard_size(folder: str, manifest: dict) -> tuple:
    import h5py

    with h5py.File(os.path.join(folder, manifest["shards"][0]["path"]), "r") as h5:
        return tuple(int(v) for v in h5.attrs["size"])


def write_split_file(folder: str, manifest: dict, split: str) -> str:
    """Write ``folder/<split>.h5``: virtual image datasets over the split's shards (relative
    paths, in shard-path order), the string datasets copied, and the shard attributes."""
    import h5py

    entries = sorted((e for e in manifest["shards"] if e["split"] == split), key=lambda e: e["path"])
    total = sum(e["samples"] for e in entries)
    kind = schema.manifest_kind(manifest)
    strings, with_b_t = _shard_strings(folder, entries, kind)
    with h5py.File(os.path.join(folder, entries[0]["path"]), "r") as first:
        attrs = dict(first.attrs)
        shapes = {name: first[name].shape[1:] for name in schema.image_datasets(kind)}
        if with_b_t:
            shapes["B_t"] = first["B_t"].shape[1:]
    path = os.path.join(folder, f"{split}.h5")
    with h5py.File(path + ".tmp", "w") as out:
        for name, shape in shapes.items():
            layout = h5py.VirtualLayout(shape=(total,) + shape, dtype=np.uint8)
            position = 0
            for e in entries:
                source = h5py.VirtualSource(e["path"], name, shape=(e["samples"],) + shape)
                layout[position : position + e["samples"]] = source
                position += e["samples"]
            out.create_virtual_dataset(name, layout, fillvalue=0)
        for name, values in strings.items():
            out.create_dataset(name, data=values, dtype=schema.string_dtype())
        out.attrs.update(attrs)
        out.attrs["virtual_sources"] = json.dumps([e["path"] for e in entries])
        out.attrs["content_digest"] = manifest["content_digest"]
    os.replace(path + ".tmp", path)
    return path


def _shard_strings(folder: str, entries: list, kind: str = schema.KIND_HMH) -> tuple:
    """({name: values} of the string datasets over ``entries`` in order, whether every shard
    holds B_t), opening each shard once."""
    import h5py

    values, with_b_t = {name: [] for name in schema.string_datasets(kind)}, True
    for e in entries:
        with h5py.File(os.path.join(folder, e["path"]), "r") as h5:
            for name in values:
                values[name] += list(h5[name].asstr()[()])
            with_b_t = with_b_t and "B_t" in h5
    return values, with_b_t


def _write_text(folder: str, name: str, text: str) -> None:
    with open(os.path.join(folder, name), "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
