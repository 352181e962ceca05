"""Training checkpoints: atomic save, exact-resume state, and ``load_nets`` for evaluation.

A checkpoint is one ``torch.save`` dict (``notes/TRAIN_API.md``): ``format`` =
``"hmh-train-ckpt"``, ``version`` = 1, ``nets`` {name: state_dict}, ``net_config`` {width,
num_downs}, ``optimizers``, ``schedulers``, ``step``, ``epoch``, ``batch_in_epoch`` (loader
position), ``rng`` (python, numpy, torch, cuda, augment generator), ``config`` (resolved
TrainConfig dict), ``best`` (best validation loss so far). Everything is stored as tensors,
numbers, strings, lists and dicts so it loads with ``torch.load(weights_only=True)``.

Files: ``RUN/checkpoints/last.pt`` (latest) and ``RUN/checkpoints/best.pt`` (lowest validation
loss), each written to a temporary name, fsynced, then renamed into place.
"""
from __future__ import annotations

import os
import random

import numpy as np
import torch

from hmh_builder.fsio import fsync_dir
from hmh_train.nets.forward import NET_NAMES, Nets, unwrap

CKPT_FORMAT = "hmh-train-ckpt"
CKPT_VERSION = 1


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
        raise CheckpointError(f"{path}: no such checkpoint (expected a .pt file or a run folder "
                              "with checkpoints/best.pt or last.pt)") from None


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
    """A checkpoint dict (``weights_only=True``, on CPU); CheckpointError when not ours."""
    path = os.fspath(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except Exception as exc:  # pickle/zip errors have many types
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CKPT_FORMAT:
        raise CheckpointError(f"{path}: not an hmh-train checkpoint")
    if ckpt.get("version") != CKPT_VERSION:
        raise CheckpointError(f"{path}: checkpoint version {ckpt.get('version')!r} is not supported")
    return ckpt


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
    return {name: unwrap(getattr(container, name)).state_dict()
            for name in NET_NAMES if getattr(container, name, None) is not None}


def make_checkpoint(nets, optims, schedulers: dict, step: int, epoch: int, batch_in_epoch: int,
                    config: dict, augment_generator=None, best: float | None = None) -> dict:
    """The checkpoint dict of the current training state (``schedulers``: {name: scheduler})."""
    return {
        "format": CKPT_FORMAT, "version": CKPT_VERSION,
        "nets": _states(nets),
        "net_config": {"width": float(config["width"]), "num_downs": int(config["num_downs"])},
        "optimizers": {name: getattr(optims, name).state_dict()
                       for name in NET_NAMES if getattr(optims, name, None) is not None},
        "schedulers": {name: s.state_dict() for name, s in schedulers.items()},
        "step": int(step), "epoch": int(epoch), "batch_in_epoch": int(batch_in_epoch),
        "rng": rng_state(augment_generator), "config": dict(config),
        "best": None if best is None else float(best),
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


def build_nets(names, width: float, num_downs: int):
    """A ``Nets`` holding freshly built networks for ``names`` (others None)."""
    from hmh_train import nets as hnets

    builders = {
        "matting": lambda: hnets.build_matting_net(width=width),
        "harmonization": lambda: hnets.build_harmonization_net(width=width, num_downs=num_downs),
        "discriminator": lambda: hnets.build_discriminator(width=width),
    }
    return Nets(**{name: builders[name]() if name in names else None for name in NET_NAMES})


def load_nets(run_or_ckpt, device="cpu", which: str = "best"):
    """``(Nets, config dict)`` from a run folder (``checkpoints/{which}.pt``, falling back to
    ``last.pt``) or a ``.pt`` file; networks in eval mode on ``device``."""
    path = os.fspath(run_or_ckpt)
    if os.path.isdir(path):
        best = os.path.join(checkpoint_dir(path), f"{which}.pt")
        path = best if os.path.isfile(best) else resolve_path(path, "last")
    ckpt = load(path)
    cfg = ckpt["net_config"]
    nets = build_nets(tuple(ckpt["nets"]), cfg["width"], cfg["num_downs"])
    for name, state in ckpt["nets"].items():
        net = getattr(nets, name)
        try:
            net.load_state_dict(state)
        except RuntimeError as exc:
            raise CheckpointError(f"{path}: {name} weights do not fit ({str(exc).splitlines()[0]})") from None
        net.to(device).eval()
    return nets, ckpt["config"]
