"""Write ``failures.jsonl`` and ``manifest.json`` (atomically, manifest last), and format
the end-of-build summary a user reads."""

from __future__ import annotations

import json
import os
from collections import Counter

from hmh_builder import schema
from hmh_builder.fsio import atomic_write_text, failure_listing


def write_outputs(out: str, manifest: dict, failures: list) -> None:
    """failures.jsonl (sorted by path, id), then manifest.json: the manifest marks completion."""
    lines = [
        json.dumps(f, sort_keys=True) for f in sorted(failures, key=lambda f: (f["path"] or "", f["id"]))
    ]
    atomic_write_text(os.path.join(out, "failures.jsonl"), "".join(line + "\n" for line in lines))
    atomic_write_text(os.path.join(out, "manifest.json"), json.dumps(manifest, indent=2) + "\n")


def _bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    return f"{n:.1f} TB"


def summary_lines(
    manifest: dict, failures: list, seconds: float, kept_shards: int = 0, built: int | None = None
) -> list[str]:
    """Human summary: counts, failures by stage, per split, wall time, rate, bytes, content
    digest, and pairs per subset when the manifest counts them.

    ``built``: samples written by this run (the rate uses it); default: all written.
    """
    counts = manifest["counts"]
    shards = manifest["shards"]
    lines = [f"discovered {counts['discovered']}, written {counts['written']}, failed {counts['failed']}"]
    if failures:
        by_stage = Counter(f["stage"] for f in failures)
        lines.append(
            "failed by stage: "
            + ", ".join(f"{s} {by_stage[s]}" for s in schema.FAILURE_STAGES if by_stage[s])
            + " (reasons in failures.jsonl)"
        )
        lines += failure_listing([f"{f['stage']}: {f['reason']}" for f in failures], "failures.jsonl")
    for split in schema.SPLITS:
        n_shards = sum(1 for s in shards if s["split"] == split)
        lines.append(f"{split}: {counts[split]} samples in {n_shards} shard(s)")
    total_bytes = sum(s["bytes"] for s in shards)
    built = counts["written"] if built is None else built
    rate = built / seconds if seconds > 0 else 0.0
    kept = f" ({kept_shards} shard(s) kept from an earlier run)" if kept_shards else ""
    lines.append(f"wall time {seconds:.1f} s, {rate:.1f} samples/s, {_bytes(total_bytes)} in shards{kept}")
    lines.append(f"content-digest: {manifest['content_digest']}")
    if "subsets" in counts:  # harmonization pairs (hmh-build iharmony4)
        lines.append(
            "subsets: "
            + (
                ", ".join(f"{name} {per['train']}/{per['test']}" for name, per in counts["subsets"].items())
                or "none"
            )
            + " (train/test)"
        )
    return lines
