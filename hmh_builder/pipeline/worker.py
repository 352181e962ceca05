"""Build one shard: decode each pair, make its sample, write the shard, leave a record.

Runs inside a worker process (local or on a cluster). Takes a :class:`plan.ShardTask` and a
small :class:`ShardContext`; returns a small dict, never image arrays. Bad *content* of an
input becomes a failure record and the shard goes on; an I/O fault (a source file that cannot
be read, a disk that is full or read-only) abandons the shard without leaving any file and is
returned as ``error`` so a rerun retries it.
"""

from __future__ import annotations

import gc
import os
import re
import sys
import time
from dataclasses import dataclass

from hmh_builder import imageio, schema
from hmh_builder.fsio import first_line
from hmh_builder.pipeline import resume
from hmh_builder.pipeline.sample import SampleError, check_sizes, make_sample, params_json, resize, validate
from hmh_builder.pipeline.sources import failure
from hmh_builder.pipeline.writer import ShardWriter


@dataclass(frozen=True)
class ShardContext:
    """What every shard task shares: folders and the content settings it needs."""

    src: str
    out: str
    size: tuple
    native: bool
    background: str
    background_resolution: str
    store_b_t: bool
    config_hash: str
    builder_version: str
    max_pixels: int
    altered: str = schema.DEFAULT_ALTERED


class FaultError(OSError):
    """An I/O fault that stops a shard; ``str()`` is one line naming the path."""


def _fault(exc: Exception, path: str, action: str) -> FaultError:
    """One line naming the path; HDF5 errors (RuntimeError/OSError) carry errno text inside."""
    text = str(exc)
    found = re.search(r"error message = '([^']+)'", text)
    if found:
        reason = found.group(1)
    elif isinstance(exc, OSError) and exc.strerror:
        reason = exc.strerror
    else:
        reason = first_line(exc)
    filename = exc.filename if isinstance(exc, OSError) and exc.filename else path
    return FaultError(f"{filename}: cannot be {action} ({reason})")


def _decode_target(ctx: ShardContext, target) -> tuple:
    """(Lab mean, std) of one Reinhard target at the output size; raises DecodeError or
    ValueError when the candidate cannot be used, FaultError on an I/O fault.

    ``background``: statistics of the whole target image (as B's own are taken over all of
    B). ``foreground``: of the target's person only, weighted by its own matte (as the
    source's are weighted by A), so a face is matched to another person, not to a scene.
    """
    from hmh_builder.kernels.colour import lab_mean_std

    _, image_rel, alpha_rel, layout = target
    fit = (lambda array: array) if ctx.native else (lambda array: resize(array, ctx.size))
    if ctx.altered != "foreground":
        path = os.path.join(ctx.src, image_rel)
        try:
            return lab_mean_std(fit(imageio.decode_image(path, ctx.max_pixels, imageio.READ_FORMATS)))
        except imageio.DecodeError:
            raise
        except OSError as exc:
            raise _fault(exc, path, "read") from None
    image, matte = _decode_pair(ctx, image_rel, alpha_rel, layout)  # SampleError: sizes differ
    return lab_mean_std(fit(image), weights=fit(matte))  # ValueError: no person in the matte


def _target_stats(ctx: ShardContext, sample, cache: dict) -> tuple:
    """(target id, Lab stats) of the first usable Reinhard candidate.

    ``cache`` (target id → stats, or None when unusable) is shared by one shard's samples:
    the stats are a pure function of the target and the config.
    """
    for target in sample.targets:
        target_id = target[0]
        if target_id not in cache:
            try:
                cache[target_id] = _decode_target(ctx, target)
            except (imageio.DecodeError, ValueError):  # SampleError is a ValueError
                cache[target_id] = None
        if cache[target_id] is not None:
            return target_id, cache[target_id]
    usable = "decoded" if ctx.altered != "foreground" else "decoded with a usable matte"
    raise SampleError(
        "process", f"none of the Reinhard targets {', '.join(t[0] for t in sample.targets)} could be {usable}"
    )


def _decode_pair(ctx: ShardContext, image_rel: str, alpha_rel: str, layout: str) -> tuple:
    """(image RGB (H, W, 3), matte (H, W)) uint8 of a source pair (paths relative to SRC).
    Both headers are read first, so a pair whose sizes differ (SampleError "validate"), a file
    above ``ctx.max_pixels`` or one neither JPEG nor PNG (DecodeError) fails before anything
    is decoded; an I/O fault is a FaultError."""
    image_path, matte_path = (os.path.join(ctx.src, rel) for rel in (image_rel, alpha_rel))
    try:
        limits = ctx.max_pixels, imageio.READ_FORMATS
        image_header = imageio.read_header(image_path, None, imageio.READ_FORMATS)
        matte_header = imageio.read_header(matte_path, None, imageio.READ_FORMATS)
        check_sizes(
            (image_header.height, image_header.width),
            (matte_header.height, matte_header.width),
            image_rel,
            alpha_rel,
        )
        imageio.check_header(image_path, image_header, *limits)
        return (imageio.decode_image(image_path, *limits), imageio.decode_matte(matte_path, layout, *limits))
    except OSError as exc:
        raise _fault(exc, image_path, "read") from None


