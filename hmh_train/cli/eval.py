"""``hmh-train eval``: parse options into an EvalConfig (shards) or a BenchmarkConfig (the
published test sets) and call ``evaluate.evaluate`` / ``benchmark_run.run_benchmark``."""

from __future__ import annotations

import sys

import click
from click.core import ParameterSource

from hmh_builder.fsio import EXIT_FAILED_INPUTS, failure_listing, first_line
from hmh_train.data.augment import EVAL_TRIMAP_RADIUS
from hmh_train.nets.forward import HARMONIZER_OUTPUTS

#: Options that only one form reads, and the forms (None = shards, else the benchmark names).
ONLY = {
    "region": (None,),
    "batch_size": (None,),
    "trimap_radius": (None,),
    "src": ("composition-1k", "iharmony4"),
    "workers": ("composition-1k", "iharmony4"),
    "save_predictions": ("composition-1k", "iharmony4"),
    "backgrounds": ("composition-1k",),
    "layout": ("composition-1k",),
    "protocol": ("iharmony4",),
    "seed": ("iharmony4",),
    "split": (None, "iharmony4"),
    "allow_other_side": (None,),
    "harmonizer_output": (None, "iharmony4"),
}


def _check_form(ctx, benchmark, shards, src) -> None:
    if benchmark is None and not shards:
        raise click.UsageError("give --shards (HMH or iHarmony4 shards) or --benchmark with --src")
    if benchmark is not None and shards:
        raise click.UsageError("--shards and --benchmark exclude each other")
    if benchmark is not None and not src:
        raise click.UsageError(f"--benchmark {benchmark} needs --src (the dataset's folder)")
    for name, forms in ONLY.items():
        if benchmark not in forms and ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE:
            what = f"--benchmark {benchmark}" if benchmark else "--shards"
            raise click.UsageError(f"--{name.replace('_', '-')} does not apply to {what}")


def _run_and_report(function, cfg) -> dict:
    """``function(cfg)``, its one-line errors as a ClickException; then print (stderr) what was
    loaded and each harmonizer's output form."""
    from hmh_train.train.checkpoint import CheckpointError

    try:
        result = function(cfg)
    except (CheckpointError, ValueError, OSError) as exc:
        raise click.ClickException(first_line(exc)) from None
    for line in result.get("loaded", []):
        click.echo(line, err=True)
    for label, form in result.get("harmonizer_outputs", {}).items():
        click.echo(f"{label}: harmonizer output {form}", err=True)
    return result


def _benchmark(options: dict) -> None:
    from hmh_train.evaluate.benchmark_run import BenchmarkConfig, run_benchmark

    result = _run_and_report(run_benchmark, BenchmarkConfig(**options))
    problems = result["problems"]
    for line in failure_listing(problems, "failures.txt"):
        click.echo(line, err=True)
    click.echo(result["table"])
    click.echo(
        f"scored {result['evaluated']} of {result['listed']} listed test images; wrote "
        f"{result['out']}/table.md, table.csv, samples.csv, failures.txt, summary.json"
    )
    if problems:
        click.echo(f"{len(problems)} test images could not be used (failures.txt)", err=True)
        sys.exit(EXIT_FAILED_INPUTS)  # as hmh-build: all others were scored


