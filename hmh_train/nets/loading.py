"""Checkpoints for inference: find the file a user means, read it safely, build its networks.

``load_nets`` is the one entry point that loads any checkpoint a user gives: a run folder, an
hmh-train ``.pt`` (format ``CKPT_FORMAT``, version ``CKPT_VERSION``; ``train.checkpoint``
writes them, ``notes/TRAIN_API.md``), IndexNet's released ``.pth.tar``, its
``deep_matting.pth.tar`` (Deep Image Matting) or DoveNet's generator ``.pth``
(``nets.official``). Files are read by ``nets.reader.read_checkpoint`` (weights_only).
Training (``train.checkpoint``) builds on this module; inference needs nothing above ``nets``.
"""

from __future__ import annotations

import os

from hmh_train.nets import build_net
from hmh_train.nets.forward import NET_NAMES, UNRECORDED_OUTPUT, Nets
from hmh_train.nets.official import LoadReport, fill, load_official
from hmh_train.nets.reader import CheckpointError, read_checkpoint

__all__ = [
    "CKPT_FORMAT",
    "CKPT_VERSION",
    "CheckpointError",
    "checkpoint_dir",
    "checkpoint_file",
    "checkpoint_nets",
    "check_ours",
    "load_nets",
    "nets_from_arch",
    "resolve_path",
    "saved_arch",
    "trained_side",
]

CKPT_FORMAT = "hmh-train-ckpt"
CKPT_VERSION = 2


def checkpoint_dir(run: str) -> str:
    return os.path.join(os.fspath(run), "checkpoints")


def resolve_path(run_or_ckpt, which: str = "last") -> str:
    """A ``.pt`` path from a run folder (→ ``checkpoints/{which}.pt``) or a file path."""
    path = os.fspath(run_or_ckpt)
    if os.path.isdir(path):
        path = os.path.join(checkpoint_dir(path), f"{which}.pt")
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such checkpoint")
    return path


def checkpoint_file(path: str) -> str:
    """The .pt file ``load_nets`` will read for ``path`` (best.pt, else last.pt, of a run folder);
    ``CheckpointError`` naming the path when there is none."""
    if os.path.isdir(path) and os.path.isfile(os.path.join(checkpoint_dir(path), "best.pt")):
        return os.path.join(checkpoint_dir(path), "best.pt")
    try:
        return resolve_path(path, "last")
    except CheckpointError:
        raise CheckpointError(
            f"{path}: no such checkpoint (expected a .pt file or a run folder "
            "with checkpoints/best.pt or last.pt)"
        ) from None


def check_ours(ckpt, path: str) -> dict:
    """``ckpt`` if it is an hmh-train checkpoint of the current version; CheckpointError else."""
    if not isinstance(ckpt, dict) or ckpt.get("format") != CKPT_FORMAT:
        raise CheckpointError(f"{path}: not an hmh-train checkpoint")
    version = ckpt.get("version")
    if version == 1:
        raise CheckpointError(
            f"{path}: checkpoint version 1 predates the published IndexNet and "
            f"DoveNet U-Net (version {CKPT_VERSION}); its weights do not fit "
            "them: retrain, or start from the official files"
        )
    if version != CKPT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint version {version!r} is not supported "
            f"(this hmh-train reads version {CKPT_VERSION})"
        )
    return ckpt


def nets_from_arch(archs: dict):
    """A ``Nets`` with a fresh network per ``{name: arch}`` entry (others None)."""
    return Nets(**{name: build_net(name, archs[name]) if name in archs else None for name in NET_NAMES})


def saved_arch(ckpt: dict) -> dict:
    """``{name: arch}`` of the networks in an hmh-train checkpoint (``net_arch``; for files
    without it, from ``net_config``'s width and num_downs with the default head and norm)."""
    if "net_arch" in ckpt:
        return {name: dict(ckpt["net_arch"][name]) for name in ckpt["nets"]}
    cfg = ckpt["net_config"]
    base = {
        "matting": {"width": cfg["width"]},
        "harmonization": {"width": cfg["width"], "num_downs": cfg["num_downs"]},
        "discriminator": {"width": cfg["width"]},
    }
    return {name: base[name] for name in ckpt["nets"]}


def checkpoint_nets(ckpt: dict, path: str) -> tuple:
    """``(Nets, [LoadReport])`` of an hmh-train checkpoint dict, networks on CPU in eval mode."""
    archs = saved_arch(ckpt)
    try:
        nets = nets_from_arch(archs)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: unusable network description ({exc})") from None
    reports = []
    for name, state in ckpt["nets"].items():
        matched, missing = fill(getattr(nets, name), state, path, f"its {name} network")
        getattr(nets, name).eval()
        step = f" (step {ckpt['step']})" if "step" in ckpt else ""
        reports.append(LoadReport(path, f"hmh-train checkpoint{step}", name, archs[name], matched, missing))
    return nets, reports


def load_nets(run_or_ckpt, device="cpu", which: str = "best", log=None):
    """``(Nets, config dict)`` from any checkpoint a user gives; networks in eval mode on ``device``.

    Accepted: a run folder (``checkpoints/{which}.pt``, falling back to ``last.pt``), an
    hmh-train ``.pt`` file, IndexNet's released ``.pth.tar`` or its ``deep_matting.pth.tar``
    (→ only ``matting``: IndexNet / Deep Image Matting) or DoveNet's generator ``.pth`` (→ only
    ``harmonization``); the layout is detected from the file
    (``hmh_train.nets.official``). The config is the run's resolved TrainConfig dict, or for an
    official file ``{"layout", "net_arch"}``. ``Nets.harmonizer_output`` is the output form the
    run trained its harmonizer with (``config["harmonizer_output"]``; ``UNRECORDED_OUTPUT``,
    the plain image, for official files and runs made before the key existed). ``log``, if
    given, receives one line per loaded network (layout, architecture, tensors matched,
    missing). ``CheckpointError``: one line.
    """
    path = os.fspath(run_or_ckpt)
    if os.path.isdir(path):
        best = os.path.join(checkpoint_dir(path), f"{which}.pt")
        path = best if os.path.isfile(best) else resolve_path(path, "last")
    obj = read_checkpoint(path)
    if isinstance(obj, dict) and obj.get("format") == CKPT_FORMAT:
        ckpt = check_ours(obj, path)
        nets, reports = checkpoint_nets(ckpt, path)
        config = ckpt["config"]
    else:
        name, net, report = load_official(obj, path)
        nets, reports = Nets(**{name: net}), [report]
        config = {"layout": report.layout, "net_arch": {name: report.arch}}
    nets.harmonizer_output = config.get("harmonizer_output") or UNRECORDED_OUTPUT
    for name in NET_NAMES:
        if getattr(nets, name) is not None:
            getattr(nets, name).to(device).eval()
    for report in reports:
        if log is not None:
            log(report.summary())
    return nets, config


def trained_side(config: dict) -> str | None:
    """The side a checkpoint's harmonizer was trained to adjust, from ``load_nets``' config:
    our runs record it as ``altered`` ("background" or "foreground"; None when trained on
    harmonization pairs, whose mask can mark either side); our runs from before the record
    were trained with the background mask ("background"); the released files (a ``layout``
    entry) record none (None: DoveNet takes a mask of any region)."""
    if "layout" in config:
        return None
    return config.get("altered", "background")
