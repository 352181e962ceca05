"""``hmh-train summary``: each network's parameter count and one forward pass's shapes."""

from __future__ import annotations

from dataclasses import dataclass

import click

from hmh_builder.fsio import first_line


@dataclass(frozen=True)
class SummaryConfig:
    width: float = 1.0
    size: int = 256
    num_downs: int = 8
    head: str = "published"
    norm: str = "batch"
    matting_net: str = "indexnet"
    harmonizer: str = "unet"


@click.command("summary")
@click.option(
    "--width",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="channel width multiplier of every network (1.0 = the paper's networks)",
)
@click.option(
    "--size",
    default=256,
    show_default=True,
    type=click.IntRange(min=32),
    help="side of the square test input (multiple of 32 and of 2**num-downs)",
)
@click.option(
    "--num-downs",
    default=8,
    show_default=True,
    type=click.IntRange(min=5),
    help="downsamplings of the U-Net (8 takes 256 down to 1)",
)
@click.option(
    "--matting-head",
    "head",
    default="published",
    show_default=True,
    type=click.Choice(["published", "wide"]),
    help="IndexNet prediction head: the official one, or the 32-channel variant",
)
@click.option(
    "--matting-net",
    default="indexnet",
    show_default=True,
    type=click.Choice(["indexnet", "dim"]),
    help="matting network: IndexNet (the paper's) or dim, Deep Image Matting (Table 1's DM "
    "baseline, 130,545,345 parameters; slow on CPU at large --size)",
)
@click.option(
    "--unet-norm",
    "norm",
    default="batch",
    show_default=True,
    type=click.Choice(["batch", "instance"]),
    help="U-Net normalisation: batch (released DoveNet) or instance",
)
@click.option(
    "--harmonizer",
    default="unet",
    show_default=True,
    type=click.Choice(["unet", "dih"]),
    help="harmonization network: the attention U-Net or DIH (8,268,800 parameters at width 1.0)",
)
def summary_command(**options):
    """Build IndexNet, the attention U-Net and the SAGAN critic on the CPU, run one forward
    pass of a zero image through each and print parameters and input/output shapes.
    Defaults are the published networks: IndexNet 5,953,515 and the U-Net 54,759,939
    parameters."""
    from hmh_train.nets import format_summary, network_summary

    cfg = SummaryConfig(**options)
    try:
        rows = network_summary(
            cfg.width, cfg.size, cfg.num_downs, cfg.head, cfg.norm, cfg.matting_net, cfg.harmonizer
        )
    except ValueError as exc:
        raise click.ClickException(first_line(exc)) from exc
    click.echo(format_summary(rows))