def _one_sample(ctx: ShardContext, sample, cache: dict) -> tuple:
    """(transform, params JSON, arrays) of one planned sample; raises Decode/Sample/FaultError."""
    image, alpha = _decode_pair(ctx, sample.image, sample.alpha, sample.layout)
    validate(image, alpha, sample.image, sample.alpha, ctx.size, ctx.native)
    target, stats = (None, None)
    if sample.choice.transform == "reinhard":
        target, stats = _target_stats(ctx, sample, cache)
    try:
        arrays = make_sample(
            image,
            alpha,
            ctx.size,
            ctx.background,
            ctx.background_resolution,
            sample.choice,
            stats,
            ctx.altered,
        )
    except Exception as exc:  # a kernel rejecting this input (cv2.error, ValueError, ...)
        raise SampleError("process", f"{sample.image}: processing failed ({first_line(exc)})") from None
    return sample.choice.transform, params_json(sample.choice, target), arrays


def _write_rows(ctx, task, writer, digests, failures, progress) -> None:
    cache = {}
    for done, sample in enumerate(task.samples, 1):
        try:
            transform, params, arrays = _one_sample(ctx, sample, cache)
        except imageio.DecodeError as exc:  # named relative to SRC, like every other failure
            rel = os.path.relpath(exc.path, ctx.src).replace(os.sep, "/")
            failures.append(failure(sample.id, rel, "decode", f"{rel} {exc.reason}"))
        except SampleError as exc:
            failures.append(failure(sample.id, sample.image, exc.stage, str(exc)))
        else:
            try:
                digests.append([sample.id, writer.add(sample.id, transform, params, arrays)])
            except (OSError, RuntimeError) as exc:
                raise _fault(exc, writer.tmp, "written") from None
        progress(done)


def _is_failed_hdf5_write(exc) -> bool:
    return isinstance(exc, RuntimeError) and "file write failed" in str(exc)


def _quiet_unraisable(unraisable) -> None:
    """Drop HDF5 errors raised while h5py frees a file whose writes already failed (the fault
    is reported once, as one line); anything else goes to the default hook."""
    if not _is_failed_hdf5_write(unraisable.exc_value):
        sys.__unraisablehook__(unraisable)


def _quiet_excepthook(exc_type, exc, tb) -> None:
    """Cython prints the same dealloc errors through sys.excepthook; drop those too."""
    if not _is_failed_hdf5_write(exc):
        sys.__excepthook__(exc_type, exc, tb)


def run_shard(task, ctx: ShardContext) -> dict:
    """Build ``task`` into OUT and record it; returns counts, failures, digests, timings."""
    import cv2

    cv2.setNumThreads(1)
    hooks = sys.unraisablehook, sys.excepthook
    sys.unraisablehook, sys.excepthook = _quiet_unraisable, _quiet_excepthook
    try:
        return _run_shard(task, ctx)
    finally:
        gc.collect()
        sys.unraisablehook, sys.excepthook = hooks


def _run_shard(task, ctx: ShardContext) -> dict:
    start = time.perf_counter()
    digests, failures = [], []
    result = {
        "name": task.name,
        "split": task.split,
        "planned": len(task.samples),
        "entry": None,
        "digests": digests,
        "failures": failures,
        "error": None,
    }
    progress = resume.ProgressReporter(ctx.out, task.name)
    try:
        height, width = ctx.size
        try:
            writer = ShardWriter(
                ctx.out,
                task.path,
                task.split,
                len(task.samples),
                height,
                width,
                ctx.builder_version,
                ctx.config_hash,
                ctx.store_b_t,
                ctx.altered,
            )
        except (OSError, RuntimeError) as exc:
            raise _fault(exc, os.path.join(ctx.out, task.path + ".tmp"), "written") from None
        with writer:
            _write_rows(ctx, task, writer, digests, failures, progress)
            try:
                result["entry"] = writer.close()
            except (OSError, RuntimeError) as exc:
                raise _fault(exc, writer.tmp, "written") from None
        result["seconds"] = round(time.perf_counter() - start, 3)
        resume.write_record(ctx.out, task, ctx.config_hash, result)
    except FaultError as exc:
        result.update(error=str(exc), entry=None)
    except OSError as exc:  # writing the record itself failed
        result.update(error=str(_fault(exc, os.path.join(ctx.out, resume.STATE_DIR), "written")), entry=None)
    finally:
        progress.close()
    result["seconds"] = round(time.perf_counter() - start, 3)
    return result
