"""Load ImageNet weights from a local file into the matting network's encoder: MobileNetV2 into
IndexNet, VGG16-BN into Deep Image Matting.

Two key layouts are understood: torchvision's ``mobilenet_v2`` (``features.N...``) and timm's
``mobilenetv2_100`` (``conv_stem``, ``bn1``, ``blocks.i.j...``). Both are mapped, conv-BN unit
by unit in execution order, onto ``IndexNet.encoder_units()`` ((conv, bn) pairs of layer0–layer7,
named as in the official IndexNet code, e.g. ``layer2.1.conv.3``). The stem's RGB filters are
copied and the fourth (trimap) input channel's filters set to zero. Nothing is downloaded; the
file is read by ``nets.reader.read_checkpoint`` (``weights_only``).

Deep Image Matting takes torchvision's ``vgg16_bn`` as ``hlvgg16(pretrained=True)`` maps it
(its ``CORRESP_NAME``): ``features.N`` convs and batch norms onto ``conv11`` … ``bn53`` (conv
biases too), ``classifier.0`` (fc6) reshaped to the 7×7 ``conv6``; the trimap filters of
``conv11`` zero; fc7, fc8 and ``num_batches_tracked`` unused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from hmh_train.nets.dim import STAGES as VGG_STAGES
from hmh_train.nets.dim import DeepMatting
from hmh_train.nets.indexnet import STAGES
from hmh_train.nets.reader import read_checkpoint, strip_prefix

BN_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
#: torchvision ``vgg16_bn``: ``features`` index of each conv, in order (its batch norm is next).
VGG16_BN_CONVS = (0, 3, 7, 10, 14, 17, 20, 24, 27, 30, 34, 37, 40)


@dataclass(frozen=True)
class BackboneReport:
    """What ``load_backbone_weights`` did: source layout, loaded/missing/unused tensor names."""

    layout: str
    loaded: list[str] = field(default_factory=list)  # our encoder tensor names filled
    missing: list[str] = field(default_factory=list)  # our encoder tensor names not in the file
    unused: list[str] = field(default_factory=list)  # file keys not used (head, classifier)

    def summary(self) -> str:
        return (
            f"backbone ({self.layout}): {len(self.loaded)} tensors loaded, "
            f"{len(self.missing)} missing, {len(self.unused)} unused in file"
        )


def torchvision_units() -> list[tuple[str, str]]:
    """(conv, bn) module names of torchvision ``mobilenet_v2`` up to the last inverted residual."""
    units = [("features.0.0", "features.0.1")]
    index = 1
    for t, _, n in STAGES:
        for _ in range(n):
            p = f"features.{index}.conv"
            if t == 1:
                units += [(f"{p}.0.0", f"{p}.0.1"), (f"{p}.1", f"{p}.2")]
            else:
                units += [(f"{p}.0.0", f"{p}.0.1"), (f"{p}.1.0", f"{p}.1.1"), (f"{p}.2", f"{p}.3")]
            index += 1
    return units


def timm_units() -> list[tuple[str, str]]:
    """(conv, bn) module names of timm ``mobilenetv2_100`` up to the last block."""
    units = [("conv_stem", "bn1")]
    for s, (t, _, n) in enumerate(STAGES):
        for j in range(n):
            p = f"blocks.{s}.{j}"
            if t == 1:
                units += [(f"{p}.conv_dw", f"{p}.bn1"), (f"{p}.conv_pw", f"{p}.bn2")]
            else:
                units += [
                    (f"{p}.conv_pw", f"{p}.bn1"),
                    (f"{p}.conv_dw", f"{p}.bn2"),
                    (f"{p}.conv_pwl", f"{p}.bn3"),
                ]
    return units


def _unwrap(obj, path) -> dict:
    """The state dict inside a checkpoint object, with a DataParallel ``module.`` prefix removed."""
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "model_state_dict"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path}: not a state dict of tensors")
    return strip_prefix(obj)


def detect_layout(state: dict, path="state dict") -> str:
    """``"torchvision"`` or ``"timm"``; ValueError for any other key layout."""
    if "features.0.0.weight" in state:
        return "torchvision"
    if "conv_stem.weight" in state:
        return "timm"
    sample = ", ".join(sorted(state)[:3])
    raise ValueError(
        f"{path}: unknown MobileNetV2 key layout (expected torchvision "
        f"'features.0.0.weight' or timm 'conv_stem.weight'; found {sample}, ...)"
    )


def _copy(dst: torch.Tensor, src: torch.Tensor, name: str, key: str, path, stem: bool) -> None:
    """Copy ``src`` into ``dst``; for the stem conv copy RGB filters and zero extra channels."""
    if stem and dst.dim() == 4 and src.dim() == 4 and dst.shape[1] > src.shape[1]:
        if dst.shape[0] != src.shape[0] or dst.shape[2:] != src.shape[2:] or src.shape[1] != 3:
            raise ValueError(
                f"{path}: shape mismatch for {key} {tuple(src.shape)} -> "
                f"{name} {tuple(dst.shape)} (backbone weights fit only width 1.0)"
            )
        dst.zero_()
        dst[:, :3].copy_(src)
        return
    if dst.shape != src.shape:
        raise ValueError(
            f"{path}: shape mismatch for {key} {tuple(src.shape)} -> {name} "
            f"{tuple(dst.shape)} (backbone weights fit only width 1.0)"
        )
    dst.copy_(src)


def load_backbone_state(matting_net, state: dict, path="state dict") -> BackboneReport:
    """Map a MobileNetV2 state dict (already loaded) onto ``matting_net``'s encoder in place."""
    layout = detect_layout(state, path)
    source = torchvision_units() if layout == "torchvision" else timm_units()
    ours = matting_net.encoder_units()
    if len(ours) != len(source):
        raise ValueError(f"{path}: encoder has {len(ours)} conv units, {layout} has {len(source)}")
    names = {id(m): n for n, m in matting_net.named_modules()}
    loaded, missing, used = [], [], set()
    with torch.no_grad():
        for k, ((conv, bn), (src_conv, src_bn)) in enumerate(zip(ours, source, strict=False)):
            pairs = [(conv.weight, f"{names[id(conv)]}.weight", f"{src_conv}.weight")]
            pairs += [(getattr(bn, b), f"{names[id(bn)]}.{b}", f"{src_bn}.{b}") for b in BN_KEYS]
            for dst, name, key in pairs:
                if key not in state:
                    missing.append(name)
                    continue
                _copy(dst, state[key].to(dst.dtype), name, key, path, stem=k == 0)
                loaded.append(name)
                used.add(key)
    unused = sorted(k for k in state if k not in used)
    return BackboneReport(layout, loaded, missing, unused)


