"""``hmh-train composite``: parse options into a CompositeConfig and call ``composite.run``."""

from __future__ import annotations

import click

from hmh_builder.fsio import first_line
from hmh_train.cli.apply import MAX_PIXELS_OPTION, automatic_options, check_method
from hmh_train.cli.batch import finish_batch
from hmh_train.infer.ops import HARMONIZE_SIDE, MASK_BAND
from hmh_train.nets.forward import HARMONIZER_OUTPUTS

FILE = click.Path(dir_okay=False)
DIR = click.Path(file_okay=False)


@click.command("composite")
@click.option(
    "--ckpt",
    multiple=True,
    type=click.Path(),
    help="run folder (checkpoints/best.pt, else last.pt), .pt checkpoint, IndexNet's "
    "released .pth.tar or DoveNet's latest_net_G.pth; repeat to take the matting "
    "and harmonization nets from different files (a later file's net wins) [needed "
    "unless --harmonizer with --alpha]",
)
@click.option(
    "--harmonizer",
    callback=check_method,
    metavar="NAME",
    default=None,
    help="a non-learned method as the harmonizer instead of any checkpoint's: xue = Xue et "
    "al. 2012 as the iHarmony4 repository's MATLAB demo computes it (zero-offset mode, "
    "256x256, its change carried back to full resolution; --harmonize-size does not apply)",
)
@click.option("--image", type=FILE, help="portrait (JPEG/PNG) [single form]")
@click.option("--trimap", type=FILE, help="trimap of the portrait: gray PNG, 0 bg / 128 unknown / 255 fg")
@click.option("--alpha", type=FILE, help="alpha matte to use as is (no matting net needed)")
@click.option("--mask", type=FILE, help="coarse mask (>= 128 = person); becomes a trimap, see --band")
@click.option("--background", type=FILE, help="new background image [single form]")
@click.option(
    "--out",
    required=True,
    type=click.Path(),
    help="single form: output file (.png/.jpg/.jpeg/.webp/.bmp); batch form: output folder",
)
@click.option(
    "--figure", type=FILE, help="also write input | alpha | composite | harmonized here [single form]"
)
@click.option("--images", type=DIR, help="folder of portraits [batch form]")
@click.option("--trimaps", type=DIR, help="folder of trimaps named like the portraits [batch form]")
@click.option("--alphas", type=DIR, help="folder of alphas named like the portraits [batch form]")
@click.option("--masks", type=DIR, help="folder of coarse masks named like the portraits [batch form]")
@click.option(
    "--backgrounds",
    type=click.Path(),
    help="folder of images, a background shard .h5, or an hmh-build backgrounds folder [batch form]",
)
@click.option(
    "--figures/--no-figures",
    default=False,
    show_default=True,
    help="also write OUT/figures/<stem>.jpg [batch form]",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=int,
    help="seed of the background drawn per portrait (same stem + seed = same background)",
)
@click.option(
    "--band",
    default=None,
    type=click.IntRange(min=0),
    help="px of unknown band on each side of a mask's edge (mask eroded/dilated by a disk) "
    f"[default: {MASK_BAND}; with --auto-mask 2 % of the portrait's longer side, at least {MASK_BAND}]",
)
@click.option(
    "--harmonize-size",
    default=HARMONIZE_SIDE,
    show_default=True,
    type=click.IntRange(min=0),
    help="square side the harmonization net runs at (HMH's training size); its change is "
    "resized and added to the full-resolution composite; 0 = full resolution",
)
@click.option(
    "--harmonize",
    type=click.Choice(["background", "foreground"]),
    default=None,
    help="side the harmonization net adjusts: the new background to fit the person "
    "(mask 1 - alpha, the paper) or the person to fit the background (mask alpha, "
    "the paper's Fig. 6) [default: the side the checkpoint was trained on; "
    "background for files without a record]",
)
@click.option(
    "--harmonizer-output",
    type=click.Choice(HARMONIZER_OUTPUTS),
    default=None,
    help="how the harmonization net's output becomes the result: paper (its image as "
    "is), keep (its image over the adjusted region, the rest kept exactly, the "
    "alpha blending) or residual (a change added over that region) [default: "
    "the form its run trained with; paper for DoveNet's released file]",
)
@automatic_options
@MAX_PIXELS_OPTION
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:1, ...")
@click.option("--progress/--no-progress", default=True, show_default=True, help="progress bar on stderr")
def composite_command(**options):
    """Put a portrait onto a new background and harmonize it (the paper's test phase):
    A_r from the matting net (or --alpha), composite I·A_r + B_new·(1−A_r) with B_new scaled
    to cover the portrait and centre-cropped, then the harmonization net adjusts the
    background to the person, or with --harmonize foreground the person to the background.

    \b
    Single: hmh-train composite --ckpt runs/joint --image p.jpg --trimap t.png \\
              --background bg.jpg --out result.png --figure fig.jpg
    Batch:  hmh-train composite --ckpt runs/joint --images portraits/ --masks masks/ \\
              --backgrounds bg_build/ --out results/ --seed 0
    Auto:   hmh-train composite --ckpt indexnet_matting.pth.tar --ckpt latest_net_G.pth \\
              --image p.jpg --auto-mask --background bg.jpg --out result.png
    """
    from hmh_train.infer.composite import CompositeConfig
    from hmh_train.infer.composite_cmd import run
    from hmh_train.infer.files import CompositeError
    from hmh_train.train.checkpoint import CheckpointError

    single = options["image"] is not None
    if single == (options["images"] is not None):
        raise click.UsageError("give either --image (single form) or --images (batch form)")
    if single and not options["background"]:
        raise click.UsageError("the single form needs --background")
    if not single and not options["backgrounds"]:
        raise click.UsageError("the batch form needs --backgrounds")
    if not options["ckpt"] and not options["harmonizer"]:
        raise click.UsageError("give --ckpt (a checkpoint) and/or --harmonizer (a method)")
    guides = ("trimap", "alpha", "mask") if single else ("trimaps", "alphas", "masks")
    if options["auto_mask"] and any(options[g] for g in guides):
        raise click.UsageError("--auto-mask makes the trimap: give it without --" + "/--".join(guides))
    options["max_pixels"] = options["max_pixels"] or None
    try:
        result = run(CompositeConfig(**options))
    except (CompositeError, CheckpointError, ValueError, OSError) as exc:
        raise click.ClickException(first_line(exc)) from None
    for line in result.get("loaded", []):
        click.echo(line, err=True)
    if result.get("note"):
        click.echo(result["note"], err=True)
    if "harmonizer_output" in result:
        click.echo(f"harmonizer output: {result['harmonizer_output']}", err=True)
    adjusted = f" (the {result['harmonize']} adjusted)" if result.get("harmonize") else ""
    if single:
        what = (
            "harmonized composite" + adjusted
            if result["harmonized"]
            else "plain composite (no harmonization net)"
        )
        click.echo(
            f"wrote the {what} to {result['out']}"
            + (f" and the figure to {result['figure']}" if result["figure"] else "")
        )
        return
    click.echo(
        f"wrote {result['written']} composites{adjusted} to {result['out']} "
        f"(backgrounds.csv lists the background of each); {result['failed']} failed"
    )
    finish_batch(result, "no portrait could be composited (see failures.csv)")
