"""``hmh-build iharmony4 --src IHD_ROOT --out OUT``: iHarmony4 as harmonization-pair shards."""

from __future__ import annotations

import os
import sys

import click

from hmh_builder.cli.build import (
    MAX_FAILURES_OPTION,
    OVERWRITE_OPTION,
    PROGRESS_OPTION,
    run_and_report,
    run_options,
)

SPLIT_CHOICES = ("both", "train", "test")


def _parse_size(ctx, param, value):
    from hmh_builder.pipeline.config import ConfigError, parse_size

    try:
        size = parse_size(value)
    except ConfigError:
        size = None
    if size is None or min(size) < 8 or max(size) > 8192:
        raise click.BadParameter(
            f"{value!r} is not N or HxW with sides of 8 to 8192 pixels (e.g. 256, DoveNet's size)"
        )
    return size


@click.command("iharmony4")
@click.option(
    "--src",
    required=True,
    type=click.Path(file_okay=False),
    help="iHarmony4 root: IHD_train.txt, IHD_test.txt and the subset folders "
    "(HCOCO/, HAdobe5k/, HFlickr/, Hday2night/ with composite_images/, masks/, "
    "real_images/).",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Output folder (manifest.json, failures.jsonl, train/, test/). Rerunning the same command resumes.",
)
@click.option(
    "--split",
    type=click.Choice(SPLIT_CHOICES),
    default="both",
    show_default=True,
    help="Which list to shard: IHD_train.txt (train), IHD_test.txt (test) or both.",
)
@click.option(
    "--size",
    default="256",
    show_default=True,
    callback=_parse_size,
    help="Output size N (N×N) or HxW. DoveNet trains and tests at 256.",
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=None, help="Worker processes [default: all cores]."
)
@click.option(
    "--shard-size",
    default=1000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Pairs per shard (1000 at 256×256 ≈ 459 MB).",
)
@MAX_FAILURES_OPTION
@OVERWRITE_OPTION
@PROGRESS_OPTION
def iharmony4_command(src, out_dir, split, size, workers, shard_size, max_failures, overwrite, progress):
    """Shard the iHarmony4 harmonization set (DoveNet's reading: PIL, 256×256 bilinear; the
    mask 1-bit) into harmonization-pair shards holding the real image I, the composite I_d
    and the mask M of the changed region, for `hmh-train harmonization --shards OUT`.

    Every listed composite lands in a shard or as one line of OUT/failures.jsonl (missing or
    undecodable composite, mask or real image; malformed or repeated list line). Exit status
    as hmh-build: 0 all written (or at most --max-failures failed); 3 some inputs failed;
    1 the build could not finish (rerun the same command to resume); 2 usage error;
    130 interrupted.
    """
    from hmh_builder.ingest.iharmony4 import IHarmony4Config

    splits = ("train", "test") if split == "both" else (split,)
    config = IHarmony4Config(os.path.abspath(src), tuple(size), splits, shard_size)
    options = run_options(out_dir, workers, max_failures, overwrite, progress)
    sys.exit(_run(config, options))


def _run(config, options) -> int:
    from hmh_builder.ingest.iharmony4 import IHarmony4Error
    from hmh_builder.ingest.iharmony4_run import ingest_iharmony4
    from hmh_builder.pipeline.resume import OutError
    from hmh_builder.pipeline.run import BuildError

    return run_and_report(ingest_iharmony4, config, options, (IHarmony4Error, OutError, BuildError))
