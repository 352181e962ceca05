"""Building blocks shared by the three networks (REFERENCE.md §3–§5).

All blocks take and return float tensors ``(B, C, H, W)``; none of them changes the value range
of its input except where an activation says so (ReLU6 → [0, 6], sigmoid → (0, 1)).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def scaled(channels: int, width: float) -> int:
    """Channel count ``channels`` shrunk (or grown) by the width multiplier, never below 1."""
    if width <= 0:
        raise ValueError(f"width must be > 0, got {width}")
    return max(1, int(channels * width))


class ConvBNAct(nn.Sequential):
    """``conv(k, stride, 'same' padding, no bias) → BatchNorm → activation``.

    ``act`` is ``"relu6"`` (MobileNetV2/IndexNet) or ``None`` (linear bottleneck). Submodules are
    named ``conv``, ``bn`` (and ``act``) so weight loaders can address them.
    """

    def __init__(self, inp: int, oup: int, kernel: int, stride: int = 1, groups: int = 1,
                 dilation: int = 1, act: str | None = "relu6"):
        super().__init__()
        pad = dilation * (kernel - 1) // 2
        self.add_module("conv", nn.Conv2d(inp, oup, kernel, stride, pad, dilation=dilation,
                                          groups=groups, bias=False))
        self.add_module("bn", nn.BatchNorm2d(oup))
        if act == "relu6":
            self.add_module("act", nn.ReLU6(inplace=True))
        elif act is not None:
            raise ValueError(f"unknown activation {act!r}")


class InvertedResidual(nn.Module):
    """MobileNetV2 inverted residual: [1×1 expand] → 3×3 depthwise → 1×1 linear projection.

    The expansion is omitted when ``expand_ratio == 1`` (as in MobileNetV2's first block).
    Adds the input back when the shape is unchanged (stride 1 and ``inp == oup``).
    """

    def __init__(self, inp: int, oup: int, expand_ratio: int, stride: int = 1):
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        self.expand = ConvBNAct(inp, hidden, 1) if expand_ratio != 1 else None
        self.depthwise = ConvBNAct(hidden, hidden, 3, stride, groups=hidden)
        self.project = ConvBNAct(hidden, oup, 1, act=None)
        self.use_residual = stride == 1 and inp == oup

    def units(self) -> list[ConvBNAct]:
        """The conv-BN units in execution order (used to map pretrained weights)."""
        return [u for u in (self.expand, self.depthwise, self.project) if u is not None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x if self.expand is None else self.expand(x)
        y = self.project(self.depthwise(y))
        return x + y if self.use_residual else y


def sn_conv(inp: int, oup: int, kernel: int, stride: int = 1, padding: int = 0,
            bias: bool = True) -> nn.Module:
    """``nn.Conv2d`` wrapped in spectral normalisation (Miyato et al. 2018, as in SAGAN)."""
    return spectral_norm(nn.Conv2d(inp, oup, kernel, stride, padding, bias=bias))


class SelfAttention(nn.Module):
    """SAGAN self-attention (Zhang et al. 2019): ``y = x + γ · attention(x)``.

    Query/key are 1×1 convs C → C/8, value C → C/2 followed by a 1×1 output conv C/2 → C, all
    spectrally normalised; softmax over key positions. ``gamma`` starts at 0 so the block is the
    identity at initialisation. Memory is O((H·W)²): use on maps of at most 64×64.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.query = sn_conv(channels, max(1, channels // 8), 1, bias=False)
        self.key = sn_conv(channels, max(1, channels // 8), 1, bias=False)
        self.value = sn_conv(channels, max(1, channels // 2), 1, bias=False)
        self.out = sn_conv(max(1, channels // 2), channels, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q = self.query(x).flatten(2)                       # (B, C/8, N)
        k = self.key(x).flatten(2)                         # (B, C/8, N)
        v = self.value(x).flatten(2)                       # (B, C/2, N)
        attn = torch.softmax(q.transpose(1, 2) @ k, dim=-1)  # (B, N query, N key)
        o = (v @ attn.transpose(1, 2)).view(b, -1, h, w)   # weighted sum of values per query
        return x + self.gamma * self.out(o)


class SkipGate(nn.Module):
    """DoveNet's attention gate on a U-Net skip: ``x · sigmoid(conv1×1(x))`` (with bias)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.conv(x))
