"""``hmh-train export``: the loaded networks as ONNX files (``infer.export``)."""

from __future__ import annotations

import click

from hmh_train.infer.protocols import DOVENET_SIZE


@click.command("export")
@click.option(
    "--ckpt",
    required=True,
    multiple=True,
    type=click.Path(),
    help="run folder, .pt checkpoint, IndexNet's indexnet_matting.pth.tar or DoveNet's "
    "latest_net_G.pth; repeat to export the networks of several files (a later file's net wins)",
)
@click.option("--onnx", "out", required=True, type=click.Path(file_okay=False), help="output folder")
@click.option(
    "--harmonize-size",
    default=DOVENET_SIZE,
    show_default=True,
    type=click.IntRange(min=1),
    help="square input side of the exported U-Net (a multiple of 2**num_downs)",
)
def export_command(ckpt, out, harmonize_size):
    """Export the matting network (IndexNet: any height and width that are multiples of 32)
    and the harmonization network (the U-Net at --harmonize-size²) as ONNX, with
    hmh-onnx.json describing the pre- and post-processing each needs; then check ONNX Runtime
    against PyTorch on a seeded input. Needs pip install 'hmh-toolkit[onnx]'.

    \b
    hmh-train export --ckpt indexnet_matting.pth.tar --ckpt latest_net_G.pth --onnx onnx/
    """
    from hmh_train.infer.export import SPEC_FILE, export_checked
    from hmh_train.infer.files import CompositeError
    from hmh_train.infer.model import load
    from hmh_train.nets.reader import CheckpointError

    try:
        model = load(*ckpt, log=lambda line: click.echo(line, err=True))
        spec = export_checked(model, out, harmonize_size)
    except (CompositeError, CheckpointError, ValueError, OSError) as exc:
        raise click.ClickException((str(exc).strip().splitlines() or [type(exc).__name__])[0]) from None
    for name, entry in spec["networks"].items():
        click.echo(
            f"wrote {out}/{entry['file']} ({name}); ONNX Runtime vs PyTorch: "
            f"max |difference| {spec['parity'][name]:.2e}"
        )
    click.echo(f"wrote {out}/{SPEC_FILE} (pre/post-processing)")
