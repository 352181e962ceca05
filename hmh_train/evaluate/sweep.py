"""``hmh-train sweep``: train and evaluate every point of a grid of config values (paper Table 2).

The grid is the cartesian product of ``--grid key=v1,v2,...`` options (any ``TrainConfig``
key, values parsed like ``--set``), in the order given. Every point's config is resolved and
checked before anything runs, including what training would refuse (shards of another kind
or side, a start file whose network another point's form or depth cannot use). Layout:

```
SWEEP/sweep.json                 grid, base settings, the side the shards alter (``altered``;
                                 null for harmonization pairs), status of every point (with
                                 its harmonizer output form)
SWEEP/table.md, SWEEP/table.csv  one row per point (grid values + Table 1 metrics)
SWEEP/points/<name>/             the point's run folder (config.yaml, checkpoints/, ...)
SWEEP/points/<name>/eval/        hmh-train eval output; eval/summary.json marks it finished
```

Resuming (rerun the same command): a point whose ``eval/summary.json`` exists is skipped; a
point with ``checkpoints/last.pt`` resumes training exactly from it (the engine's ``--resume``,
which also covers a point that finished training but not evaluation); any other point starts
from scratch. A rerun with other settings (another --set, --max-steps, --config, --shards or
evaluation split/limit) refuses before anything runs instead of reusing points made with the
old ones; a resumable point may only change its length (max_steps/epochs).
"""

from __future__ import annotations

import itertools
import json
import os
import re
from dataclasses import dataclass, field, replace

from hmh_builder.fsio import atomic_write_text
from hmh_train.data.augment import EVAL_TRIMAP_RADIUS
from hmh_train.evaluate.report import json_safe, table1_markdown, write_table_csv


@dataclass(frozen=True)
class SweepConfig:
    """Settings of ``hmh-train sweep`` (see its --help)."""

    grid: tuple = ()  # ((key, (value, ...)), ...) as strings
    shards: str = ""
    out: str = "sweep"
    config: str | None = None  # base YAML (its ``mode`` picks the mode)
    mode: str | None = None  # default: the YAML's mode, else joint
    max_steps: int | None = None
    overrides: dict = field(default_factory=dict)  # --set key=value for every point
    eval_split: str = "test"
    eval_limit: int | None = None
    eval_batch_size: int = 8
    progress: bool = True


def parse_grid(items) -> tuple:
    """``["lambda1=0.01,0.02", ...]`` → ``(("lambda1", ("0.01", "0.02")), ...)``; ValueError if bad."""
    grid, seen = [], set()
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip().replace("-", "_")
        parts = tuple(v.strip() for v in values.split(","))
        if not sep or not key or not all(parts):
            raise ValueError(f"--grid expects key=v1,v2,..., got {item!r}")
        if key in seen:
            raise ValueError(f"--grid names {key!r} twice")
        seen.add(key)
        grid.append((key, parts))
    if not grid:
        raise ValueError("give at least one --grid key=v1,v2,...")
    return tuple(grid)


def point_name(point: dict) -> str:
    """Folder-safe name of a grid point, e.g. ``lambda1=0.02_lambda2=0.01``."""
    text = "_".join(f"{k}={v}" for k, v in point.items())
    return re.sub(r"[^A-Za-z0-9._=+-]", "-", text)


def grid_points(grid: tuple) -> list[dict]:
    keys = [k for k, _ in grid]
    return [dict(zip(keys, combo, strict=False)) for combo in itertools.product(*(v for _, v in grid))]


def _mode(cfg: SweepConfig) -> str:
    from hmh_train.train.config import read_yaml

    if cfg.mode:
        return cfg.mode
    return str(read_yaml(cfg.config).get("mode", "joint")) if cfg.config else "joint"


