"""SAGAN-style self-attention critic (REFERENCE.md §5).

Input ``(B, 3, H, W)`` RGB in [-1, 1]; output ``(B,)`` unbounded scores (higher = more real).
Five spectrally normalised 4×4/s2 convolutions with LeakyReLU 0.1 (no batch norm), channels
64, 128, 256, 512, 512 (× width); self-attention after the 3rd and 4th (32×32 and 16×16 maps at
256 × 256 input, 8×8 and 4×4 at 64 × 64), then a spectrally normalised 3×3 conv to one channel
averaged over positions. H, W must be multiples of 32 (at least 32).
"""

from __future__ import annotations

import torch
from torch import nn

from hmh_train.nets.blocks import SelfAttention, scaled, sn_conv

CHANNELS = (64, 128, 256, 512, 512)
#: Stages (0-based) followed by a self-attention block.
ATTENTION_AFTER = (2, 3)
#: Largest feature map (positions per side) self-attention may run on.
MAX_ATTENTION_SIDE = 64


class SAGANDiscriminator(nn.Module):
    """Spectral-norm critic with two self-attention blocks; ``gammas()`` reports their γ."""

    def __init__(self, width: float = 1.0, in_channels: int = 3):
        super().__init__()
        self.width = float(width)
        ch = [scaled(c, width) for c in CHANNELS]
        layers, self.attention = [], nn.ModuleList()
        for i, oup in enumerate(ch):
            inp = in_channels if i == 0 else ch[i - 1]
            layers += [sn_conv(inp, oup, 4, 2, 1), nn.LeakyReLU(0.1)]
            if i in ATTENTION_AFTER:
                attn = SelfAttention(oup)
                self.attention.append(attn)
                layers.append(attn)
        self.features = nn.Sequential(*layers)
        self.score = sn_conv(ch[-1], 1, 3, 1, 1)

    @property
    def arch(self) -> dict:
        """What rebuilds this network: ``{"width"}`` (stored in checkpoints)."""
        return {"width": self.width}

    def gammas(self) -> list[float]:
        """Current γ of each self-attention block (0 at initialisation), shallowest first."""
        return torch.stack([a.gamma.detach() for a in self.attention]).tolist()  # one sync

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:]
        if h % 32 or w % 32:
            raise ValueError(f"discriminator needs H, W multiples of 32, got {(h, w)}")
        if max(h, w) // 8 > MAX_ATTENTION_SIDE:
            raise ValueError(
                f"input {(h, w)} would put self-attention on a map larger than "
                f"{MAX_ATTENTION_SIDE}×{MAX_ATTENTION_SIDE}; use at most 512×512"
            )
        return self.score(self.features(x)).mean(dim=(1, 2, 3))
