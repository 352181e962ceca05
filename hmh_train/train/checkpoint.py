"""Training checkpoints: atomic save, exact-resume state, and ``load_nets``, the one entry
point that loads any checkpoint a user gives.

A checkpoint is one ``torch.save`` dict (``notes/TRAIN_API.md``): ``format`` =
``"hmh-train-ckpt"``, ``version`` = 2, ``nets`` {name: state_dict}, ``net_arch`` {name: the
network's ``.arch`` (width; IndexNet head; U-Net num_downs and norm; DIH ``net`` and ``size``)}, ``net_config`` {width,
num_downs} (the run's settings), ``optimizers``, ``schedulers``, ``step``, ``epoch``,
``batch_in_epoch`` (loader position), ``rng`` (python, numpy, torch, cuda, augment generator),
``config`` (resolved TrainConfig dict, including ``altered``: the side of the shards the run
trained on, see ``trained_side``), ``best`` (best validation loss so far). Everything is
stored as tensors, numbers, strings, lists and dicts so it loads with
``torch.load(weights_only=True)``. Version 1 checkpoints (written before the networks became
the published IndexNet and DoveNet U-Net) are refused: their weights do not fit.

Files: ``RUN/checkpoints/last.pt`` (latest) and ``RUN/checkpoints/best.pt`` (lowest validation
loss), each written to a temporary name, fsynced, then renamed into place.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from hmh_builder.fsio import fsync_dir
from hmh_train.nets.forward import NET_NAMES, UNRECORDED_OUTPUT, Nets, check_output_form, unwrap
from hmh_train.nets.official import LayoutError, LoadReport, fill, load_official, safe_load

CKPT_FORMAT = "hmh-train-ckpt"
CKPT_VERSION = 2


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; one line naming the file."""


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


def atomic_save(obj, path: str) -> None:
    """``torch.save`` to ``path.tmp``, fsync, ``os.replace`` (a reader never sees half a file)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as handle:
        torch.save(obj, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(path) or ".")


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


def read(path) -> object:
    """Any checkpoint file as plain data (``torch.load(weights_only=True)``, CPU); a pickle that
    would run code is refused with one line and never executed."""
    try:
        return safe_load(path)
    except LayoutError as exc:
        raise CheckpointError(str(exc)) from None


def load(path) -> dict:
    """An hmh-train checkpoint dict (``weights_only=True``, on CPU); CheckpointError when not
    ours or of another version."""
    path = os.fspath(path)
    return check_ours(read(path), path)


def rng_state(augment_generator: torch.Generator | None = None) -> dict:
    """Every RNG the training loop draws from, as weights_only-loadable values."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": [version, list(internal), gauss],
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    if augment_generator is not None:
        state["augment"] = augment_generator.get_state()
    return state