def point_configs(cfg: SweepConfig) -> list[tuple[str, dict, object]]:
    """[(name, grid values, TrainConfig)] for every point; ConfigError before anything runs."""
    from hmh_train.train.config import load_config

    mode, out = _mode(cfg), []
    for point in grid_points(cfg.grid):
        name = point_name(point)
        overrides = {
            **cfg.overrides,
            **point,
            "shards": cfg.shards,
            "out": os.path.join(cfg.out, "points", name),
        }
        if cfg.max_steps is not None:
            overrides["max_steps"] = cfg.max_steps
        if not cfg.progress:
            overrides.setdefault("progress", False)
        out.append((name, point, load_config(mode, cfg.config, overrides)))
    return out


#: Keys that do not change a point's result (logging, speed, where it runs).
NEUTRAL_KEYS = frozenset(
    {"out", "resume", "progress", "workers", "device", "log_every", "image_every", "ckpt_every"}
)
#: Also allowed to differ for a point that resumes training: it trains on to the new length.
LENGTH_KEYS = frozenset({"max_steps", "epochs"})


def _same_path(a, b) -> bool:
    return a == b or (a is not None and b is not None and os.path.realpath(a) == os.path.realpath(b))


def _recorded_difference(run: str, train_cfg, cfg: SweepConfig, finished: bool) -> str | None:
    """``key: recorded vs now`` for the first setting a point's folder was made with that
    differs from this sweep's; None when its results can be reused."""
    from hmh_train.train.config import config_dict, load_saved_config

    saved = config_dict(load_saved_config(train_cfg.mode, os.path.join(run, "config.yaml")))
    now = config_dict(train_cfg)
    skip = NEUTRAL_KEYS | (frozenset() if finished else LENGTH_KEYS)
    if now.get("altered") is None:  # read from the shards by training (compared as shards)
        skip = skip | {"altered"}
    for key in sorted(now):
        same = _same_path if key == "shards" else (lambda a, b: a == b)
        if key not in skip and not same(saved.get(key), now[key]):
            return f"{key} {saved.get(key)!r} (this sweep: {now[key]!r})"
    if finished:
        with open(os.path.join(run, "eval", "summary.json"), encoding="utf-8") as handle:
            recorded = json.load(handle).get("settings", {})
        wanted = {"shards": cfg.shards, "split": cfg.eval_split, "limit": cfg.eval_limit}
        for key, value in wanted.items():
            same = _same_path if key == "shards" else (lambda a, b: a == b)
            if not same(recorded.get(key), value):
                return f"eval {key} {recorded.get(key)!r} (this sweep: {value!r})"
    return None


def check_reuse(points: list, cfg: SweepConfig) -> None:
    """ValueError (one line) when a finished or resumable point was made with other settings,
    before anything runs: a rerun must not mix old results into a table of new settings."""
    for _name, _values, train_cfg in points:
        run = train_cfg.out
        finished = os.path.isfile(os.path.join(run, "eval", "summary.json"))
        if not (
            finished or os.path.isfile(os.path.join(run, "checkpoints", "last.pt"))
        ) or not os.path.isfile(os.path.join(run, "config.yaml")):
            continue
        difference = _recorded_difference(run, train_cfg, cfg, finished)
        if difference:
            raise ValueError(
                f"{run}: this point was {'run' if finished else 'started'} with "
                f"{difference}; use another --out, or delete {run} to redo it"
            )


def check_points(points: list, shards: str) -> str | None:
    """What training would refuse, checked for every point before any trains (one line:
    TrainingError / CheckpointError / ConfigError): the shards' kind for the mode, a point's
    ``altered`` against the side the shards alter, its ``num_downs`` against the image size,
    and a start file (``matting_ckpt`` /
    ``harmonization_ckpt``) against the point's ``num_downs`` and harmonizer output form.
    Returns the side the shards alter (None for harmonization pairs)."""
    from hmh_train.data.shards import ShardDataset, altered_side
    from hmh_train.train.checkpoint import check_pretrained, load_nets
    from hmh_train.train.config import check_image_size
    from hmh_train.train.engine import MODE_NETS, check_shard_kind, resolve_side

    train_set, loaded = ShardDataset(shards, "train"), {}
    for _name, _values, train_cfg in points:
        if os.path.isfile(os.path.join(train_cfg.out, "eval", "summary.json")):
            continue  # finished: skipped (check_reuse compared its settings)
        check_shard_kind(train_cfg, train_set.kind)
        resolve_side(train_cfg, train_set)
        check_image_size(train_cfg, train_set.size)
        for net, path in (
            ("matting", train_cfg.matting_ckpt),
            ("harmonization", train_cfg.harmonization_ckpt),
        ):
            started = os.path.isfile(os.path.join(train_cfg.out, "checkpoints", "last.pt"))
            if path and net in MODE_NETS[train_cfg.mode] and not started:  # else resumed
                if path not in loaded:
                    loaded[path] = load_nets(path)[0]
                check_pretrained(loaded[path], path, net, train_cfg.num_downs, train_cfg.harmonizer_output)
    return altered_side(train_set)


