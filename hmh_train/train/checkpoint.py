"""Training checkpoints: atomic save and exact-resume state. Reading any checkpoint a user
gives (``load_nets``, ``checkpoint_file``…) lives in ``nets.loading`` and is re-exported here.

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
from hmh_train.nets.forward import NET_NAMES, check_output_form, unwrap
from hmh_train.nets.loading import (
    CKPT_FORMAT,
    CKPT_VERSION,
    CheckpointError,
    check_ours,
    checkpoint_dir,
    checkpoint_file,
    load_nets,
    nets_from_arch,
    resolve_path,
    saved_arch,
    trained_side,
)
from hmh_train.nets.reader import read_checkpoint

#: Re-exported: the readers live in ``nets.loading`` (inference needs nothing above ``nets``).
__all__ = [
    "CKPT_FORMAT",
    "CKPT_VERSION",
    "CheckpointError",
    "checkpoint_dir",
    "checkpoint_file",
    "load_nets",
    "nets_from_arch",
    "resolve_path",
    "saved_arch",
    "trained_side",
]


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


def load(path) -> dict:
    """An hmh-train checkpoint dict (``weights_only=True``, on CPU); CheckpointError when not
    ours or of another version."""
    path = os.fspath(path)
    return check_ours(read_checkpoint(path), path)


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
    matting_net: str = "indexnet",
    harmonizer: str = "unet",
    size: int = 256,
):
    """A ``Nets`` holding freshly built networks for ``names`` (others None); the matting net
    is IndexNet with ``head`` or, with ``matting_net="dim"``, Deep Image Matting; the harmonizer
    is the U-Net or, for ``harmonizer="dih"``, DIH at ``size``×``size`` (the shards' side)."""
    matting = (
        {"width": width, "head": head} if matting_net == "indexnet" else {"net": matting_net, "width": width}
    )
    harmonization = {"width": width, "num_downs": num_downs, "norm": norm}
    if harmonizer == "dih":
        harmonization = {"net": "dih", "width": width, "size": size}
    archs = {
        "matting": matting,
        "harmonization": harmonization,
        "discriminator": {"width": width},
    }
    return nets_from_arch({name: archs[name] for name in names})


def pretrained(path: str, name: str, num_downs: int, harmonizer_output: str | None = None):
    """``(network, report line)``: the ``name`` network of any checkpoint ``path`` (run folder,
    .pt, IndexNet's or Deep Image Matting's .pth.tar, DoveNet's .pth) with the architecture
    stored in it, to start training from. CheckpointError when the file holds no such network,
    for the U-Net when its depth is not ``num_downs`` (the shards and the critic were checked against that) or when it
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
