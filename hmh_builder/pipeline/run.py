"""Orchestrate a build: discover → plan → skip finished shards → run the rest → manifest.

``run_build(config, options)`` returns a :class:`BuildOutcome`; the CLI turns it into output
and an exit status. Nothing here touches pixels: workers (``worker.run_shard``) do.
:func:`run_planned` (resume, run, clean up, manifest) and :func:`manifest_for` serve every
shard build, ``hmh-build iharmony4`` too.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hmh_builder import imageio, schema
from hmh_builder.fsio import first_line
from hmh_builder.pipeline import distribute, resume, sources
from hmh_builder.pipeline.config import BuildConfig, RunOptions
from hmh_builder.pipeline.plan import plan_shards
from hmh_builder.pipeline.summary import write_outputs
from hmh_builder.pipeline.worker import ShardContext, run_shard


class BuildError(RuntimeError):
    """The build cannot start or go on; one line for the user."""


@dataclass
class BuildOutcome:
    """What a build did. ``faults`` are one-line I/O problems that left shards unbuilt.
    ``config``: the resolved BuildConfig (an ingest's own config for ``hmh-build iharmony4``)."""

    config: BuildConfig
    manifest: dict | None = None
    failures: list = field(default_factory=list)
    faults: list = field(default_factory=list)
    discovered: int = 0
    kept_shards: int = 0
    built: int = 0  # samples written by this run (not kept from an earlier one)
    seconds: float = 0.0


def resolve_native_size(config: BuildConfig, pairs) -> BuildConfig:
    """For ``--size native``: the size of the first (by id) image whose header is readable
    (JPEG or PNG, within the pixel limit); nothing is decoded."""
    if config.size is not None:
        return config
    for pair in pairs:
        try:
            header = imageio.read_header(
                os.path.join(config.source, pair.image), config.max_pixels, imageio.READ_FORMATS
            )
            return dataclasses.replace(config, size=(header.height, header.width))
        except (imageio.DecodeError, OSError):
            continue
    raise BuildError(f"{config.source}: no image could be decoded to learn the native size")


def _context(config: BuildConfig, out: str, native: bool) -> ShardContext:
    return ShardContext(
        src=config.source,
        out=out,
        size=tuple(config.size),
        native=native,
        background=config.background,
        background_resolution=config.background_resolution,
        store_b_t=config.store_b_t,
        config_hash=config.hash(),
        builder_version=config.to_dict()["builder_version"],
        altered=config.altered,
        max_pixels=config.max_pixels,
    )


@dataclass(frozen=True)
class ShardWork:
    """What :func:`run_planned` runs for each shard task: the worker entry point
    ``work(task, context) -> result`` (module level, so it pickles; ``worker.run_shard``'s
    result dict: name, planned, entry, digests, failures, error), the context every task
    shares, and the progress bar's unit and label."""

    work: Callable
    context: object
    unit: str = "sample"
    desc: str = "build"


def _progress_thread(out: str, bar, base: list, stop: threading.Event):
    """Refresh the bar from the workers' progress files twice a second."""

    def loop():
        while not stop.wait(0.5):
            bar.n = min(bar.total, base[0] + resume.running_progress(out))
            bar.refresh()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def _results(todo, work: ShardWork, options: RunOptions):
    """Shard results as they finish; a dead worker process becomes one BuildError line."""
    try:
        yield from distribute.run_tasks(
            work.work, todo, work.context, options.workers, options.backend, options.scheduler
        )
    except (KeyboardInterrupt, distribute.BackendError):
        raise
    except Exception as exc:  # TerminatedWorkerError, BrokenProcessPool, a lost dask worker...
        raise BuildError(
            f"a worker failed ({first_line(exc, with_type=True)}); finished shards are "
            "kept, rerun the same command to resume"
        ) from None


def _run_remaining(out: str, todo, work: ShardWork, options: RunOptions, done: dict, faults: list) -> int:
    """Run ``todo``; finished results go into ``done``, fault lines into ``faults``; returns samples written."""
    from tqdm import tqdm

    total = sum(len(t.samples) for t in todo)
    bar = tqdm(
        total=total,
        unit=work.unit,
        desc=work.desc,
        disable=not options.progress,
        dynamic_ncols=True,
        smoothing=0.1,
    )
    base, stop, built = [0], threading.Event(), 0
    thread = _progress_thread(out, bar, base, stop) if options.progress else None
    try:
        for result in _results(todo, work, options):
            base[0] += result["planned"]
            bar.n = min(bar.total, base[0] + resume.running_progress(out))
            bar.refresh()
            if result["error"]:
                reason = result["error"].rsplit(" (", 1)[-1]
                if not any(f.endswith(reason) for f in faults):  # one line per kind of fault
                    bar.write(f"error: {result['error']}", file=sys.stderr)
                faults.append(result["error"])
            else:
                done[result["name"]] = result
                built += len(result["digests"])
    finally:
        stop.set()
        if thread is not None:
            thread.join()
        bar.close()
    return built


def manifest_for(
    config,
    done: dict,
    tasks,
    discovered: int,
    pre_failures,
    options: RunOptions,
    seconds: float,
    kind: str | None = None,
) -> tuple[dict, list]:
    """(manifest.json's dict, every failure) of a finished build of ``tasks`` (all in
    ``done``): shard entries in plan order with their plan digests, counts (discovered,
    written, failed, per split), the content digest and the run facts. ``pre_failures``:
    failures found before planning (unpaired files, bad list lines). ``kind`` is recorded
    only when given (builds other than HMH: ``schema.KIND_PAIRS``)."""
    digests, failures, shards = [], list(pre_failures), []
    for task in tasks:
        record = done[task.name]
        digests += [tuple(d) for d in record["digests"]]
        failures += record["failures"]
        if record.get("entry"):
            shards.append(dict(record["entry"], plan_digest=task.digest()))
    counts = {"discovered": discovered, "written": len(digests), "failed": len(failures)}
    for split in schema.SPLITS:
        counts[split] = sum(s["samples"] for s in shards if s["split"] == split)
    data = config.to_dict()
    manifest = {
        "format": schema.MANIFEST_FORMAT,
        "format_version": schema.FORMAT_VERSION,
        **({"kind": kind} if kind is not None else {}),
        "builder_version": data["builder_version"],
        "config": data,
        "config_hash": config.hash(),
        "counts": counts,
        "shards": shards,
        "content_digest": schema.content_digest(digests),
        "run": {
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "host": socket.gethostname(),
            "duration_s": round(seconds, 3),
            "workers": options.workers,
            "backend": options.backend,
        },
    }
    return manifest, failures


def _kept_paths(done: dict) -> list:
    """Shard paths of the finished shards in ``done`` (what clean_partial must keep)."""
    return [r["entry"]["path"] for r in done.values() if r.get("entry")]


def run_planned(
    out: str,
    config,
    tasks: list,
    work: ShardWork,
    options: RunOptions,
    outcome: BuildOutcome,
    manifest_of,
    start: float,
    echo=print,
) -> BuildOutcome:
    """Resume, run and finish the planned shard ``tasks`` in the absolute folder ``out``: the
    sequence every shard build shares (``hmh-build``, ``hmh-build iharmony4``).

    Locks OUT and checks its config (``config.to_dict()``, ``config.hash()``); keeps the
    intact shards planned the same way (from a complete manifest, else the completion
    records); deletes partial ones; runs the rest with ``work``; then, unless a shard
    faulted, writes failures.jsonl and manifest.json from ``manifest_of(done, seconds) ->
    (manifest, failures)``. Fills ``outcome`` (kept_shards, built, faults, seconds, manifest,
    failures) and returns it; seconds count from ``start`` (``time.perf_counter()``).
    """
    chash = config.hash()
    with resume.exclusive(out):  # one build at a time per OUT
        previous = resume.prepare_out(out, config.to_dict(), chash, options.overwrite)
        if previous is not None:
            done = resume.records_from_manifest(out, previous, tasks, chash)
        else:
            done = resume.load_records(out, tasks, chash)
        outcome.kept_shards = len(done)
        resume.clean_partial(out, _kept_paths(done))
        todo = [t for t in tasks if t.name not in done]
        if todo and os.path.exists(os.path.join(out, "manifest.json")):
            resume.save_records(out, tasks, done, chash)  # kept shards survive a stop
            os.remove(os.path.join(out, "manifest.json"))  # the folder is no longer complete
        if done and todo:
            echo(f"resuming: {len(done)} of {len(tasks)} shard(s) already complete, building {len(todo)}")
        try:
            outcome.built = _run_remaining(out, todo, work, options, done, outcome.faults)
        except KeyboardInterrupt:
            resume.clean_partial(out, _kept_paths(done))
            raise
        outcome.seconds = time.perf_counter() - start
        if outcome.faults:
            resume.clean_partial(out, _kept_paths(done))
            return outcome
        outcome.manifest, outcome.failures = manifest_of(done, outcome.seconds)
        write_outputs(out, outcome.manifest, outcome.failures)
        resume.finish(out)
        return outcome


def run_build(config: BuildConfig, options: RunOptions, echo=print) -> BuildOutcome:
    """Build (or resume) ``options.out`` from ``config.source``; see the module docstring."""
    start = time.perf_counter()
    out = os.path.abspath(options.out)
    pairs, pair_failures = sources.discover(config.source)
    if not pairs and not pair_failures:
        raise BuildError(f"{config.source}: found no image/matte files to build from")
    native = config.size is None
    config = (
        resolve_native_size(config, pairs)
        if pairs
        else dataclasses.replace(config, size=config.size or (256, 256))
    )
    shard_size = config.samples_per_shard(*config.size, len(pairs))
    config = dataclasses.replace(config, shard_size=shard_size)
    outcome = BuildOutcome(config=config, discovered=len(pairs) + len(pair_failures))
    tasks = plan_shards(pairs, config.seed, config.test_fraction, shard_size, config.adjust)
    work = ShardWork(run_shard, _context(config, out, native))
    return run_planned(
        out,
        config,
        tasks,
        work,
        options,
        outcome,
        lambda done, seconds: manifest_for(
            config, done, tasks, outcome.discovered, pair_failures, options, seconds
        ),
        start,
        echo,
    )
