"""Check an HMH build (or release, or background) folder against its manifest.

``verify_build(out_dir)`` returns one :class:`Problem` per thing that is wrong; an empty
list means every shard listed in ``manifest.json`` exists, has the recorded size and
SHA-256, has the FORMAT.md schema and the recorded number of samples, satisfies the
invariants that hold without ``B_t`` (F = round(A·I/255) ± 1; I_d = I where A = 255 in a
background-altered shard, where A = 0 in a foreground-altered one, as its ``altered``
attribute says), and the samples together give the recorded ``content_digest``; the counts agree with the shards and
with ``failures.jsonl``; and the folder holds no file the manifest does not account for.

A hand-edited manifest is caught because every field that describes content is compared with
a fact recomputed from the files: shard size/sha256/samples/split, counts, content digest,
config hash (against the shards' ``config_hash`` attribute and against the config itself),
builder version, image size and altered side (against the shard attributes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from hmh_builder import schema
from hmh_builder.fsio import first_line
from hmh_builder.inspect import checks
from hmh_builder.inspect import release_checks as verify_release

#: Files a release folder (``hmh-build package``) adds next to the shards.
RELEASE_FILES = ("README.md", "SHA256SUMS", "croissant.json", "preview.png", "train.h5", "test.h5")
BUILD_FILES = ("manifest.json", "failures.jsonl")
BLOCK = 32  # samples read per HDF5 access while verifying


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a folder: ``path`` relative to the folder ("." for itself)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class VerifyReport:
    """Result of :func:`inspect_build`: the problems and the recomputed content digest."""

    problems: list = field(default_factory=list)
    content_digest: str | None = None
    samples: int = 0
    shards: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_build(out_dir, progress: bool = False) -> list:
    """Every problem with the folder ``out_dir`` (build, release or backgrounds); [] when valid."""
    return inspect_build(out_dir, progress=progress).problems


def inspect_build(out_dir, progress: bool = False) -> VerifyReport:
    """Verify ``out_dir`` and also return the recomputed content digest and totals."""
    out_dir = os.fspath(out_dir)
    report = VerifyReport()
    manifest = _read_manifest(out_dir, report)
    if manifest is None:
        return report
    kind = checks.kind_of(manifest)
    entries = checks.shard_entries(manifest, report.problems, Problem)
    report.problems += _listing_problems(out_dir, entries)
    digests, facts, hashed = [], [], {}
    total = sum(int(e.get("samples", 0) or 0) for e in entries)
    bar = _progress_bar(total, progress)
    for entry in entries:
        fact = _check_shard(out_dir, entry, manifest, kind, report.problems, bar, hashed)
        if fact is not None:
            facts.append(fact)
            digests += fact["digests"]
    bar.close()
    report.shards = len(facts)
    report.samples = sum(len(f["digests"]) for f in facts)
    report.content_digest = schema.content_digest(digests)
    unreadable = len(entries) - len(facts)
    if unreadable:  # counts and digest cannot agree; say so once instead of cascading
        report.problems.append(
            Problem(
                "manifest.json",
                f"counts and content_digest not compared: {unreadable} shard(s) missing or unreadable",
            )
        )
    else:
        report.problems += checks.manifest_problems(
            out_dir, manifest, kind, facts, digests, report.content_digest, Problem
        )
    report.problems += verify_release.release_problems(out_dir, manifest, Problem, hashed, facts)
    return report


def _read_manifest(out_dir: str, report: VerifyReport):
    if not os.path.isdir(out_dir):
        report.problems.append(Problem(".", f"{out_dir} is not a folder"))
        return None
    if not os.path.exists(os.path.join(out_dir, "manifest.json")) and os.path.isdir(
        os.path.join(out_dir, ".hmh-build")
    ):
        report.problems.append(
            Problem(
                "manifest.json",
                "no manifest.json: the build is unfinished "
                "(.hmh-build/ holds its state); rerun the same hmh-build "
                "command to finish it, then verify",
            )
        )
        return None
    try:
        return checks.load_any_manifest(out_dir)
    except ValueError as exc:
        report.problems.append(Problem("manifest.json", str(exc).split(": ", 1)[-1]))
        return None


def _progress_bar(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="sample", desc="verify", disable=not enabled, leave=False)


def _listing_problems(out_dir: str, entries: list) -> list:
    """Files in the folder that the manifest does not account for."""
    listed = {os.path.normpath(e["path"]) for e in entries if isinstance(e.get("path"), str)}
    is_release = os.path.exists(os.path.join(out_dir, "SHA256SUMS"))
    allowed = set(BUILD_FILES) | (set(RELEASE_FILES) if is_release else set())
    problems = []
    for root, dirs, files in os.walk(out_dir):
        dirs.sort()
        for name in sorted(files):
            rel = os.path.relpath(os.path.join(root, name), out_dir)
            if rel in listed or rel in allowed:
                continue
            what = "a leftover temporary file" if ".tmp" in name else "not listed in the manifest"
            problems.append(Problem(rel, f"{what} (an extra file; remove it or rebuild)"))
    return problems


def _check_shard(out_dir, entry, manifest, kind, problems, bar, hashed):
    """Check one shard entry; returns its recomputed facts, or None when unreadable.

    Records the file's sha256 in ``hashed`` (relative path → hex) so it is read once."""
    rel = entry["path"]
    path = os.path.join(out_dir, rel)
    if not os.path.isfile(path):
        problems.append(Problem(rel, "is missing (listed in the manifest, not on disk)"))
        return None
    size = os.path.getsize(path)
    if entry.get("bytes") is not None and size != entry["bytes"]:
        problems.append(
            Problem(rel, f"is {size} bytes, the manifest says {entry['bytes']} (truncated or replaced?)")
        )
    sha = hashed[rel] = schema.file_sha256(path)
    if sha != entry.get("sha256"):
        problems.append(
            Problem(
                rel,
                f"sha256 is {sha}, the manifest says {entry.get('sha256')} "
                "(the file changed or the manifest was edited)",
            )
        )
    try:
        return _read_shard(path, rel, entry, manifest, kind, problems, bar)
    except Exception as exc:  # any HDF5 error means the file is damaged
        problems.append(
            Problem(rel, f"cannot be read as an HDF5 shard ({first_line(exc)}); it is truncated or corrupt")
        )
        return None


