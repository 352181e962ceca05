"""``hmh-train eval``: parse options into an EvalConfig and call ``evaluate.evaluate``."""
from __future__ import annotations

import click

from hmh_train.data.augment import EVAL_TRIMAP_RADIUS
from hmh_train.nets.forward import HARMONIZER_OUTPUTS


@click.command("eval")
@click.option("--ckpt", required=True, type=click.Path(),
              help="run folder (uses checkpoints/best.pt, else last.pt) or a .pt checkpoint")
@click.option("--shards", required=True, type=click.Path(),
              help="hmh-build output or release folder holding the split to evaluate (HMH "
                   "shards, or harmonization pairs from hmh-build iharmony4: then the "
                   "iHarmony4 table per subset)")
@click.option("--split", default="test", show_default=True, help="split to evaluate")
@click.option("--region", type=click.Choice(["unknown", "all"]), default="unknown", show_default=True,
              help="pixels the matting metrics count: the trimap's unknown band, or all pixels")
@click.option("--out", type=click.Path(), default=None,
              help="folder for samples.csv, summary.json, table.md, table.csv "
                   "[default: RUN/eval-SPLIT beside the first checkpoint]")
@click.option("--compare", multiple=True, type=click.Path(), metavar="RUN",
              help="more runs/.pt files to put in the same table (repeatable; one row each)")
@click.option("--batch-size", default=8, show_default=True, type=click.IntRange(min=1),
              help="samples per forward pass")
@click.option("--device", default="auto", show_default=True,
              help="auto (cuda if available, else cpu), cpu, cuda, cuda:1, ...")
@click.option("--trimap-radius", default=EVAL_TRIMAP_RADIUS, show_default=True, type=click.IntRange(min=0),
              help="px the unknown band (0 < alpha < 1) is widened by; keep fixed to compare runs")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="evaluate only the first N samples (quick looks) [default: all]")
@click.option("--harmonizer-output", type=click.Choice(HARMONIZER_OUTPUTS), default=None,
              help="output form of every run's harmonizer: paper (its image), keep (its image over "
                   "the altered region, the rest kept exactly) or residual (a change added there) "
                   "[default: the form each run trained with; paper for DoveNet's released file]")
@click.option("--progress/--no-progress", default=True, show_default=True, help="progress bar on stderr")
def eval_command(ckpt, shards, split, region, out, compare, batch_size, device, trimap_radius, limit,
                 harmonizer_output, progress):
    """Paper Table 1 metrics (matting MSE/SAD/Grad/Conn; harmonization MSE/fMSE/PSNR, plus
    the do-nothing I_d baseline) of one or several runs on a split, in fixed order.

    Example: hmh-train eval --ckpt runs/joint --shards shards --compare runs/matting runs/pre
    """
    from hmh_train.train.checkpoint import CheckpointError
    from hmh_train.evaluate.run import EvalConfig, evaluate

    cfg = EvalConfig(runs=(ckpt,) + tuple(compare), shards=shards, split=split, region=region,
                     out=out, batch_size=batch_size, device=device, trimap_radius=trimap_radius,
                     limit=limit, harmonizer_output=harmonizer_output, progress=progress)
    try:
        result = evaluate(cfg)
    except (CheckpointError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc).splitlines()[0]) from None
    for line in result.get("loaded", []):
        click.echo(line, err=True)
    for label, form in result.get("harmonizer_outputs", {}).items():
        click.echo(f"{label}: harmonizer output {form}", err=True)
    click.echo(result["table"])
    click.echo(f"wrote {result['out']}/table.md, table.csv, samples.csv, summary.json")
