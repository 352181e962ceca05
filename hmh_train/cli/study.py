"""``hmh-train study make|serve|score``: the harmonization user study (Table 1's MOS / Std)."""

from __future__ import annotations

import click

from hmh_builder.fsio import first_line
from hmh_train.train.config import HARMONIZER_OUTPUTS


@click.group("study")
def study_command():
    """Blinded user study of harmonization: make a study folder from checkpoints, serve a rating
    page to raters, score the ratings (MOS, Std, confidence intervals, pairwise tests).

    \b
    hmh-train study make --ckpt runs/joint --ckpt runs/unet --shards shards --n 40 --out study
    hmh-train study serve study --host 0.0.0.0 --port 8000
    hmh-train study score study
    """


@study_command.command("make")
@click.option("--out", required=True, type=click.Path(), help="study folder to write")
@click.option("--shards", required=True, type=click.Path(), help="hmh-build output or release folder")
@click.option(
    "--ckpt",
    "ckpts",
    multiple=True,
    type=click.Path(),
    metavar="RUN_OR_FILE",
    help="a method: run folder (best.pt, else last.pt) or checkpoint file; its name is the "
    "folder's name or the file's stem (repeatable)",
)
@click.option(
    "--images",
    type=click.Path(),
    default=None,
    help="ready-made outputs of other methods: one sub-folder per method holding "
    "<sample id>.png|jpg (same size as the shards)",
)
@click.option("--n", default=40, show_default=True, type=click.IntRange(min=1), help="samples to show")
@click.option("--seed", default=0, show_default=True, type=int, help="picks the samples and the item ids")
@click.option("--split", default="test", show_default=True, help="split the samples come from")
@click.option("--include-real", is_flag=True, help="also show the real photograph I (method 'I')")
@click.option(
    "--harmonizer-output",
    type=click.Choice(HARMONIZER_OUTPUTS),
    default=None,
    help="output form of every checkpoint's harmonizer: paper (its image), keep (its image "
    "over the altered region, the rest kept exactly) or residual (a change added "
    "there) [default: the form each run trained with; paper for DoveNet's file]",
)
@click.option("--batch-size", default=8, show_default=True, type=click.IntRange(min=1))
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:1, ...")
@click.option("--overwrite", is_flag=True, help="replace an existing study folder (its ratings too)")
@click.option(
    "--allow-other-side",
    is_flag=True,
    help="render a harmonizer trained on shards of the other altered side anyway "
    "(refused otherwise); the mask follows --shards",
)
@click.option("--progress/--no-progress", default=True, show_default=True, help="progress bar on stderr")
def make_command(
    out,
    shards,
    ckpts,
    images,
    n,
    seed,
    split,
    include_real,
    harmonizer_output,
    batch_size,
    device,
    overwrite,
    allow_other_side,
    progress,
):
    """Pick N samples of a split with a seed, render each method's harmonized picture (plus the
    unharmonized composite I_d as a reference) and write a blinded study folder: images under
    opaque ids, study.json (the key, never served) and instructions.txt (what raters read)."""
    from hmh_train.study.folder import StudyError
    from hmh_train.study.make import MakeConfig, make_study
    from hmh_train.train.checkpoint import CheckpointError

    cfg = MakeConfig(
        out=out,
        shards=shards,
        ckpts=tuple(ckpts),
        images=images,
        n=n,
        seed=seed,
        split=split,
        include_real=include_real,
        harmonizer_output=harmonizer_output,
        batch_size=batch_size,
        device=device,
        overwrite=overwrite,
        allow_other_side=allow_other_side,
        progress=progress,
    )
    try:
        result = make_study(cfg)
    except (StudyError, CheckpointError, ValueError, OSError) as exc:
        raise click.ClickException(first_line(exc)) from None
    click.echo(
        f"wrote {result['out']}: {result['items']} pictures = {result['samples']} samples × "
        f"{len(result['methods'])} methods ({', '.join(result['methods'])})"
    )
    click.echo(
        f"edit {result['out']}/instructions.txt if you like, then: hmh-train study serve {result['out']}"
    )