def run_point(name: str, train_cfg, cfg: SweepConfig) -> tuple[str, dict]:
    """Train (or resume) and evaluate one point; returns (status, summary of the run)."""
    from hmh_train.evaluate.run import EvalConfig, evaluate
    from hmh_train.train.engine import train

    run = train_cfg.out
    summary_path = os.path.join(run, "eval", "summary.json")
    if os.path.isfile(summary_path):
        with open(summary_path, encoding="utf-8") as handle:
            return "skipped", next(iter(json.load(handle)["runs"].values()))
    resumable = os.path.isfile(os.path.join(run, "checkpoints", "last.pt")) and os.path.isfile(
        os.path.join(run, "config.yaml")
    )
    status = "resumed" if resumable else "trained"
    train(replace(train_cfg, resume=run) if resumable else train_cfg)
    result = evaluate(
        EvalConfig(
            runs=(run,),
            shards=cfg.shards,
            split=cfg.eval_split,
            out=os.path.join(run, "eval"),
            batch_size=cfg.eval_batch_size,
            device=train_cfg.device,
            limit=cfg.eval_limit,
            progress=cfg.progress,
        )
    )
    return status, next(iter(result["runs"].values()))


def sweep(cfg: SweepConfig) -> dict:
    """Run every grid point (skipping finished ones); write sweep.json and table.md/.csv.

    Returns {"out", "points": [{"name", "values", "status"}], "table": markdown}.
    """
    points = point_configs(cfg)
    check_reuse(points, cfg)
    altered = check_points(points, cfg.shards)
    os.makedirs(cfg.out, exist_ok=True)
    summaries, extra, status = {}, {}, []
    for name, values, train_cfg in points:
        state, summary = run_point(name, train_cfg, cfg)
        summaries[name] = summary
        extra[name] = extra[f"{name} · predicted α"] = values
        status.append({"name": name, "values": values, "status": state})
        if train_cfg.mode != "matting":  # how the point's U-Net output became I_h
            status[-1]["harmonizer_output"] = train_cfg.harmonizer_output
        _write_state(cfg, status, len(points), altered)
        table = _write_table(cfg, summaries, extra)  # after every point: a partial table too
    return {"out": cfg.out, "points": status, "table": table}


def _write_table(cfg: SweepConfig, summaries: dict, extra: dict) -> str:
    settings = {"split": cfg.eval_split, "trimap_radius": EVAL_TRIMAP_RADIUS, "region": "unknown"}
    table = table1_markdown(summaries, settings, extra)
    atomic_write_text(os.path.join(cfg.out, "table.md"), table)
    write_table_csv(os.path.join(cfg.out, "table.csv"), summaries, extra)
    return table


def _write_state(cfg: SweepConfig, status: list, total: int, altered: str | None) -> None:
    state = {
        "grid": [[k, list(v)] for k, v in cfg.grid],
        "shards": cfg.shards,
        "altered": altered,
        "config": cfg.config,
        "max_steps": cfg.max_steps,
        "overrides": cfg.overrides,
        "points_total": total,
        "points": status,
    }
    atomic_write_text(os.path.join(cfg.out, "sweep.json"), json.dumps(json_safe(state), indent=2) + "\n")
