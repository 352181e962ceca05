"""``hmh-build stats OUT``: counts, parameter ranges, matte and colour-shift statistics."""

import json
import sys
from dataclasses import dataclass

import click

from hmh_builder.fsio import first_line


@dataclass(frozen=True)
class StatsOptions:
    folder: str
    as_json: bool
    plot: str | None
    max_samples: int | None
    seed: int


@click.command("stats")
@click.argument("folder", metavar="OUT", type=click.Path(exists=True, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
@click.option(
    "--plot",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write histograms to this PNG (needs the 'plot' extra: matplotlib).",
)
@click.option(
    "--max-samples",
    type=click.IntRange(1),
    default=None,
    help="Pixel statistics over a seeded random subset of this many samples "
    "(default: all samples; counts and parameters always use all).",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the --max-samples subset.")
def stats_command(folder, as_json, plot, max_samples, seed):
    """Describe OUT (a build or release folder): samples per split and transform, the
    distribution of every numeric transform parameter, the share of semi-transparent matte
    pixels (0 < A < 255), and the mean colour shift between I and I_d over the background
    (A = 0) in CIELAB (ΔL, Δa, Δb and ΔE*76)."""
    options = StatsOptions(folder, as_json, plot, max_samples, seed)
    from hmh_builder.inspect.stats import compute_stats, format_stats, plot_stats

    try:
        stats = compute_stats(options.folder, options.max_samples, options.seed, progress=sys.stderr.isatty())
        if options.plot:
            plot_stats(stats, options.plot)
    except (ValueError, OSError, RuntimeError) as exc:
        raise click.ClickException(first_line(exc)) from None
    click.echo(json.dumps(stats, indent=2) if options.as_json else format_stats(stats))
    if options.plot:
        click.echo(f"wrote {options.plot}", err=options.as_json)
