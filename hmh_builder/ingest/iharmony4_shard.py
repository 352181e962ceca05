"""Write one iHarmony4 shard (runs in a worker process): decode each listed pair as DoveNet
does, write the harmonization-pair shard, leave a completion record.

Takes a :class:`~hmh_builder.pipeline.plan.ShardTask` of PairEntry and a small
:class:`PairContext`; returns a small dict, never image arrays. A missing or undecodable file
becomes a failure record and the shard goes on; a file the operating system cannot read, or a
shard that cannot be written, abandons the shard (no file left behind) and comes back as
``error`` so that a rerun retries it, as in ``hmh-build``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from hmh_builder import schema
from hmh_builder.fsio import TMP_SUFFIX, first_line, remove_quietly
from hmh_builder.imageio import DecodeError, decode_pil_resized
from hmh_builder.pipeline import resume
from hmh_builder.pipeline.sources import failure
from hmh_builder.pipeline.worker import FaultError
from hmh_builder.pipeline.writer import publish


@dataclass(frozen=True)
class PairContext:
    """What every shard task shares: folders, output size (H, W) and the recorded facts."""

    src: str
    out: str
    size: tuple
    config_hash: str
    builder_version: str


class PairError(ValueError):
    """One listed pair cannot be used; ``stage`` and ``path`` (relative to the root) go to
    failures.jsonl with the message."""

    def __init__(self, stage: str, path: str, reason: str):
        super().__init__(reason)
        self.stage, self.path = stage, path


def load_pair(src: str, entry, size) -> dict:
    """{"I", "I_d", "M"} uint8 arrays of one entry at ``size`` (H, W): RGB (H, W, 3) real image
    and composite, mask (H, W) in {0, 255}. Raises PairError (missing or undecodable file) or
    FaultError (a file that exists but cannot be read)."""
    arrays = {}
    for name, rel, mode, role in (
        ("I_d", entry.composite, "RGB", "composite"),
        ("M", entry.mask, "1", "mask"),
        ("I", entry.real, "RGB", "real image"),
    ):
        path = os.path.join(src, rel)
        try:
            arrays[name] = decode_pil_resized(path, mode, size)
        except FileNotFoundError:
            named = (
                "listed composite" if role == "composite" else f"{role} of {entry.id} (DoveNet's naming rule)"
            )
            raise PairError("pair", rel, f"{rel} is missing: the {named}") from None
        except DecodeError as exc:
            raise PairError("decode", rel, f"{rel} {exc.reason}") from None
        except OSError as exc:
            raise FaultError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return arrays


def _write_rows(ctx: PairContext, task, h5, result, progress) -> int:
    ids, subsets = [], []
    for done, entry in enumerate(task.samples, 1):
        try:
            arrays = load_pair(ctx.src, entry, ctx.size)
        except PairError as exc:
            result["failures"].append(failure(entry.id, exc.path, exc.stage, str(exc)))
        else:
            for name in schema.PAIR_IMAGE_DATASETS:
                h5[name][len(ids)] = arrays[name]
            ids.append(entry.id)
            subsets.append(entry.subset)
            result["digests"].append([entry.id, schema.pair_digest(entry.id, entry.subset, arrays)])
        progress(done)
    schema.resize_shard_datasets(h5, len(ids))
    h5["id"][:] = ids
    h5["subset"][:] = subsets
    return len(ids)


def _write_shard(ctx: PairContext, task, result, progress) -> None:
    import h5py

    path = os.path.join(ctx.out, task.path)
    height, width = ctx.size
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with h5py.File(path + TMP_SUFFIX, "w") as h5:
            schema.create_shard_datasets(
                h5, len(task.samples), height, width, resizable=True, kind=schema.KIND_PAIRS
            )
            h5.attrs.update(
                schema.shard_attrs(
                    task.split, height, width, ctx.builder_version, ctx.config_hash, kind=schema.KIND_PAIRS
                )
            )
            rows = _write_rows(ctx, task, h5, result, progress)
        result["entry"] = publish(path, task.path, task.split, rows)
    except FaultError:
        remove_quietly(path + TMP_SUFFIX)
        raise
    except (OSError, RuntimeError) as exc:  # the shard cannot be written (disk full, ...)
        remove_quietly(path + TMP_SUFFIX)
        reason = getattr(exc, "strerror", None) or first_line(exc)
        raise FaultError(f"{path + TMP_SUFFIX}: cannot be written ({reason})") from None
    except BaseException:
        remove_quietly(path + TMP_SUFFIX)
        raise


def run_pair_shard(task, ctx: PairContext) -> dict:
    """Worker entry point for ``build.distribute.run_tasks`` (picklable): write ``task`` and
    its completion record; returns name, split, planned, entry, digests, failures, error."""
    start = time.perf_counter()
    result = {
        "name": task.name,
        "split": task.split,
        "planned": len(task.samples),
        "entry": None,
        "digests": [],
        "failures": [],
        "error": None,
    }
    progress = resume.ProgressReporter(ctx.out, task.name)
    try:
        _write_shard(ctx, task, result, progress)
        result["seconds"] = round(time.perf_counter() - start, 3)
        resume.write_record(ctx.out, task, ctx.config_hash, result)
    except FaultError as exc:
        result.update(error=str(exc), entry=None)
    except OSError as exc:  # the record itself could not be written
        result.update(
            error=f"{os.path.join(ctx.out, resume.STATE_DIR)}: cannot be written ({exc.strerror or exc})",
            entry=None,
        )
    finally:
        progress.close()
    result["seconds"] = round(time.perf_counter() - start, 3)
    return result
