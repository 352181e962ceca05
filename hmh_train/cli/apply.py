"""``hmh-train matte`` and ``hmh-train harmonize``: parse options into an ApplyConfig and call
``infer.apply.matte`` / ``harmonize``."""

from __future__ import annotations

import click

from hmh_builder.fsio import first_line
from hmh_builder.imageio import DEFAULT_MAX_PIXELS
from hmh_train.cli.batch import finish_batch
from hmh_train.infer.bounded import DEFAULT_MAX_SIDE, DEFAULT_TILE
from hmh_train.infer.methods import is_method, unknown_method
from hmh_train.infer.protocols import DOVENET_SIZE
from hmh_train.nets.forward import HARMONIZER_OUTPUTS

FILE = click.Path(dir_okay=False)
DIR = click.Path(file_okay=False)
OUTPUT_HELP = (
    "how the U-Net's output becomes the result: paper (its image as is), keep (its "
    "image inside the mask, the input kept exactly where the mask is 0, the grey mask "
    "blending) or residual (a change added inside the mask); a net trained as an image "
    "(paper/keep) cannot run as residual, nor the reverse [default: the form the "
    "checkpoint's run trained with; paper for DoveNet's released file]"
)
CKPT_HELP = "run folder (checkpoints/best.pt, else last.pt), .pt checkpoint, or the released file ({})"


def check_method(ctx, param, value):
    """click callback of a ``--method``/``--harmonizer`` option: the value (a name or a tuple
    of names) when every name is a method of ``infer.methods``; else one line listing the
    known methods (exit 2, a usage error)."""
    for name in (value,) if isinstance(value, str) else value or ():
        if not is_method(name):
            error = click.ClickException(f"{param.opts[0]}: {unknown_method(name)}")
            error.exit_code = 2
            raise error
    return value


def _report(result: dict, single: bool, what: str) -> None:
    for line in result.get("loaded", []):
        click.echo(line, err=True)
    if "harmonizer_output" in result:
        click.echo(f"harmonizer output: {result['harmonizer_output']}", err=True)
    if result.get("engine") == "exact":
        click.echo("matting: IndexNet's demo code path, step by step (--exact)", err=True)
    elif "engine" in result:
        click.echo(
            f"matting: IndexNet's demo procedure, fast forward pass on {result['engine']} "
            "(within one gray level of the demo; --exact runs its own code path)",
            err=True,
        )
    if single:
        click.echo(f"wrote the {what} to {result['out']}")
        return
    click.echo(
        f"wrote {result['written']} {what}s to {result['out']}; {result['failed']} failed (failures.csv)"
    )
    finish_batch(result, "no image could be processed (see failures.csv)")


def _call(func, options: dict, guide: str, what: str) -> None:
    from hmh_train.infer.apply import ApplyConfig
    from hmh_train.infer.files import CompositeError
    from hmh_train.train.checkpoint import CheckpointError

    single = options["image"] is not None
    auto = options.get("auto_mask", False)
    if single == (options["images"] is not None):
        raise click.UsageError("give either --image (single form) or --images (batch form)")
    if auto and (options[guide] or options[f"{guide}s"]):
        raise click.UsageError(f"--auto-mask makes the {guide}: give it without --{guide}/--{guide}s")
    either = " (or --auto-mask)" if "auto_mask" in options else ""
    if single and not options[guide] and not auto:
        raise click.UsageError(f"the single form needs --{guide}{either}")
    if not single and not options[f"{guide}s"] and not auto:
        raise click.UsageError(f"the batch form needs --{guide}s{either}")
    if not options["ckpt"] and not options.get("method"):
        raise click.UsageError("give --ckpt" + (" or --method" if "method" in options else ""))
    if options["ckpt"] and options.get("method"):
        raise click.UsageError("give either --ckpt or --method, not both")
    if options.get("method") and options.get("harmonizer_output"):
        raise click.UsageError("--harmonizer-output applies to a checkpoint's U-Net, not to --method")
    extra = {k: options[k] for k in ("auto_mask", "band", "max_side", "tile") if k in options}
    cfg = ApplyConfig(
        ckpt=options["ckpt"],
        out=options["out"],
        image=options["image"],
        guide=options[guide],
        images=options["images"],
        guides=options[f"{guide}s"],
        size=options.get("size", DOVENET_SIZE),
        device=options["device"],
        harmonizer_output=options.get("harmonizer_output"),
        scale=options.get("scale"),
        exact=options.get("exact", False),
        method=options.get("method"),
        progress=options["progress"],
        max_pixels=options["max_pixels"] or None,
        **extra,
    )
    try:
        result = func(cfg)
    except (CompositeError, CheckpointError, ValueError, OSError) as exc:
        raise click.ClickException(first_line(exc)) from None
    _report(result, single, what)