@click.command("eval")
@click.option(
    "--ckpt",
    required=True,
    type=click.Path(),
    help="run folder (uses checkpoints/best.pt, else last.pt), a .pt checkpoint, or a "
    "released file (IndexNet's .pth.tar, its deep_matting.pth.tar, DoveNet's latest_net_G.pth)",
)
@click.option(
    "--shards",
    default=None,
    type=click.Path(),
    help="hmh-build output or release folder holding the split to evaluate (HMH "
    "shards, or harmonization pairs from hmh-build iharmony4: then the "
    "iHarmony4 table per subset)",
)
@click.option(
    "--benchmark",
    type=click.Choice(["composition-1k", "iharmony4"]),
    default=None,
    help="instead of shards, a published test set read from --src: Composition-1k "
    "(IndexNet's demo procedure at native resolution; SAD/MSE/Grad/Conn) or "
    "iHarmony4 (MSE/fMSE/PSNR per subset, --protocol)",
)
@click.option(
    "--src",
    type=click.Path(),
    default=None,
    help="benchmark folder: Composition-1k's Combined_Dataset (or its Test_set), or "
    "the iHarmony4 root holding IHD_test.txt",
)
@click.option(
    "--backgrounds",
    type=click.Path(),
    default=None,
    help="composition-1k: PASCAL VOC 2012 (a folder holding JPEGImages/); composes "
    "the test set from the Adobe layout as DIM's Composition_code.py does",
)
@click.option(
    "--layout",
    type=click.Choice(["auto", "adobe", "merged"]),
    default="auto",
    show_default=True,
    help="composition-1k: auto = compose from the Adobe layout when --backgrounds is "
    "given, else read Test_set/merged (IndexNet's layout)",
)
@click.option(
    "--protocol",
    type=click.Choice(["standard", "dovenet"]),
    default="standard",
    show_default=True,
    help="iharmony4: standard = eval mode, float output, PSNR peak 255; dovenet = "
    "DoveNet's published computation (training mode, seeded dropout, tensor2im "
    "output, PSNR range = output max - min)",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=int,
    help="iharmony4 --protocol dovenet: seed of the dropout draws (per pair)",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="benchmarks: threads decoding (and composing) images ahead; results and "
    "their order do not depend on it",
)
@click.option(
    "--save-predictions",
    is_flag=True,
    default=False,
    help="benchmarks: also write the scored alphas / harmonized images to OUT/predictions/<run>/ (PNG)",
)
@click.option(
    "--split",
    default="test",
    show_default=True,
    help="split to evaluate (shards), or the iHarmony4 list (test/train)",
)
@click.option(
    "--region",
    type=click.Choice(["unknown", "all"]),
    default="unknown",
    show_default=True,
    help="shards: pixels the matting metrics count: the trimap's unknown band, or all",
)
@click.option(
    "--out",
    type=click.Path(),
    default=None,
    help="folder for the tables and per-sample files [default: beside the first "
    "checkpoint: RUN/eval-SPLIT, RUN/eval-composition-1k or "
    "RUN/eval-iharmony4-SPLIT-PROTOCOL]",
)
@click.option(
    "--compare",
    multiple=True,
    type=click.Path(),
    metavar="RUN",
    help="more runs/.pt files/released files to put in the same table (repeatable; one row each)",
)
@click.option(
    "--batch-size",
    default=8,
    show_default=True,
    type=click.IntRange(min=1),
    help="shards: samples per forward pass",
)
@click.option(
    "--device",
    default="auto",
    show_default=True,
    help="auto (cuda if available, else cpu), cpu, cuda, cuda:1, ...",
)
@click.option(
    "--trimap-radius",
    default=EVAL_TRIMAP_RADIUS,
    show_default=True,
    type=click.IntRange(min=0),
    help="shards: px the unknown band (0 < alpha < 1) is widened by; keep fixed to compare runs",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="evaluate only the first N samples / listed test images (quick looks) [default: all]",
)
@click.option(
    "--allow-other-side",
    is_flag=True,
    help="shards: evaluate a harmonizer trained on shards of the other altered side "
    "anyway (refused otherwise); the mask and fMSE region follow --shards",
)
@click.option(
    "--harmonizer-output",
    type=click.Choice(HARMONIZER_OUTPUTS),
    default=None,
    help="shards and iharmony4: output form of every run's harmonizer: paper (its "
    "image), keep (its image over the altered region, the rest kept exactly) or "
    "residual (a change added there) "
    "[default: the form each run trained with; paper for DoveNet's released file]",
)
@click.option("--progress/--no-progress", default=True, show_default=True, help="progress bar on stderr")
@click.pass_context
def eval_command(
    ctx,
    ckpt,
    shards,
    benchmark,
    src,
    backgrounds,
    layout,
    protocol,
    seed,
    workers,
    save_predictions,
    split,
    region,
    out,
    compare,
    batch_size,
    device,
    trimap_radius,
    limit,
    allow_other_side,
    harmonizer_output,
    progress,
):
    """Metrics of one or several runs (or released files), in fixed order: on shards, the
    paper's Table 1 (matting MSE/SAD/Grad/Conn; harmonization MSE/fMSE/PSNR and the
    do-nothing I_d baseline); with --benchmark, the field's published test sets and tables.

    On shards, the harmonizer's mask and the fMSE region are the side the shards alter: the
    background (mask 1 - alpha, "H-fMSE (bg)") or, for hmh-build --altered foreground, the
    person (mask alpha, "H-fMSE (fg)"). A run trained on the other side is refused unless
    --allow-other-side; the released DoveNet file works on either.

    \b
    Examples:
      hmh-train eval --ckpt runs/joint --shards shards --compare runs/matting
      hmh-train eval --benchmark composition-1k --src Combined_Dataset \\
                     --backgrounds VOCdevkit/VOC2012 --ckpt indexnet_matting.pth.tar
      hmh-train eval --benchmark iharmony4 --src IHD --ckpt latest_net_G.pth --protocol dovenet

    Exit status 3 when some test images could not be used (listed in failures.txt).
    """
    _check_form(ctx, benchmark, shards, src)
    runs = (ckpt,) + tuple(compare)
    if benchmark is not None:
        _benchmark(
            {
                "benchmark": benchmark,
                "runs": runs,
                "src": src,
                "backgrounds": backgrounds,
                "layout": layout,
                "split": split,
                "protocol": protocol,
                "seed": seed,
                "out": out,
                "device": device,
                "limit": limit,
                "workers": workers,
                "save_predictions": save_predictions,
                "harmonizer_output": harmonizer_output,
                "progress": progress,
            }
        )
        return
    from hmh_train.evaluate.run import EvalConfig, evaluate

    cfg = EvalConfig(
        runs=runs,
        shards=shards,
        split=split,
        region=region,
        out=out,
        batch_size=batch_size,
        device=device,
        trimap_radius=trimap_radius,
        limit=limit,
        allow_other_side=allow_other_side,
        harmonizer_output=harmonizer_output,
        progress=progress,
    )
    result = _run_and_report(evaluate, cfg)
    click.echo(result["table"])
    click.echo(f"wrote {result['out']}/table.md, table.csv, samples.csv, summary.json")
