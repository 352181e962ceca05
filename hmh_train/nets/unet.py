"""DoveNet's attention U-Net (pix2pix ``unet_256`` with gated skips), REFERENCE.md §4.

``define_G(4, 3, ngf, "s2ad", norm)`` of ``bcmi/Image-Harmonization-Dataset-iHarmony4``
(``DoveNet/models/networks.py``), module for module: the same nested blocks, so its state_dict
keys (``model.model.1.model.3…``) are the official ones and a released ``latest_net_G.pth``
loads as is. Input ``(B, 4, H, W)``: composite RGB in [-1, 1] + the mask of the region whose
colours are adjusted, in [0, 1]. Output ``(B, 3, H, W)`` in [-1, 1] (tanh). ``num_downs``
4×4/s2 convolutions take H × W down to H/2**num_downs (8: 256 → 1), so H, W must be multiples
of ``2**num_downs``. At width 1.0 (ngf 64), ``num_downs`` 8, batch norm: 54,759,939
parameters. The anchors in ``shared/anchors/dovenet/`` are reproduced to 1e-5.

What the official code computes, including its quirk: every inner level starts with an
*in-place* LeakyReLU(0.2) on its input and then concatenates that same tensor as the skip, so
inner skips carry LeakyReLU(x), not x. Here the activation is applied once, not in place, and
its result is both the skip and the input of the level's down convolution (same values).
"""

from __future__ import annotations

import torch
from torch import nn

from hmh_train.nets.blocks import scaled

#: ``norm`` settings: "batch" (the released DoveNet model: affine BN, convs without bias) and
#: "instance" (DoveNet's training default ``--norm instance``: affine-free InstanceNorm that
#: tracks no statistics, convs with bias).
NORMS = ("batch", "instance")


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


class UNetLevel(nn.Module):
    """One level of the U-Net (the official ``UnetSkipConnectionBlock``).

    ``model`` is a Sequential: outermost ``[down conv, inner, ReLU, up conv, tanh]``; innermost
    ``[LeakyReLU, down conv, ReLU, up conv, norm]``; others ``[LeakyReLU, down conv, norm, inner,
    ReLU, up conv, norm (, dropout 0.5)]``. Every level but the outermost returns
    ``cat(LeakyReLU(x), model(x))``, gated by ``attention`` = sigmoid(1×1 conv) when it has one.
    """

    def __init__(
        self,
        outer: int,
        inner: int,
        input_nc: int | None = None,
        submodule: nn.Module | None = None,
        outermost: bool = False,
        innermost: bool = False,
        norm: str = "batch",
        dropout: bool = False,
        attention: bool = False,
    ):
        super().__init__()
        self.outermost = outermost
        input_nc = outer if input_nc is None else input_nc
        bias = norm == "instance"
        down = nn.Conv2d(input_nc, inner, 4, 2, 1, bias=bias)
        if outermost:
            layers = [
                down,
                submodule,
                nn.ReLU(True),
                nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1),
                nn.Tanh(),
            ]
        elif innermost:
            layers = [
                nn.LeakyReLU(0.2),
                down,
                nn.ReLU(True),
                nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=bias),
                _norm(norm, outer),
            ]
        else:
            layers = [
                nn.LeakyReLU(0.2),
                down,
                _norm(norm, inner),
                submodule,
                nn.ReLU(True),
                nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1, bias=bias),
                _norm(norm, outer),
            ]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.attention = None  # registered before ``model``: the official key order
        if attention:
            self.attention = nn.Sequential(nn.Conv2d(outer + input_nc, outer + input_nc, 1), nn.Sigmoid())
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        skip = self.model[0](x)  # LeakyReLU(x): the official in-place skip
        y = skip
        for layer in list(self.model)[1:]:
            y = layer(y)
        out = torch.cat((skip, y), dim=1)
        return out if self.attention is None else self.attention(out) * out


class AttentionUNet(nn.Module):
    """DoveNet's attention U-Net; ``width`` scales ngf (64 at 1.0; the shared anchor is 0.25).

    Levels from the outside: ngf, 2ngf, 4ngf, then 8ngf; attention gates on the three levels
    whose skips carry ngf, 2ngf, 4ngf channels (gate convs 2ngf, 4ngf, 8ngf wide); dropout 0.5
    (``dropout=True``, DoveNet's training default) in the ``num_downs − 5`` middle 8ngf levels.
    """

    def __init__(
        self,
        width: float = 1.0,
        num_downs: int = 8,
        norm: str = "batch",
        dropout: bool = True,
        in_channels: int = 4,
        out_channels: int = 3,
    ):
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"num_downs must be >= 5, got {num_downs}")
        if norm not in NORMS:
            raise ValueError(f"U-Net norm must be one of {', '.join(NORMS)}, got {norm!r}")
        self.width, self.num_downs, self.norm = float(width), int(num_downs), norm
        ngf = scaled(64, width)
        block = UNetLevel(8 * ngf, 8 * ngf, innermost=True, norm=norm)
        for _ in range(num_downs - 5):
            block = UNetLevel(8 * ngf, 8 * ngf, submodule=block, norm=norm, dropout=dropout)
        for outer in (4 * ngf, 2 * ngf, ngf):
            block = UNetLevel(outer, 2 * outer, submodule=block, norm=norm, attention=True)
        self.model = UNetLevel(
            out_channels, ngf, input_nc=in_channels, submodule=block, outermost=True, norm=norm
        )

    @property
    def arch(self) -> dict:
        """What rebuilds this network: ``{"width", "num_downs", "norm"}`` (stored in checkpoints)."""
        return {"width": self.width, "num_downs": self.num_downs, "norm": self.norm}

    def output_layer(self) -> nn.ConvTranspose2d:
        """The last layer (outermost transposed conv, before tanh): zeroed for an identity start
        of the ``residual`` output form (``nets.init.zero_output_layer``)."""
        return self.model.model[3]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        step = 2**self.num_downs
        if x.shape[2] % step or x.shape[3] % step:
            raise ValueError(
                f"AttentionUNet(num_downs={self.num_downs}) needs H, W multiples "
                f"of {step}, got {tuple(x.shape[2:])}"
            )
        return self.model(x)
