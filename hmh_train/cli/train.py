"""``hmh-train matting | harmonization | joint``: parse options into a TrainConfig, call engine.train."""

from __future__ import annotations

import click

from hmh_builder.fsio import first_line
from hmh_train.train.config import (
    GAN_LOSSES,
    HARMONIZER_OUTPUTS,
    HARMONIZERS,
    MATTING_HEADS,
    MATTING_NETS,
    UNET_NORMS,
    load_config,
    parse_set,
)

# (option, config key, type, help) shared by the three commands; defaults come from the mode's
# packaged YAML and are shown in --help.
COMMON = [
    ("--out", "out", str, "run folder for config.yaml, metrics.csv, tb/, checkpoints/"),
    ("--max-steps", "max_steps", int, "stop after this many optimizer steps in total"),
    ("--epochs", "epochs", int, "passes over the training split"),
    ("--batch-size", "batch_size", int, "samples per step and process"),
    ("--device", "device", str, "auto (cuda if available, else cpu), cpu, cuda, cuda:1, ..."),
    ("--seed", "seed", int, "seed of weights, data order and augmentation"),
    (
        "--width",
        "width",
        float,
        "channel width multiplier of every fresh network (0.25 for smoke runs; networks "
        "loaded with --matting-ckpt/--harmonization-ckpt keep theirs)",
    ),
    ("--num-downs", "num_downs", int, "U-Net depth; image side must be a multiple of 2**num_downs"),
    ("--crop-min", "crop_min", float, "random crop side fraction in [crop_min, 1], resized back"),
    ("--workers", "workers", int, "DataLoader worker processes per training process"),
    ("--log-every", "log_every", int, "steps between CSV/TensorBoard rows"),
    ("--ckpt-every", "ckpt_every", int, "steps between checkpoints + validation"),
    ("--image-every", "image_every", int, "steps between TensorBoard image grids"),
    ("--val-batches", "val_batches", int, "test-split batches per validation (0: best by train loss)"),
]
MATTING = [
    ("--lr-matting", "lr_matting", float, "IndexNet decoder/index/ASPP/head learning rate"),
    ("--lr-matting-encoder", "lr_matting_encoder", float, "IndexNet encoder learning rate"),
    (
        "--matting-ckpt",
        "matting_ckpt",
        click.Path(exists=True),
        "start the matting net from this run folder, .pt, IndexNet's released "
        "indexnet_matting.pth.tar (the paper's fine-tuning, IN†) or its deep_matting.pth.tar (DM)",
    ),
    (
        "--matting-net",
        "matting_net",
        click.Choice(MATTING_NETS),
        "matting network of a fresh run: indexnet (the paper's, 5,953,515 parameters) or dim "
        "(Deep Image Matting, VGG16-BN, the Table 1 DM baseline: 130,545,345 parameters, "
        "498 MiB of weights, +1.0 GiB for one 1 MP image in an eval forward, 3.4 GiB to train at "
        "batch 1 on 320x320 crops; "
        "beyond the paper in joint); "
        "--matting-ckpt files keep their own network",
    ),
    (
        "--matting-head",
        "matting_head",
        click.Choice(MATTING_HEADS),
        "IndexNet prediction head of a fresh net: published (official 32->1->1) or wide (32->32->1, "
        "for from-scratch experiments; cannot load released weights)",
    ),
    (
        "--backbone-weights",
        "backbone_weights",
        click.Path(exists=True, dir_okay=False),
        "ImageNet weights (local file) for a fresh matting net's encoder: MobileNetV2 "
        "(torchvision or timm) for IndexNet, torchvision's vgg16_bn for --matting-net dim",
    ),
]
HARMONIZATION = [
    ("--lr-harmonization", "lr_harmonization", float, "U-Net learning rate"),
    (
        "--harmonization-ckpt",
        "harmonization_ckpt",
        click.Path(exists=True),
        "start the U-Net from this run folder, .pt, or DoveNet's released latest_net_G.pth",
    ),
    (
        "--harmonizer",
        "harmonizer",
        click.Choice(HARMONIZERS),
        "harmonization network of a fresh run: unet (DoveNet's attention U-Net, the paper's) or "
        "dih (DIH without semantics, iHarmony4's TensorFlow re-implementation: 8.3 M parameters, "
        "square images whose side is a multiple of 64, 256 as published); recorded in every "
        "checkpoint, so eval, harmonize, composite and study make rebuild it",
    ),
    (
        "--unet-norm",
        "unet_norm",
        click.Choice(UNET_NORMS),
        "U-Net normalisation of a fresh net: batch (released DoveNet) or instance",
    ),
    (
        "--harmonizer-output",
        "harmonizer_output",
        click.Choice(HARMONIZER_OUTPUTS),
        "how the U-Net's output becomes I_h: paper (its image as is), keep (its image over the "
        "region to adjust, the input kept exactly elsewhere, soft alpha at the edge) or residual "
        "(a change added to its input over that region); recorded in the run and used by eval, "
        "composite, harmonize and study make",
    ),
]
JOINT = [
    ("--lr-discriminator", "lr_discriminator", float, "discriminator learning rate"),
    ("--gan-loss", "gan_loss", click.Choice(GAN_LOSSES), "adversarial loss form"),
    ("--lambda1", "lambda1", float, "adversarial weight of the matting generator (Eq. 5)"),
    ("--lambda2", "lambda2", float, "adversarial weight of the harmonization generator (Eq. 5)"),
]
FLAGS = [
    ("amp", "bf16 autocast on CUDA"),
    ("compile", "torch.compile every network"),
    (
        "online-adjust",
        "redraw the altered side (B_t, or F_t on --altered foreground shards) and I_d "
        "on the device every step",
    ),
    ("progress", "progress bar on stderr"),
]
MODE_OPTIONS = {
    "matting": COMMON + MATTING,
    "harmonization": COMMON + HARMONIZATION,
    "joint": COMMON + MATTING + HARMONIZATION + JOINT,
}
DOCS = {
    "matting": "Fine-tune IndexNet alone (alpha + composition Charbonnier loss on the unknown region).",
    "harmonization": "Train the attention U-Net alone (L1 to the real image I).",
    "joint": "Train IndexNet, the U-Net and the SAGAN critic jointly (paper Eq. 1-5).",
}