@study_command.command("serve")
@click.argument("study", type=click.Path())
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="address to listen on; 0.0.0.0 lets other machines of the LAN in",
)
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="port (0 picks a free one)"
)
@click.option("--verbose", is_flag=True, help="log every request on stderr")
def serve_command(study, host, port, verbose):
    """Serve the rating page: a rater enters a name (or opens /?rater=NAME), scores one picture
    at a time 1–5 in their own random order, and can leave and come back. Every score is
    appended to STUDY/ratings.jsonl and fsynced before the page moves on; Ctrl-C stops."""
    from hmh_train.study.folder import StudyError
    from hmh_train.study.server import ServeConfig, serve

    try:
        serve(ServeConfig(study=study, host=host, port=port, verbose=verbose))
    except (StudyError, OSError) as exc:
        raise click.ClickException(first_line(exc)) from None


@study_command.command("score")
@click.argument("study", type=click.Path())
@click.option("--out", type=click.Path(), default=None, help="output folder [default: STUDY/results]")
@click.option(
    "--std",
    type=click.Choice(["images", "ratings"]),
    default="images",
    show_default=True,
    help="the Std written to mos.csv: over per-image means, or over all ratings (mos.md has both)",
)
@click.option(
    "--n-boot", default=2000, show_default=True, type=click.IntRange(min=1), help="bootstrap replicates"
)
@click.option(
    "--n-perm",
    default=10000,
    show_default=True,
    type=click.IntRange(min=1),
    help="random sign flips per pair when a pair has more than 16 images (else exact)",
)
@click.option(
    "--alpha",
    default=0.05,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="significance level after Holm correction",
)
@click.option("--seed", default=0, show_default=True, type=int, help="seed of the bootstrap and permutations")
@click.option(
    "--exclude-rater", "exclude", multiple=True, metavar="NAME", help="leave a rater out (repeatable)"
)
@click.option("--plot/--no-plot", default=True, show_default=True, help="write mos.png (needs matplotlib)")
def score_command(study, out, std, n_boot, n_perm, alpha, seed, exclude, plot):
    """Per method: MOS and Std as in the paper's Table 1, ratings and raters, a bootstrap 95% CI
    (over raters and images), and which pairs differ (paired test over images, Holm-corrected).
    Writes mos.md, mos.csv, mos.json, mos.png, ratings.csv and raters.csv."""
    from hmh_train.study.folder import StudyError
    from hmh_train.study.score import ScoreConfig, score_study

    cfg = ScoreConfig(
        study=study,
        out=out,
        std=std,
        n_boot=n_boot,
        n_perm=n_perm,
        alpha=alpha,
        seed=seed,
        exclude_raters=tuple(exclude),
        plot=plot,
    )
    try:
        result = score_study(cfg)
    except (StudyError, OSError) as exc:
        raise click.ClickException(first_line(exc)) from None
    for m in result["methods"]:
        if m["n_ratings"] == 0:
            click.echo(f"{m['method']:>16}  no ratings")
            continue
        click.echo(
            f"{m['method']:>16}  MOS {m['MOS']:.2f} ± {m['Std']:.2f} ({m['n_ratings']} ratings, "
            f"{m['n_raters']} raters; {100 * cfg.level:g}% CI {m['ci_low']:.2f}–{m['ci_high']:.2f})"
        )
    differ = [f"{p['a']} vs {p['b']}" for p in result["pairs"] if p["significant"]]
    click.echo(f"differ significantly (Holm, α = {alpha:g}): {', '.join(differ) or 'no pair'}")
    for warning in result["warnings"]:
        click.echo(f"warning: {warning}", err=True)
    click.echo(
        f"{result['n_ratings']} ratings from {result['n_raters']} raters; wrote "
        f"{', '.join(sorted(result['files']))} to {result['out']}"
    )
