"""``hmh-train figure fig4 | fig2`` (the paper's qualitative figures) and ``hmh-train table1``."""

from __future__ import annotations

import click

from hmh_train.train.config import HARMONIZER_OUTPUTS


class UsageLine(click.ClickException):
    """A usage mistake reported in one line (no usage text) with the usage exit code 2."""

    exit_code = 2


CKPT_HELP = "LABEL=PATH or PATH: a run folder (best.pt, else last.pt) or checkpoint file (repeatable)"


def _shared(func):
    options = [
        click.option("--shards", required=True, type=click.Path(), help="hmh-build output or release folder"),
        click.option("--split", default="test", show_default=True, help="split the samples come from"),
        click.option("--n", default=3, show_default=True, type=int, help="samples (rows), drawn with --seed"),
        click.option("--seed", default=0, show_default=True, type=int, help="seed of the sample draw"),
        click.option("--out", required=True, type=click.Path(), help="the figure: OUT.png and OUT.pdf"),
        click.option(
            "--harmonizer-output",
            type=click.Choice(HARMONIZER_OUTPUTS),
            default=None,
            help="output form of every harmonizer [default: each run's own]",
        ),
        click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:1, ..."),
        click.option(
            "--progress/--no-progress", default=True, show_default=True, help="progress bar on stderr"
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _run(function, cfg):
    from hmh_train.study.figure_grid import FigureError
    from hmh_train.study.folder import StudyError
    from hmh_train.train.checkpoint import CheckpointError

    try:
        return function(cfg)
    except (FigureError, StudyError, CheckpointError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc).splitlines()[0]) from None


@click.group("figure")
def figure_command():
    """The paper's qualitative figures as PNG + PDF (needs matplotlib: the 'plot' extra).

    \b
    hmh-train figure fig4 --shards S --n 3 --method xue --ckpt DIH=runs/dih \\
        --ckpt runs/unet --ckpt latest_net_G.pth --ckpt runs/joint --out fig4.png
    hmh-train figure fig2 --shards S --n 1 --ckpt IN=indexnet_matting.pth.tar \\
        --ckpt runs/matting --ckpt runs/joint --harmonizer runs/joint --out fig2.png
    """


@figure_command.command("fig4")
@_shared
@click.option(
    "--method",
    "methods",
    multiple=True,
    metavar="NAME",
    help="a non-learned harmonizer by name, a column after the composite (repeatable; "
    "registered: see hmh_train/infer/methods.py; learned networks such as DIH go in --ckpt)",
)
@click.option(
    "--ckpt", "ckpts", multiple=True, metavar="[LABEL=]RUN", help=f"a harmonizer column: {CKPT_HELP}"
)
@click.option(
    "--real/--no-real", default=False, show_default=True, help="a last column with the real image I"
)
@click.option("--allow-other-side", is_flag=True, help="use a harmonizer trained on the other altered side")
def fig4_command(
    shards, split, n, seed, out, harmonizer_output, device, progress, methods, ckpts, real, allow_other_side
):
    """Fig. 4: composite | each method | each run's harmonized picture, one row per seeded
    sample (the same samples for every column; runs rendered as `study make` renders them)."""
    from hmh_train.study.figures import FigureConfig, make_fig4

    cfg = FigureConfig(
        shards=shards,
        out=out,
        split=split,
        n=n,
        seed=seed,
        methods=tuple(methods),
        ckpts=tuple(ckpts),
        real=real,
        harmonizer_output=harmonizer_output,
        device=device,
        allow_other_side=allow_other_side,
        progress=progress,
    )
    from hmh_train.study.figures import check_method

    if not methods and not ckpts:
        raise UsageLine("give at least one --method or --ckpt to compare with the composite")
    for name in methods:
        try:
            check_method(name)
        except ValueError as exc:
            raise UsageLine(str(exc)) from None
    result = _run(make_fig4, cfg)
    click.echo(f"wrote {' and '.join(result['files'])}: {n} samples × {' | '.join(result['columns'])}")


@figure_command.command("fig2")
@_shared
@click.option("--ckpt", "ckpts", multiple=True, metavar="[LABEL=]RUN", help=f"a matting column: {CKPT_HELP}")
@click.option(
    "--harmonizer", default=None, metavar="[LABEL=]RUN", help="harmonize every composite with this run"
)
@click.option(
    "--background",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="composite onto this scene (fitted, centre-cropped) instead of the shards' altered I_d",
)
@click.option(
    "--crop", default=0.25, show_default=True, type=float, help="crop side as a fraction of the image"
)
def fig2_command(
    shards, split, n, seed, out, harmonizer_output, device, progress, ckpts, harmonizer, background, crop
):
    """Fig. 2: ground-truth α | each run's α (from the evaluation trimap of the true α); rows:
    α, the composite made with it, the harmonized composite (--harmonizer), and an enlarged crop
    where the true α has the most unknown pixels (marked on the composite)."""
    from hmh_train.study.figure_matting import make_fig2
    from hmh_train.study.figures import FigureConfig

    if not ckpts:
        raise UsageLine("give at least one --ckpt with a matting network")

    cfg = FigureConfig(
        shards=shards,
        out=out,
        split=split,
        n=n,
        seed=seed,
        ckpts=tuple(ckpts),
        harmonizer=harmonizer,
        background=background,
        crop=crop,
        harmonizer_output=harmonizer_output,
        device=device,
        progress=progress,
    )
    result = _run(make_fig2, cfg)
    click.echo(f"wrote {' and '.join(result['files'])}: {' | '.join(result['columns'])}")


@click.command("table1")
@click.option(
    "--eval",
    "evals",
    multiple=True,
    type=click.Path(),
    metavar="EVAL_DIR",
    help="a folder written by hmh-train eval (its summary.json; repeatable, the first holding a label wins)",
)
@click.option(
    "--study", type=click.Path(), default=None, help="a scored study (STUDY, STUDY/results or mos.csv)"
)
@click.option(
    "--row",
    "rows",
    multiple=True,
    metavar="ROW=SOURCE",
    help="map a paper row (DM, IN, IN†, Xue, DIH, U-Net, DN, Ours) to a run folder, checkpoint or "
    "label, e.g. 'IN†=runs/matting' (repeatable; unmapped rows use the usual names: matting → IN†, "
    "joint → Ours, latest_net_G → DN, indexnet_matting → IN, unet → U-Net, dih → DIH, xue → Xue)",
)
@click.option("--out", required=True, type=click.Path(), help="table1.md to write (table1.csv beside it)")
def table1_command(evals, study, rows, out):
    """Table 1 in the paper's layout: rows DM, IN, IN†, Xue, DIH, U-Net, DN, Ours; columns Index |
    MSE | SAD | Grad | Conn | MOS | Std; "–" where a row has no figure; the paper's published
    figures printed beside ours, labelled as the paper's."""
    from hmh_train.study.table1 import Table1Error, make_table1, parse_rows

    if not evals and not study:
        raise UsageLine("give at least one --eval EVAL_DIR or --study STUDY")
    try:
        parse_rows(rows)
    except Table1Error as exc:
        raise UsageLine(str(exc)) from None
    try:
        result = make_table1(list(evals), study, rows, out)
    except (Table1Error, OSError) as exc:
        raise click.ClickException(str(exc).splitlines()[0]) from None
    for note in result["notes"]:
        click.echo(f"note: {note}", err=True)
    filled = [r for r, v in result["values"].items() if any(x is not None for x in v.values())]
    click.echo(
        f"wrote {result['markdown']} and {result['csv']}: rows with figures: {', '.join(filled) or 'none'}"
    )
