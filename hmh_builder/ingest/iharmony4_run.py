"""Orchestrate ``hmh-build iharmony4``: read the lists → plan shards → skip finished shards →
run the rest on worker processes → failures.jsonl and manifest.json (written last).

Resume, locking and the OUT checks are the HMH builder's (``build.resume``): a rerun of the
same command keeps every intact shard planned the same way and builds the rest; another
config in OUT is refused unless ``--overwrite``. The content digest (``schema.pair_digest``
per sample, sorted by id) does not depend on the worker count or shard boundaries.
"""
from __future__ import annotations

import os
import socket
import sys
import threading
import time
from dataclasses import dataclass, field

from hmh_builder import schema
from hmh_builder.build import distribute, resume
from hmh_builder.build.config import RunOptions
from hmh_builder.build.summary import write_outputs
from hmh_builder.ingest.iharmony4 import (IHarmony4Config, IHarmony4Error, discover, plan_tasks,
                                          subset_counts)
from hmh_builder.ingest.iharmony4_shard import PairContext, run_pair_shard


@dataclass
class IngestOutcome:
    """What an iHarmony4 build did; ``faults`` are one-line I/O problems that left shards unbuilt."""

    config: IHarmony4Config
    manifest: dict | None = None
    failures: list = field(default_factory=list)
    faults: list = field(default_factory=list)
    discovered: int = 0
    kept_shards: int = 0
    built: int = 0
    seconds: float = 0.0


def _refresh(bar, out: str, base: list, stop: threading.Event):
    def loop():
        while not stop.wait(0.5):
            bar.n = min(bar.total, base[0] + resume.running_progress(out))
            bar.refresh()
    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def _results(todo, ctx: PairContext, workers: int):
    """Shard results as they finish; a dead worker process becomes one IHarmony4Error line."""
    try:
        yield from distribute.run_tasks(run_pair_shard, todo, ctx, workers)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # TerminatedWorkerError, BrokenProcessPool, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise IHarmony4Error(f"a worker failed ({type(exc).__name__}: {first}); finished shards "
                             "are kept, rerun the same command to resume") from None


def _run(todo, ctx: PairContext, options: RunOptions, done: dict, faults: list) -> int:
    """Run ``todo``; finished results go into ``done``, fault lines into ``faults``."""
    from tqdm import tqdm

    bar = tqdm(total=sum(len(t.samples) for t in todo), unit="pair", desc="iharmony4",
               disable=not options.progress, dynamic_ncols=True)
    base, stop, built = [0], threading.Event(), 0
    thread = _refresh(bar, ctx.out, base, stop) if options.progress else None
    try:
        for result in _results(todo, ctx, options.workers):
            base[0] += result["planned"]
            if result["error"]:
                if not faults:
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


def _manifest(config: IHarmony4Config, done: dict, tasks, discovered: int, list_failures,
              options: RunOptions, seconds: float) -> tuple[dict, list]:
    digests, failures, shards = [], list(list_failures), []
    ids = {split: [] for split in schema.SPLITS}
    for task in tasks:
        record = done[task.name]
        digests += [tuple(d) for d in record["digests"]]
        ids[task.split] += [d[0] for d in record["digests"]]
        failures += record["failures"]
        if record.get("entry"):
            shards.append(dict(record["entry"], plan_digest=task.digest()))
    counts = {"discovered": discovered, "written": len(digests), "failed": len(failures)}
    counts.update({split: len(ids[split]) for split in schema.SPLITS})
    counts["subsets"] = subset_counts(ids)
    manifest = {"format": schema.MANIFEST_FORMAT, "format_version": schema.FORMAT_VERSION,
                "kind": schema.KIND_PAIRS, "builder_version": config.to_dict()["builder_version"],
                "config": config.to_dict(), "config_hash": config.hash(), "counts": counts,
                "shards": shards, "content_digest": schema.content_digest(digests),
                "run": {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        "host": socket.gethostname(), "duration_s": round(seconds, 3),
                        "workers": options.workers, "backend": "local"}}
    return manifest, failures


def _kept(done: dict) -> list:
    return [r["entry"]["path"] for r in done.values() if r.get("entry")]


def ingest_iharmony4(config: IHarmony4Config, options: RunOptions, echo=print) -> IngestOutcome:
    """Build (or resume) ``options.out`` from the iHarmony4 root ``config.source``.

    Raises ``ingest.iharmony4.IHarmony4Error`` (unusable source) or ``build.resume.OutError``
    (unusable OUT); faults of single shards come back in ``outcome.faults``.
    """
    start = time.perf_counter()
    out = os.path.abspath(options.out)
    by_split, list_failures = discover(config)
    tasks = plan_tasks(by_split, config.shard_size)
    outcome = IngestOutcome(config, discovered=sum(map(len, by_split.values())) + len(list_failures))
    chash = config.hash()
    with resume.exclusive(out):
        previous = resume.prepare_out(out, config.to_dict(), chash, options.overwrite)
        done = (resume.records_from_manifest(out, previous, tasks, chash) if previous is not None
                else resume.load_records(out, tasks, chash))
        outcome.kept_shards = len(done)
        resume.clean_partial(out, _kept(done))
        todo = [t for t in tasks if t.name not in done]
        if todo and os.path.exists(os.path.join(out, "manifest.json")):
            resume.save_records(out, tasks, done, chash)
            os.remove(os.path.join(out, "manifest.json"))
        if done and todo:
            echo(f"resuming: {len(done)} of {len(tasks)} shard(s) already complete, building {len(todo)}")
        ctx = PairContext(config.source, out, tuple(config.size), chash,
                          config.to_dict()["builder_version"])
        try:
            outcome.built = _run(todo, ctx, options, done, outcome.faults)
        except KeyboardInterrupt:
            resume.clean_partial(out, _kept(done))
            raise
        outcome.seconds = time.perf_counter() - start
        if outcome.faults:
            resume.clean_partial(out, _kept(done))
            return outcome
        outcome.manifest, outcome.failures = _manifest(config, done, tasks, outcome.discovered,
                                                       list_failures, options, outcome.seconds)
        write_outputs(out, outcome.manifest, outcome.failures)
        resume.finish(out)
    return outcome
