"""The released checkpoints of the published networks: detect, map, load.

Layouts understood (the file decides, never its name):

- **IndexNet** ``.pth.tar`` (``poppinace/indexnet_matting``, e.g. ``indexnet_matting.pth.tar``):
  a dict whose ``state_dict`` holds the network's tensors, keys usually with DataParallel's
  ``module.`` prefix, beside other entries (``epoch``, ``optimizer``, ``train_loss``,
  ``measure``…) that are ignored. → the ``matting`` network.
- **Deep Image Matting** ``.pth.tar`` (the same repository's ``deep_matting.pth.tar``,
  ``scripts/hlvggnet.py``): the same kind of dict, ``state_dict`` keys ``conv11.weight`` …
  ``conv6.weight``, ``dconv6.weight`` … ``alpha_pred.weight``, with or without ``module.``.
  → the ``matting`` network (``nets.dim.DeepMatting``).
- **DoveNet generator** ``.pth`` (``latest_net_G.pth``): a plain state_dict of ``define_G(4, 3,
  ngf, "s2ad", norm)`` (keys ``model.model.…``). Batch norm (the released model) or instance
  norm (DoveNet's training default: no norm tensors, conv biases). → the ``harmonization`` net.

Our networks use the official module names, so mapping is only the ``module.`` prefix; width
(IndexNet: ``layer0.0.weight`` has 32·width filters; DM: ``conv11.weight`` 64·width; U-Net:
ngf = 64·width), the IndexNet head, the U-Net depth and its norm are read from the tensors. Files are read by
``nets.reader.read_checkpoint`` (``weights_only``; a pickle that would run code is refused).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from hmh_train.nets.dim import DeepMatting
from hmh_train.nets.indexnet import IndexNet
from hmh_train.nets.reader import CheckpointError, strip_prefix
from hmh_train.nets.unet import AttentionUNet

LAYOUT_NAMES = {
    "indexnet": "IndexNet .pth.tar",
    "dim": "Deep Image Matting .pth.tar",
    "dovenet": "DoveNet generator .pth",
}
EXPECTED = (
    "an hmh-train checkpoint (.pt or run folder), IndexNet's released .pth.tar "
    "(a dict with 'state_dict': layer0.0.weight, index0.indexnet1…, pred…), its "
    "deep_matting.pth.tar ('state_dict': conv11.weight, …, conv6.weight, dconv6.weight, …, "
    "alpha_pred.weight) or DoveNet's "
    "generator .pth (a state_dict with model.model.0.weight, …)"
)
#: Buffers older PyTorch versions did not save; absent ones keep their fresh value (0).
OPTIONAL_SUFFIX = "num_batches_tracked"


def _is_state(obj) -> bool:
    return (
        isinstance(obj, dict)
        and bool(obj)
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


#: Module names only Deep Image Matting's state_dict has (any one identifies the layout, so a
#: file missing some tensors is still recognised and its first missing key named).
DIM_MODULES = frozenset(
    [f"{kind}{stage}{k}" for kind in ("conv", "bn") for stage in range(1, 6) for k in range(1, 4)]
    + ["conv6", "alpha_pred"]
    + [f"dconv{stage}" for stage in range(1, 7)]
)


def detect(obj) -> str | None:
    """``"indexnet"``, ``"dim"``, ``"dovenet"`` or None for a loaded checkpoint object."""
    if isinstance(obj, dict) and _is_state(obj.get("state_dict")):
        state = strip_prefix(obj["state_dict"])
        if "layer0.0.weight" in state:
            return "indexnet"
        if any(key.split(".", 1)[0] in DIM_MODULES for key in state):
            return "dim"
    if _is_state(obj) and "model.model.0.weight" in strip_prefix(obj):
        return "dovenet"
    return None


def indexnet_arch(state: dict) -> dict:
    """``{"width", "head"}`` of an IndexNet state_dict (keys without ``module.``)."""
    width = state["layer0.0.weight"].shape[0] / 32
    head = "published" if state.get("pred.1.weight", torch.zeros(1, 1)).shape[1] == 1 else "wide"
    return {"width": width, "head": head}


def dim_arch(state: dict, path: str) -> dict:
    """``{"net": "dim", "width"}`` of a Deep Image Matting state_dict (keys without ``module.``):
    width = filters of ``conv11`` / 64. ``CheckpointError`` naming the file when it is absent."""
    for key in ("conv11.weight", "bn11.weight", "conv11.bias"):
        if key in state:
            return {"net": "dim", "width": state[key].shape[0] / 64}
    raise CheckpointError(f"{path}: {LAYOUT_NAMES['dim']} lacks tensor conv11.weight (its first layer)")


def dovenet_arch(state: dict) -> dict:
    """``{"width", "num_downs", "norm"}`` of a DoveNet generator state_dict."""
    ngf = state["model.model.0.weight"].shape[0]
    depth = [
        k.count(".model.3") for k in state if k.startswith("model.model.1.") and k.endswith(".model.1.weight")
    ]
    norm = "instance" if "model.model.1.model.1.bias" in state else "batch"
    return {"width": ngf / 64, "num_downs": max(depth, default=0) + 2, "norm": norm}


@dataclass(frozen=True)
class LoadReport:
    """What was loaded from a file into one network (printed for the user)."""

    path: str
    layout: str  # "IndexNet .pth.tar", "DoveNet generator .pth", "hmh-train …"
    net: str  # matting | harmonization | discriminator
    arch: dict
    matched: int  # tensors copied
    missing: list = field(default_factory=list)  # num_batches_tracked the file lacked
    ignored: list = field(default_factory=list)  # entries of the file not used

    def summary(self) -> str:
        arch = ", ".join(f"{k} {v}" for k, v in self.arch.items())
        text = (
            f"{self.path}: {self.layout} -> {self.net} ({arch}): {self.matched} tensors "
            f"matched, {len(self.missing) or 'none'} missing"
        )
        if self.missing:
            text += f" (only {OPTIONAL_SUFFIX}, kept at 0)"
        if self.ignored:
            text += f"; ignored {', '.join(self.ignored[:6])}" + (" …" if len(self.ignored) > 6 else "")
        return text


def fill(net: torch.nn.Module, state: dict, path: str, what: str) -> tuple[int, list]:
    """Copy ``state`` into ``net`` key for key (strict but for absent num_batches_tracked);
    ``(tensors matched, missing optional keys)``; ``CheckpointError`` naming the first mismatch."""
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    bad = [k for k in missing if not k.endswith(OPTIONAL_SUFFIX)]
    if bad or extra:
        key = (bad or extra)[0]
        kind = "lacks" if bad else "has an unexpected"
        raise CheckpointError(
            f"{path}: {what} {kind} tensor {key} ({len(bad)} missing, {len(extra)} unexpected)"
        )
    for key, value in state.items():
        if own[key].shape != value.shape:
            raise CheckpointError(
                f"{path}: {what} tensor {key} is {tuple(value.shape)}, the network "
                f"expects {tuple(own[key].shape)}"
            )
    net.load_state_dict({**own, **state})
    return len(state), missing


def _dovenet_state(state: dict, arch: dict) -> tuple[dict, list]:
    """Drop statistics an instance-norm file from older PyTorch may carry (DoveNet's loader
    deletes them too); ``(state, dropped keys)``."""
    if arch["norm"] != "instance":
        return state, []
    stats = ("running_mean", "running_var", OPTIONAL_SUFFIX)
    dropped = [k for k in state if k.rsplit(".", 1)[-1] in stats]
    return {k: v for k, v in state.items() if k not in dropped}, dropped


def load_official(obj, path: str) -> tuple[str, torch.nn.Module, LoadReport]:
    """``(net name, network in eval mode on CPU, report)`` from a loaded official checkpoint;
    ``CheckpointError`` naming the expected layouts when ``obj`` is neither."""
    kind = detect(obj)
    if kind is None:
        raise CheckpointError(f"{path}: not a checkpoint this tool knows; expected {EXPECTED}")
    if kind in ("indexnet", "dim"):
        state = strip_prefix(obj["state_dict"])
        arch, name = (indexnet_arch(state) if kind == "indexnet" else dim_arch(state, path)), "matting"
        ignored = sorted(k for k in obj if k != "state_dict")
        net = IndexNet(**arch) if kind == "indexnet" else DeepMatting(arch["width"])
    else:
        state = strip_prefix(obj)
        arch, name = dovenet_arch(state), "harmonization"
        state, ignored = _dovenet_state(state, arch)
        net = AttentionUNet(**arch)
    matched, missing = fill(net, state, path, LAYOUT_NAMES[kind])
    report = LoadReport(path, LAYOUT_NAMES[kind], name, arch, matched, missing, ignored)
    return name, net.eval(), report