def _read_shard(path, rel, entry, manifest, kind, problems, bar):
    import h5py

    with h5py.File(path, "r") as h5:
        schema_problems = checks.schema_problems(h5, kind, entry.get("split"))
        problems += [Problem(rel, p) for p in schema_problems]
        if schema_problems:
            return None
        attrs = {k: checks.decode(v) for k, v in h5.attrs.items()}
        problems += [Problem(rel, p) for p in checks.attr_problems(attrs, manifest)]
        n = h5["id"].shape[0]
        if entry.get("samples") != n:
            problems.append(Problem(rel, f"holds {n} samples, the manifest says {entry.get('samples')}"))
        altered = schema.altered_of(attrs) if kind == "hmh" else None  # valid: check_shard passed
        digests, bad = _sample_digests(h5, kind, bar, altered)
    for name, ids in bad.items():
        problems.append(
            Problem(
                rel, f"{checks.INVARIANT_TEXT[name]} in {len(ids)} sample(s) (first: {', '.join(ids[:3])})"
            )
        )
    return {"path": rel, "split": attrs.get("split"), "samples": n, "digests": digests}


def _sample_digests(h5, kind, bar, altered=None):
    """Recompute every sample digest of an open shard, block by block, and check invariants
    (those of the ``altered`` side for an HMH shard)."""
    altered = altered or schema.DEFAULT_ALTERED
    ids = [checks.decode(v) for v in h5["id"][()]]
    names = checks.image_names(kind)
    meta = checks.metadata(h5, kind, len(ids))
    digests, bad = [], {}
    for start in range(0, len(ids), BLOCK):
        stop = min(start + BLOCK, len(ids))
        block = {name: h5[name][start:stop] for name in names}
        for offset in range(stop - start):
            index = start + offset
            images = {name: block[name][offset] for name in names}
            for failed in checks.invariant_failures(kind, images, altered, ids[index], meta[index]):
                bad.setdefault(failed, []).append(ids[index])
            digests.append((ids[index], checks.digest(kind, ids[index], meta[index], images, altered)))
        bar.update(stop - start)
    return digests, bad


def summary_line(report: VerifyReport) -> str:
    """One-line human summary of a report (the CLI prints it before the digest)."""
    if report.ok:
        return f"ok: {report.shards} shards, {report.samples} samples"
    return f"{len(report.problems)} problem(s) found"