def vgg16_bn_pairs() -> list[tuple[str, str]]:
    """(Deep Image Matting tensor name, torchvision ``vgg16_bn`` key) in encoder order."""
    units = [f"{stage}{k}" for stage, (_, n) in enumerate(VGG_STAGES, start=1) for k in range(1, n + 1)]
    pairs = []
    for unit, index in zip(units, VGG16_BN_CONVS, strict=True):
        pairs += [(f"conv{unit}.{leaf}", f"features.{index}.{leaf}") for leaf in ("weight", "bias")]
        pairs += [(f"bn{unit}.{leaf}", f"features.{index + 1}.{leaf}") for leaf in BN_KEYS[:4]]
    return pairs + [("conv6.weight", "classifier.0.weight"), ("conv6.bias", "classifier.0.bias")]


def load_vgg16_bn_state(net: DeepMatting, state: dict, path="state dict") -> BackboneReport:
    """Map a torchvision ``vgg16_bn`` state dict onto ``net``'s encoder and ``conv6`` in place."""
    if "features.0.weight" not in state or "classifier.0.weight" not in state:
        sample = ", ".join(sorted(state)[:3])
        raise ValueError(
            f"{path}: not torchvision's vgg16_bn (Deep Image Matting's encoder; expected "
            f"'features.0.weight' and 'classifier.0.weight', found {sample}, ...)"
        )
    own = {**dict(net.named_parameters()), **dict(net.named_buffers())}
    loaded, missing, used = [], [], set()
    with torch.no_grad():
        for name, key in vgg16_bn_pairs():
            if key not in state:
                missing.append(name)
                continue
            src = state[key].to(own[name].dtype)
            if name == "conv6.weight" and src.numel() == own[name].numel():
                src = src.reshape(own[name].shape)  # fc6 (4096, 512·7·7) as a 7×7 conv
            _copy(own[name], src, name, key, path, stem=name == "conv11.weight")
            loaded.append(name)
            used.add(key)
    return BackboneReport("torchvision vgg16_bn", loaded, missing, sorted(k for k in state if k not in used))


def load_backbone_weights(matting_net, path) -> BackboneReport:
    """Load ImageNet weights from ``path`` (a ``.pth``/``.pt`` state dict): MobileNetV2 into
    IndexNet, torchvision's ``vgg16_bn`` into Deep Image Matting.

    Raises ValueError with the file name for an unreadable file, an unknown key layout or a
    shape mismatch (e.g. a matting net built with width != 1.0). Returns a ``BackboneReport``.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: backbone weights file not found")
    obj = read_checkpoint(path)  # CheckpointError (a ValueError): one line saying what the file is
    if isinstance(matting_net, DeepMatting):
        return load_vgg16_bn_state(matting_net, _unwrap(obj, path), path)
    return load_backbone_state(matting_net, _unwrap(obj, path), path)