def restore_rng(state: dict, augment_generator: torch.Generator | None = None) -> None:
    """Inverse of :func:`rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if augment_generator is not None and "augment" in state:
        augment_generator.set_state(state["augment"])


def _states(container) -> dict:
    return {
        name: unwrap(getattr(container, name)).state_dict()
        for name in NET_NAMES
        if getattr(container, name, None) is not None
    }


def make_checkpoint(
    nets,
    optims,
    schedulers: dict,
    step: int,
    epoch: int,
    batch_in_epoch: int,
    config: dict,
    augment_generator=None,
    best: float | None = None,
) -> dict:
    """The checkpoint dict of the current training state (``schedulers``: {name: scheduler})."""
    return {
        "format": CKPT_FORMAT,
        "version": CKPT_VERSION,
        "nets": _states(nets),
        "net_arch": {
            name: dict(unwrap(getattr(nets, name)).arch)
            for name in NET_NAMES
            if getattr(nets, name, None) is not None
        },
        "net_config": {"width": float(config["width"]), "num_downs": int(config["num_downs"])},
        "optimizers": {
            name: getattr(optims, name).state_dict()
            for name in NET_NAMES
            if getattr(optims, name, None) is not None
        },
        "schedulers": {name: s.state_dict() for name, s in schedulers.items()},
        "step": int(step),
        "epoch": int(epoch),
        "batch_in_epoch": int(batch_in_epoch),
        "rng": rng_state(augment_generator),
        "config": dict(config),
        "best": None if best is None else float(best),
    }


def weights_checkpoint(nets, config: dict | None = None) -> dict:
    """An hmh-train checkpoint holding only the networks of ``nets`` (no optimizer, step or RNG
    state; it cannot be resumed, but ``load_nets`` and every command take it), for weights
    converted from elsewhere, e.g. DIH's TensorFlow variables through
    ``nets.dih.state_from_tf``. ``config``: what ``load_nets`` reports, e.g.
    ``{"harmonizer_output": "paper", "altered": None}``."""
    return {
        "format": CKPT_FORMAT,
        "version": CKPT_VERSION,
        "nets": _states(nets),
        "net_arch": {
            name: dict(unwrap(getattr(nets, name)).arch)
            for name in NET_NAMES
            if getattr(nets, name, None) is not None
        },
        "config": dict(config or {}),
    }


def restore_training(ckpt: dict, nets, optims, schedulers: dict, augment_generator=None) -> None:
    """Load nets, optimizers, schedulers and RNG states from ``ckpt`` into live objects."""
    for name, state in ckpt["nets"].items():
        unwrap(getattr(nets, name)).load_state_dict(state)
    for name, state in ckpt["optimizers"].items():
        getattr(optims, name).load_state_dict(state)
    for name, state in ckpt["schedulers"].items():
        schedulers[name].load_state_dict(state)
    restore_rng(ckpt["rng"], augment_generator)


def build_nets(
    names,
    width: float,
    num_downs: int,
    head: str = "published",
    norm: str = "batch",
    harmonizer: str = "unet",
    size: int = 256,
):
    """A ``Nets`` holding freshly built networks for ``names`` (others None); the harmonizer is
    the U-Net or, for ``harmonizer="dih"``, DIH at ``size``×``size`` (the shards' side)."""
    harmonization = {"width": width, "num_downs": num_downs, "norm": norm}
    if harmonizer == "dih":
        harmonization = {"net": "dih", "width": width, "size": size}
    archs = {
        "matting": {"width": width, "head": head},
        "harmonization": harmonization,
        "discriminator": {"width": width},
    }
    return nets_from_arch({name: archs[name] for name in names})


def nets_from_arch(archs: dict):
    """A ``Nets`` with a fresh network per ``{name: arch}`` entry (others None)."""
    from hmh_train.nets import build_net

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
        try:
            matched, missing = fill(getattr(nets, name), state, path, f"its {name} network")
        except LayoutError as exc:
            raise CheckpointError(str(exc)) from None
        getattr(nets, name).eval()
        step = f" (step {ckpt['step']})" if "step" in ckpt else ""
        reports.append(LoadReport(path, f"hmh-train checkpoint{step}", name, archs[name], matched, missing))
    return nets, reports


def pretrained(path: str, name: str, num_downs: int, harmonizer_output: str | None = None):
    """``(network, report line)``: the ``name`` network of any checkpoint ``path`` (run folder,
    .pt, IndexNet's .pth.tar, DoveNet's .pth) with the architecture stored in it, to start
    training from. CheckpointError when the file holds no such network, for the U-Net when its
    depth is not ``num_downs`` (the shards and the critic were checked against that) or when it
    was trained to predict a change and ``harmonizer_output`` reads an image, or the reverse
    (``forward.check_output_form``)."""
    lines = []
    loaded, _ = load_nets(path, log=lines.append)
    net = check_pretrained(loaded, path, name, num_downs, harmonizer_output)
    return net, next(line for line in lines if f"-> {name} " in line)


def check_pretrained(loaded, path: str, name: str, num_downs: int, harmonizer_output: str | None = None):
    """The ``name`` network of ``loaded`` (``load_nets`` of ``path``) if a run with
    ``num_downs`` and ``harmonizer_output`` can start from it (see ``pretrained``);
    CheckpointError (one line) else. Also used by ``hmh-train sweep`` to check every point
    before any trains."""
    net = getattr(loaded, name, None)
    if net is None:
        raise CheckpointError(f"{path}: holds no {name} network")
    if name == "harmonization" and not hasattr(net, "input_size") and net.num_downs != num_downs:
        raise CheckpointError(
            f"{path}: its U-Net has num_downs {net.num_downs}; pass --num-downs {net.num_downs}"
        )
    if name == "harmonization" and harmonizer_output is not None:
        try:
            check_output_form(harmonizer_output, loaded.harmonizer_output, path)
        except ValueError as exc:
            raise CheckpointError(f"{exc}; pass --harmonizer-output to match") from None
    return net


def load_nets(run_or_ckpt, device="cpu", which: str = "best", log=None):
    """``(Nets, config dict)`` from any checkpoint a user gives; networks in eval mode on ``device``.

    Accepted: a run folder (``checkpoints/{which}.pt``, falling back to ``last.pt``), an
    hmh-train ``.pt`` file, IndexNet's released ``.pth.tar`` (→ only ``matting``) or DoveNet's
    generator ``.pth`` (→ only ``harmonization``); the layout is detected from the file
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
    obj = read(path)
    if isinstance(obj, dict) and obj.get("format") == CKPT_FORMAT:
        ckpt = check_ours(obj, path)
        nets, reports = checkpoint_nets(ckpt, path)
        config = ckpt["config"]
    else:
        try:
            name, net, report = load_official(obj, path)
        except LayoutError as exc:
            raise CheckpointError(str(exc)) from None
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


def check_side(
    path: str, config: dict, nets, shards: str, shards_side: str | None, allow_other: bool = False
) -> None:
    """CheckpointError (one line) when the harmonizer of ``path`` was trained on one side and
    ``shards`` alter the other, unless ``allow_other`` (``--allow-other-side``). Nothing to
    check without a harmonization net, without a recorded side, or for shards without a side
    (harmonization pairs: ``shards_side`` None)."""
    trained = trained_side(config)
    if (
        allow_other
        or nets.harmonization is None
        or trained is None
        or shards_side is None
        or trained == shards_side
    ):
        return
    raise CheckpointError(
        f"{path}: its harmonizer was trained on {trained}-altered shards, but "
        f"{shards} alter the {shards_side}; pass --allow-other-side to use it "
        "there anyway"
    )
