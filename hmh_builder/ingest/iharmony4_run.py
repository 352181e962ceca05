"""Orchestrate ``hmh-build iharmony4``: read the lists → plan shards → skip finished shards →
run the rest on worker processes → failures.jsonl and manifest.json (written last).

Resume, locking, the OUT checks, the worker pool and the manifest are the HMH builder's
(``build.run.run_planned`` and ``manifest_for``, over ``build.resume``): a rerun of the same
command keeps every intact shard planned the same way and builds the rest; another config in
OUT is refused unless ``--overwrite``. The content digest (``schema.pair_digest`` per sample,
sorted by id) does not depend on the worker count or shard boundaries.
"""

from __future__ import annotations

import os
import time

from hmh_builder import schema
from hmh_builder.ingest.iharmony4 import IHarmony4Config, discover, plan_tasks, subset_counts
from hmh_builder.ingest.iharmony4_shard import PairContext, run_pair_shard
from hmh_builder.pipeline.config import RunOptions
from hmh_builder.pipeline.run import BuildOutcome, ShardWork, manifest_for, run_planned


def _manifest(
    config: IHarmony4Config,
    done: dict,
    tasks,
    discovered: int,
    list_failures,
    options: RunOptions,
    seconds: float,
) -> tuple[dict, list]:
    """The build's manifest (kind ``harmonization``) with pairs per subset and split."""
    manifest, failures = manifest_for(
        config, done, tasks, discovered, list_failures, options, seconds, kind=schema.KIND_PAIRS
    )
    ids = {
        split: [d[0] for t in tasks if t.split == split for d in done[t.name]["digests"]]
        for split in schema.SPLITS
    }
    manifest["counts"]["subsets"] = subset_counts(ids)
    return manifest, failures


def ingest_iharmony4(config: IHarmony4Config, options: RunOptions, echo=print) -> BuildOutcome:
    """Build (or resume) ``options.out`` from the iHarmony4 root ``config.source``.

    Raises ``ingest.iharmony4.IHarmony4Error`` (unusable source), ``build.resume.OutError``
    (unusable OUT) or ``build.run.BuildError`` (a worker process died); faults of single
    shards come back in ``outcome.faults``.
    """
    start = time.perf_counter()
    out = os.path.abspath(options.out)
    by_split, list_failures = discover(config)
    tasks = plan_tasks(by_split, config.shard_size)
    outcome = BuildOutcome(config, discovered=sum(map(len, by_split.values())) + len(list_failures))
    context = PairContext(
        config.source, out, tuple(config.size), config.hash(), config.to_dict()["builder_version"]
    )
    work = ShardWork(run_pair_shard, context, unit="pair", desc="iharmony4")
    return run_planned(
        out,
        config,
        tasks,
        work,
        options,
        outcome,
        lambda done, seconds: _manifest(
            config, done, tasks, outcome.discovered, list_failures, options, seconds
        ),
        start,
        echo,
    )
