"""Building blocks shared by the networks: the width rule, spectral-norm conv, self-attention.

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


def sn_conv(
    inp: int, oup: int, kernel: int, stride: int = 1, padding: int = 0, bias: bool = True
) -> nn.Module:
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
        q = self.query(x).flatten(2)  # (B, C/8, N)
        k = self.key(x).flatten(2)  # (B, C/8, N)
        v = self.value(x).flatten(2)  # (B, C/2, N)
        attn = torch.softmax(q.transpose(1, 2) @ k, dim=-1)  # (B, N query, N key)
        o = (v @ attn.transpose(1, 2)).view(b, -1, h, w)  # weighted sum of values per query
        return x + self.gamma * self.out(o)
