"""The three networks of the joint GAN and their factories (notes/TRAIN_API.md).

- ``build_matting_net``: IndexNet (or, with ``net="dim"``, Deep Image Matting), ``(B,4,H,W)``
  normalised RGB + trimap → ``(B,1,H,W)`` raw alpha.
- ``build_harmonization_net``: attention U-Net (or DIH, ``net="dih"``), ``(B,4,H,W)`` RGB in
  [-1,1] + mask → ``(B,3,H,W)`` in [-1,1].
- ``build_discriminator``: SAGAN critic, ``(B,3,H,W)`` in [-1,1] → ``(B,)`` scores.
"""

from __future__ import annotations

import torch
from torch import nn

from hmh_train.nets.backbone import BackboneReport, load_backbone_weights
from hmh_train.nets.dih import DIH
from hmh_train.nets.dim import DeepMatting
from hmh_train.nets.discriminator import SAGANDiscriminator
from hmh_train.nets.indexnet import IndexNet
from hmh_train.nets.unet import AttentionUNet

__all__ = [
    "build_matting_net",
    "build_harmonization_net",
    "build_discriminator",
    "build_net",
    "load_backbone_weights",
    "BackboneReport",
    "network_summary",
    "count_parameters",
    "format_summary",
    "IndexNet",
    "DeepMatting",
    "MATTING_NETS",
    "AttentionUNet",
    "DIH",
    "HARMONIZERS",
    "SAGANDiscriminator",
]


#: Matting networks: the paper's IndexNet, or Deep Image Matting (the Table 1 "DM" baseline).
MATTING_NETS = ("indexnet", "dim")
MATTING_LABELS = {"indexnet": "matting (IndexNet)", "dim": "matting (Deep Image Matting)"}


def build_matting_net(width: float = 1.0, head: str = "published", net: str = "indexnet") -> nn.Module:
    """IndexNet as published (MobileNetV2, M2O index blocks, ASPP); 5,953,515 parameters at
    width 1.0 with the published head (``head="wide"``: 5,979,152, see ``IndexNet``).
    ``net="dim"``: Deep Image Matting (VGG16-BN, ``nets.dim``), 130,545,345 parameters at width
    1.0; ``head`` does not apply to it."""
    if net == "dim":
        return DeepMatting(width=width)
    if net != "indexnet":
        raise ValueError(f"matting net must be one of {', '.join(MATTING_NETS)}, got {net!r}")
    return IndexNet(width=width, head=head)


#: The harmonization networks ``build_harmonization_net`` builds (the ``harmonizer`` config key).
HARMONIZERS = ("unet", "dih")


def build_harmonization_net(
    width: float = 1.0, num_downs: int = 8, norm: str = "batch", net: str = "unet", size: int = 256
) -> nn.Module:
    """``net="unet"``: DoveNet attention U-Net; 54,759,939 parameters at width 1.0,
    ``num_downs`` 8, batch norm (the released model); ``norm="instance"`` is DoveNet's training
    default. ``net="dih"``: DIH without semantics at ``size``×``size`` (``nets.dih``; 8,268,800
    parameters at width 1.0; ``num_downs`` and ``norm`` do not apply)."""
    if net == "dih":
        return DIH(width=width, size=size)
    if net != "unet":
        raise ValueError(f"harmonizer must be one of {', '.join(HARMONIZERS)}, got {net!r}")
    return AttentionUNet(width=width, num_downs=num_downs, norm=norm)


def build_discriminator(width: float = 1.0) -> SAGANDiscriminator:
    """SAGAN critic (spectral norm, self-attention on ≤ 64×64 maps); 7,365,571 params at 1.0."""
    return SAGANDiscriminator(width=width)


_BUILDERS = {
    "matting": build_matting_net,
    "harmonization": build_harmonization_net,
    "discriminator": build_discriminator,
}


def build_net(name: str, arch: dict) -> nn.Module:
    """The network ``name`` ("matting", "harmonization", "discriminator") rebuilt from its
    ``arch`` dict (the network's ``.arch``: width, and head / num_downs, norm / net, size)."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown network {name!r}")
    return _BUILDERS[name](**arch)


def count_parameters(net: nn.Module) -> int:
    """Number of scalar parameters (trainable or not) of ``net``."""
    return sum(p.numel() for p in net.parameters())


def network_summary(
    width: float = 1.0,
    size: int = 256,
    num_downs: int = 8,
    head: str = "published",
    norm: str = "batch",
    matting_net: str = "indexnet",
    harmonizer: str = "unet",
):
    """One eval-mode forward of each network at ``size × size`` on CPU (IndexNet with ``head``
    or, with ``matting_net="dim"``, Deep Image Matting; the U-Net with ``norm``, or DIH for
    ``harmonizer="dih"``).

    Returns a list of ``(name, params, input shape, output shape)`` for the matting net,
    the harmonization net and the discriminator. ``size`` must be a multiple of 32 and of
    ``2**num_downs`` (DIH: of 64).
    """
    step = 64 if harmonizer == "dih" else 2**num_downs
    if size % 32 or size % step:
        what = "64 (DIH)" if harmonizer == "dih" else f"2**num_downs = {step}"
        raise ValueError(f"size {size} must be a multiple of 32 and of {what}")
    label = "harmonization (DIH)" if harmonizer == "dih" else "harmonization (attention U-Net)"
    nets = [
        (MATTING_LABELS[matting_net], build_matting_net(width, head, matting_net), 4),
        (label, build_harmonization_net(width, num_downs, norm, harmonizer, size), 4),
        ("discriminator (SAGAN)", build_discriminator(width), 3),
    ]
    rows = []
    for name, net, channels in nets:
        x = torch.zeros(1, channels, size, size)
        with torch.no_grad():
            y = net.eval()(x)
        rows.append((name, count_parameters(net), tuple(x.shape), tuple(y.shape)))
    return rows


def format_summary(rows) -> str:
    """Plain-text table of ``network_summary`` rows with a total line."""
    lines = [f"{'network':34s} {'parameters':>12s}  {'input':18s} output"]
    for name, params, shape_in, shape_out in rows:
        lines.append(f"{name:34s} {params:12,d}  {str(shape_in):18s} {shape_out}")
    lines.append(f"{'total':34s} {sum(r[1] for r in rows):12,d}")
    return "\n".join(lines)
