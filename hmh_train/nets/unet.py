"""DoveNet's attention U-Net (pix2pix ``unet_256`` with gated outer skips), REFERENCE.md §4.

Input ``(B, 4, H, W)``: composite RGB in [-1, 1] + mask in [0, 1]. Output ``(B, 3, H, W)`` in
[-1, 1] (tanh). ``num_downs`` 4×4/s2 convolutions take H × W down to H/2**num_downs (8: 256 → 1),
so H, W must be multiples of ``2**num_downs``.
"""
from __future__ import annotations

import torch
from torch import nn

from hmh_train.nets.blocks import SkipGate, scaled


def _channels(ngf: int, num_downs: int) -> list[int]:
    """Encoder output channels per level: ngf, 2ngf, 4ngf, then 8ngf for the rest."""
    return [ngf * min(2 ** i, 8) for i in range(num_downs)]


def _down(inp: int, oup: int, outermost: bool, innermost: bool) -> nn.Sequential:
    """[LeakyReLU 0.2] → conv 4×4/s2 → [BN]; no activation before the first, no BN at either end."""
    layers = [] if outermost else [nn.LeakyReLU(0.2, inplace=False)]
    layers.append(nn.Conv2d(inp, oup, 4, 2, 1, bias=False))
    if not (outermost or innermost):
        layers.append(nn.BatchNorm2d(oup))
    return nn.Sequential(*layers)


def _up(inp: int, oup: int, outermost: bool, dropout: bool) -> nn.Sequential:
    """ReLU → transposed conv 4×4/s2 → BN [→ dropout 0.5]; the outermost ends in tanh instead."""
    layers = [nn.ReLU(inplace=False), nn.ConvTranspose2d(inp, oup, 4, 2, 1, bias=outermost)]
    layers.append(nn.Tanh() if outermost else nn.BatchNorm2d(oup))
    if dropout:
        layers.append(nn.Dropout(0.5))
    return nn.Sequential(*layers)


class AttentionUNet(nn.Module):
    """pix2pix U-Net with DoveNet attention gates on the three outermost inner skips.

    Level ``i`` (0 = outermost) halves the resolution with ``downs[i]`` and restores it with
    ``ups[i]``; for ``i ≥ 1`` the up output is concatenated after the level's input (the skip)
    and, for levels 1–3 (skips of ngf, 2ngf, 4ngf channels), gated by ``x·sigmoid(1×1 conv x)``.
    Dropout 0.5 sits in the ``num_downs − 5`` middle 8ngf levels (3 at ``num_downs = 8``).
    """

    def __init__(self, width: float = 1.0, num_downs: int = 8, in_channels: int = 4,
                 out_channels: int = 3):
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"num_downs must be >= 5, got {num_downs}")
        self.num_downs = num_downs
        ch = _channels(scaled(64, width), num_downs)
        last = num_downs - 1
        self.downs = nn.ModuleList(
            [_down(in_channels if i == 0 else ch[i - 1], ch[i], i == 0, i == last)
             for i in range(num_downs)])
        ups, gates = [], []
        for i in range(num_downs):
            inp = ch[i] if i == last else 2 * ch[i]
            oup = out_channels if i == 0 else ch[i - 1]
            ups.append(_up(inp, oup, i == 0, dropout=4 <= i < last))
            gates.append(SkipGate(2 * ch[i - 1]) if 1 <= i <= 3 else nn.Identity())
        self.ups = nn.ModuleList(ups)
        self.gates = nn.ModuleList(gates)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        step = 2 ** self.num_downs
        if x.shape[2] % step or x.shape[3] % step:
            raise ValueError(f"AttentionUNet(num_downs={self.num_downs}) needs H, W multiples "
                             f"of {step}, got {tuple(x.shape[2:])}")
        skips = []
        h = x
        for down in self.downs:
            h = down(h)
            skips.append(h)
        for i in range(self.num_downs - 1, 0, -1):
            h = self.gates[i](torch.cat((skips[i - 1], self.ups[i](h)), dim=1))
        return self.ups[0](h)
