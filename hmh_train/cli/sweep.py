"""``hmh-train sweep``: parse options into a SweepConfig and call ``sweep.sweep``."""

from __future__ import annotations

import click

from hmh_builder.fsio import first_line


@click.command("sweep")
@click.option(
    "--grid",
    "grid_items",
    multiple=True,
    required=True,
    metavar="KEY=V1,V2,...",
    help="config key and its values (repeatable; the grid is the cartesian product), "
    "e.g. --grid lambda1=0.01,0.02,0.033,0.1",
)
@click.option("--shards", required=True, type=click.Path(), help="hmh-build output or release folder")
@click.option(
    "--out",
    required=True,
    type=click.Path(),
    help="sweep folder: points/<name>/ runs, table.md, table.csv, sweep.json",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="base YAML config of every point (its 'mode' key picks the mode) [default: none]",
)
@click.option(
    "--mode",
    type=click.Choice(["matting", "harmonization", "joint"]),
    default=None,
    help="training mode [default: the config's mode, else joint]",
)
@click.option(
    "--max-steps",
    type=click.IntRange(min=0),
    default=None,
    help="optimizer steps per point [default: the config's epochs]",
)
@click.option(
    "--set",
    "set_items",
    multiple=True,
    metavar="KEY=VALUE",
    help="config key for every point (repeatable), e.g. --set width=0.5",
)
@click.option("--eval-split", default="test", show_default=True, help="split each point is evaluated on")
@click.option(
    "--eval-limit",
    type=click.IntRange(min=1),
    default=None,
    help="evaluate each point on its first N samples only [default: all]",
)
@click.option(
    "--eval-batch-size",
    default=8,
    show_default=True,
    type=click.IntRange(min=1),
    help="samples per evaluation forward pass",
)
@click.option("--progress/--no-progress", default=True, show_default=True, help="progress bars on stderr")
def sweep_command(
    grid_items,
    shards,
    out,
    config_path,
    mode,
    max_steps,
    set_items,
    eval_split,
    eval_limit,
    eval_batch_size,
    progress,
):
    """Train and evaluate every point of a config grid and write one comparison table (the
    paper's Table 2). Every point's settings are checked (config keys, the shards' kind and
    side, image size, start files) before any point trains. Rerunning the same command skips
    finished points (eval/summary.json)
    and resumes a point that has checkpoints/last.pt; other points start over. A rerun with
    other settings into the same --out stops with one line naming the first difference
    (only max_steps/epochs of an unfinished point may change).

    Example: hmh-train sweep --config joint.yaml --grid lambda1=0.01,0.02,0.033,0.1
    --shards shards --out sweeps/lambda1
    """
    from hmh_train.evaluate.sweep import SweepConfig, parse_grid, sweep
    from hmh_train.train.checkpoint import CheckpointError
    from hmh_train.train.config import ConfigError, parse_set
    from hmh_train.train.engine import TrainingError

    try:
        cfg = SweepConfig(
            grid=parse_grid(grid_items),
            shards=shards,
            out=out,
            config=config_path,
            mode=mode,
            max_steps=max_steps,
            overrides=parse_set(set_items),
            eval_split=eval_split,
            eval_limit=eval_limit,
            eval_batch_size=eval_batch_size,
            progress=progress,
        )
        result = sweep(cfg)
    except (ConfigError, CheckpointError, TrainingError, ValueError, OSError) as exc:
        raise click.ClickException(first_line(exc)) from None
    click.echo(result["table"])
    counts = {}
    for point in result["points"]:
        counts[point["status"]] = counts.get(point["status"], 0) + 1
    click.echo(
        f"{len(result['points'])} points ({', '.join(f'{v} {k}' for k, v in counts.items())}); "
        f"wrote {result['out']}/table.md, table.csv, sweep.json"
    )