def _options(mode: str):
    defaults = load_config(mode)

    def decorate(func):
        for name, key, kind, text in reversed(MODE_OPTIONS[mode]):
            func = click.option(
                name, key, type=kind, default=None, help=f"{text} [default: {getattr(defaults, key)}]"
            )(func)
        for name, text in reversed(FLAGS):
            key = name.replace("-", "_")
            func = click.option(
                f"--{name}/--no-{name}", key, default=None, help=f"{text} [default: {getattr(defaults, key)}]"
            )(func)
        return func

    return decorate


def _make_command(mode: str):
    @click.command(
        mode,
        help=DOCS[mode]
        + " Settings: defaults < configs/"
        + mode
        + ".yaml < --config < options and --set (saved as RUN/config.yaml).",
    )
    @click.option(
        "--shards",
        type=click.Path(),
        default=None,
        help="hmh-build output or release folder (required unless --resume); the "
        "harmonizer adjusts the side its shards alter (1 - alpha for the background, "
        "alpha for --altered foreground), recorded as 'altered' in RUN/config.yaml",
    )
    @click.option(
        "--config",
        "config_path",
        type=click.Path(),
        default=None,
        help="YAML file of config keys (see RUN/config.yaml of any run)",
    )
    @click.option(
        "--set",
        "set_items",
        multiple=True,
        metavar="KEY=VALUE",
        help="set any config key (repeatable), e.g. --set lr_gamma=0.5",
    )
    @click.option(
        "--resume",
        type=click.Path(),
        default=None,
        help="continue the run in this folder from checkpoints/last.pt with its "
        "config.yaml; options given with --resume (e.g. --max-steps) override it",
    )
    @_options(mode)
    def command(shards, config_path, set_items, resume, **options):
        _run(mode, shards, config_path, set_items, resume, options)

    return command


def _run(mode, shards, config_path, set_items, resume, options):
    from hmh_train.train.checkpoint import CheckpointError
    from hmh_train.train.config import ConfigError, read_yaml
    from hmh_train.train.engine import TrainingError, train

    if not shards and not resume:
        raise click.UsageError("--shards is required (or --resume RUN)")
    try:
        named = {k: v for k, v in options.items() if v is not None}  # named options beat --set
        overrides = {**parse_set(set_items), **named, "shards": shards, "resume": resume}
        cfg = load_config(mode, config_path, overrides)
        explicit = {k for k, v in overrides.items() if v is not None}
        explicit |= set(read_yaml(config_path) if config_path else ())
        summary = train(cfg, explicit if resume else None)  # resume: only what was given wins
    except (ConfigError, CheckpointError, TrainingError, ValueError, OSError) as exc:
        raise click.ClickException(first_line(exc)) from None
    if not summary["is_main"]:  # torchrun: rank 0 reports for everyone
        return
    losses = ", ".join(f"{k} {v:.4g}" for k, v in (summary["last_losses"] or {}).items())
    best = "n/a" if summary["best"] is None else f"{summary['best']:.4g}"
    click.echo(
        f"{mode}: {summary['step']} steps (epoch {summary['epoch']}) in {summary['run']}; "
        f"best {best}; last: {losses}"
    )
    if summary["interrupted"]:
        click.echo(
            f"stopped by {summary['interrupted']}; resume with: hmh-train {mode} --resume {summary['run']}",
            err=True,
        )


matting = _make_command("matting")
harmonization = _make_command("harmonization")
joint = _make_command("joint")
