"""``hmh-build preview OUT -o grid.png``: a labelled grid of samples."""

from dataclasses import dataclass

import click

from hmh_builder.fsio import first_line


@dataclass(frozen=True)
class PreviewOptions:
    folder: str
    output: str
    n: int
    split: str
    ids: tuple
    seed: int


@click.command("preview")
@click.argument("folder", metavar="OUT", type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="PNG file to write.")
@click.option(
    "--n",
    "n",
    default=8,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Number of samples (rows) drawn at random from --split.",
)
@click.option(
    "--split",
    default="test",
    show_default=True,
    type=click.Choice(["train", "test"]),
    help="Split to draw samples from (ignored with --ids).",
)
@click.option(
    "--ids",
    multiple=True,
    metavar="ID",
    help="Show exactly these sample ids: repeat the option or separate ids by "
    "commas (--ids A --ids B, or --ids A,B); overrides --n/--split.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the random choice of samples.")
def preview_command(folder, output, n, split, ids, seed):
    """Draw one row per sample of OUT (a build or release folder): I | A | F | B | I_d,
    with column labels and each sample's id, transform and parameters."""
    ids = tuple(part.strip() for value in ids for part in value.split(",") if part.strip())
    options = PreviewOptions(folder, output, n, split, ids, seed)
    from hmh_builder.inspect.preview import write_preview

    try:
        rows = write_preview(
            options.folder,
            options.output,
            n=options.n,
            split=options.split,
            ids=list(options.ids) or None,
            seed=options.seed,
        )
    except (ValueError, OSError) as exc:
        raise click.ClickException(first_line(exc)) from None
    click.echo(f"wrote {options.output} ({rows} samples)")
