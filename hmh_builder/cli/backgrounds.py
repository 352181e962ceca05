"""``hmh-build backgrounds --src DIR --out BG``: shard scene images for test-time composition."""

import json
import os
import sys

import click

from hmh_builder.fsio import EXIT_FAILED_INPUTS, failure_listing, first_line


def _parse_size(ctx, param, value):
    from hmh_builder.pipeline.config import ConfigError, parse_size

    try:
        size = parse_size(value)  # the build's own N / HxW parser; "native" means nothing here
    except ConfigError:
        size = None
    if size is None:
        raise click.BadParameter(f"{value!r} is not N or HxW (e.g. 256 or 256x320)")
    if min(size) < 8:
        raise click.BadParameter(f"{value!r} is not N or HxW with sides of at least 8 pixels")
    return size


@click.command("backgrounds")
@click.option(
    "--src",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="Folder of background images (.jpg/.jpeg/.png, any nesting), e.g. SUN.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Output folder (created; must be empty unless --overwrite).",
)
@click.option(
    "--size",
    default="256",
    show_default=True,
    callback=_parse_size,
    help="Output size N (square) or HxW; images are centre-cropped to that aspect ratio, then resized.",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1),
    help="Parallel processes (one shard per task).",
)
@click.option(
    "--shard-size",
    default=1000,
    show_default=True,
    type=click.IntRange(1),
    help="Images per shard (1000 at 256×256 ≈ 197 MB).",
)
@click.option("--overwrite", is_flag=True, help="Delete a non-empty --out first.")
@click.option(
    "--backend",
    default="local",
    show_default=True,
    type=click.Choice(["local", "dask"]),
    help="local: worker processes here; dask: shard tasks on a dask.distributed "
    "cluster (workers must see --src and --out at the same paths).",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="dask scheduler address, e.g. tcp://10.0.0.1:8786 (with --backend dask).",
)
def backgrounds_command(src, out_dir, size, workers, shard_size, overwrite, backend, scheduler):
    """Shard a folder of background images into BG/backgrounds/backgrounds-NNNNN.h5
    (datasets `image` (N, H, W, 3) uint8 RGB and `id` = path relative to --src), with
    manifest.json and failures.jsonl like an HMH build; check it with `hmh-build verify BG`.
    Exit status as hmh-build: 0 all written, 3 some images failed (failures.jsonl), 1 error."""
    from hmh_builder.ingest.backgrounds import BackgroundConfig, BackgroundError, build_backgrounds

    config = BackgroundConfig(os.path.abspath(src), size, shard_size)
    try:
        manifest = build_backgrounds(
            config,
            out_dir,
            workers,
            overwrite,
            progress=sys.stderr.isatty(),
            backend=backend,
            scheduler=scheduler,
        )
    except (BackgroundError, OSError) as exc:
        raise click.ClickException(first_line(exc)) from None
    counts = manifest["counts"]
    click.echo(
        f"wrote {out_dir}: {counts['written']} backgrounds in {len(manifest['shards'])} "
        f"shards, {counts['failed']} failed (see failures.jsonl), "
        f"{manifest['run']['duration_s']:.1f} s"
    )
    if counts["failed"]:
        for line in failure_listing(_failure_lines(out_dir), "failures.jsonl"):
            click.echo(line)
    click.echo(f"content-digest: {manifest['content_digest']}")
    if counts["failed"]:
        sys.exit(EXIT_FAILED_INPUTS)  # as hmh-build: all others were written


def _failure_lines(out_dir: str) -> list[str]:
    """``stage: reason`` of each record in ``OUT/failures.jsonl`` (as the build's summary)."""
    with open(os.path.join(out_dir, "failures.jsonl"), encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    return [f"{r['stage']}: {r['reason']}" for r in records]