MAX_PIXELS_OPTION = click.option(
    "--max-pixels",
    default=DEFAULT_MAX_PIXELS,
    show_default=True,
    type=click.IntRange(min=0),
    help="refuse images whose header claims more pixels than this, before decoding them "
    "(one line naming the file; a failures.csv row in batch form); 0 = no limit",
)


def automatic_options(func):
    """--auto-mask, --max-side and --tile of ``matte`` and ``composite``."""
    for decorator in reversed(
        [
            click.option(
                "--auto-mask",
                is_flag=True,
                help="make the trimap from an automatic person mask (MediaPipe's selfie "
                "segmentation, shipped with the package; needs pip install 'hmh-toolkit[auto]'); "
                "a photo where no person is found fails with one line",
            ),
            click.option(
                "--max-side",
                default=DEFAULT_MAX_SIDE,
                show_default=True,
                type=click.IntRange(min=0),
                help="matte photos whose longer side is above this at this size and bring the "
                "alpha back to full size in the unknown band (bounded memory and time; "
                "docs/inference-auto.md gives the price); 0 = full resolution",
            ),
            click.option(
                "--tile",
                default=DEFAULT_TILE,
                show_default=True,
                type=click.IntRange(min=0),
                help="run the matting net on tiles of this side (plus 256 px of context) around "
                "the unknown band when the working image is larger than one tile with context "
                "(bounded memory at any --max-side); 0 = the whole image at once",
            ),
        ]
    ):
        func = decorator(func)
    return func


def _common(func):
    for decorator in reversed(
        [
            click.option(
                "--out",
                required=True,
                type=click.Path(),
                help="single form: output file (.png/.jpg/.jpeg/.webp/.bmp); batch form: "
                "output folder (<stem>.png, failures.csv)",
            ),
            click.option("--image", type=FILE, help="input image [single form]"),
            click.option("--images", type=DIR, help="folder of input images [batch form]"),
            click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:1, ..."),
            MAX_PIXELS_OPTION,
            click.option(
                "--progress/--no-progress",
                default=True,
                show_default=True,
                help="progress bar on stderr [batch form]",
            ),
        ]
    ):
        func = decorator(func)
    return func


@click.command("matte")
@click.option(
    "--ckpt",
    required=True,
    type=click.Path(),
    help=CKPT_HELP.format("IndexNet's indexnet_matting.pth.tar or its deep_matting.pth.tar"),
)
@click.option("--trimap", type=FILE, help="trimap of --image: gray PNG, 0 bg / 128 unknown / 255 fg")
@click.option("--trimaps", type=DIR, help="folder of trimaps named like the images [batch form]")
@automatic_options
@click.option(
    "--band",
    default=None,
    type=click.IntRange(min=1),
    help="with --auto-mask: px of unknown band on each side of the mask's edge "
    "[default: 2 % of the image's longer side, at least 10]",
)
@click.option(
    "--scale",
    type=float,
    default=None,
    help="shrink the normalised image by this factor before the network (0.5 = the half-size "
    "shortcut demo_deep_matting.py ships with; the alpha is still resized back to full size) "
    "[default: full resolution, what the demo's own note asks of formal evaluation]",
)
@click.option(
    "--exact",
    is_flag=True,
    help="run IndexNet's published demo code path step by step (slower); by default the same "
    "procedure runs with a faster forward pass (batch norm folded, channels-last), within one "
    "gray level of it; --exact runs on the whole image at full size (--max-side and --tile do "
    "not apply: memory grows with the photo)",
)
@_common
def matte_command(**options):
    """Alpha matte of a portrait from its trimap, by IndexNet's published demo procedure
    (normalise, resize up to multiples of 32 with cubic interpolation, predict, resize back,
    clip, keep the trimap's known pixels, truncate to 8 bit). Any image size. The default
    forward pass is faster and within one gray level of the demo's; --exact runs the demo's
    on the whole image at full size. Photos larger than --max-side are matted at that size in
    bounded memory (docs/inference-auto.md). Takes IndexNet (5.95 M parameters) or Deep Image
    Matting, the paper's DM baseline (deep_matting.pth.tar: VGG16-BN, 130,545,345 parameters =
    498 MiB of weights; one 1 MP image adds about 1.0 GiB on CPU, 1.8 GiB in all, see
    docs/baselines-dm.md; --scale 0.5 quarters the activations).

    \b
    Single: hmh-train matte --ckpt indexnet_matting.pth.tar --image p.png --trimap t.png --out a.png
    DM:     hmh-train matte --ckpt deep_matting.pth.tar --image p.png --trimap t.png --out a.png
    Batch:  hmh-train matte --ckpt runs/matting --images photos/ --trimaps trimaps/ --out alphas/
    Auto:   hmh-train matte --ckpt indexnet_matting.pth.tar --image p.jpg --auto-mask --out a.png
    """
    from hmh_train.infer.apply import matte

    _call(matte, options, "trimap", "alpha matte")


@click.command("harmonize")
@click.option(
    "--ckpt", type=click.Path(), help=CKPT_HELP.format("DoveNet's latest_net_G.pth") + " [or --method]"
)
@click.option(
    "--method",
    default=None,
    callback=check_method,
    metavar="NAME",
    help="a non-learned method instead of --ckpt: xue = Xue et al. 2012 as the iHarmony4 "
    "repository's MATLAB demo computes it, zero-offset mode (no trained random-forest models), "
    "at 256x256 (other sizes: its change is carried back to full resolution; --size does not apply)",
)
@click.option(
    "--mask",
    type=FILE,
    help="mask of the region whose colours are adjusted (255 = adjust; for an HMH "
    "portrait composite: the background, i.e. 255 − alpha), gray PNG",
)
@click.option("--masks", type=DIR, help="folder of masks named like the images [batch form]")
@click.option(
    "--size",
    default=DOVENET_SIZE,
    show_default=True,
    type=click.IntRange(min=1),
    help="square side the U-Net runs at (DoveNet's test size); the change is carried "
    "back to full resolution for other image sizes",
)
@click.option("--harmonizer-output", type=click.Choice(HARMONIZER_OUTPUTS), default=None, help=OUTPUT_HELP)
@_common
def harmonize_command(**options):
    """Harmonize a composite image, by DoveNet's test transforms (resize to --size, [-1, 1],
    1-bit mask, U-Net in eval mode, (y + 1) / 2 * 255 truncated). The mask marks the region
    whose colours are adjusted, as in DoveNet. With --method instead of --ckpt, a
    non-learned method adjusts it (xue: Xue et al. 2012, zero-offset mode).

    \b
    Single: hmh-train harmonize --ckpt latest_net_G.pth --image comp.png --mask m.png --out h.png
    Batch:  hmh-train harmonize --ckpt runs/joint --images comps/ --masks masks/ --out out/
    Method: hmh-train harmonize --method xue --image comp.png --mask m.png --out h.png
    """
    from hmh_train.infer.apply import harmonize

    _call(harmonize, options, "mask", "harmonized image")
