"""IndexNet matting (Lu et al., ICCV 2019) in the official default configuration.

MobileNetV2 ×1.0 encoder at output stride 32 where every downsampling is an index-guided
pooling, depthwise M2O index blocks with nonlinearity and context, ASPP, 5×5 decoder
(REFERENCE.md §3). Input ``(B, 4, H, W)``: ImageNet-normalised RGB + trimap in [0, 1];
output ``(B, 1, H, W)`` raw alpha (no sigmoid; clip at test time). H, W multiples of 32.

Prediction head: 5×5 conv-BN-ReLU6 keeping the 32 decoder channels, then a 5×5 conv (no bias)
to one channel, as in the official ``pred`` layer. A 32 → 1 conv-BN-ReLU6 first stage (one
reading of the description) funnels everything through a single ReLU6 unit, which we saw die
(constant output, zero gradient) within 40 Adam steps at lr 5e-3; the 32-channel form trains.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hmh_train.nets.blocks import ConvBNAct, InvertedResidual, scaled

#: MobileNetV2 stages (expansion t, channels c, repeats n); all stride 1 in IndexNet.
STAGES = ((1, 16, 1), (6, 24, 2), (6, 32, 3), (6, 64, 4), (6, 96, 3), (6, 160, 3), (6, 320, 1))
#: Encoder layers (0 = stem) followed by an index block and a 2× index pooling.
POOLED_LAYERS = (0, 2, 3, 4, 6)
#: Decoder output channels, deepest first (inputs are 2× the matching skip width).
DECODER_OUT = (96, 64, 32, 24, 16, 32, 32)
ASPP_DILATIONS = (2, 4, 8)


class IndexBlock(nn.Module):
    """Depthwise many-to-one (M2O) index block with nonlinearity and context.

    "Depthwise" means one index map per feature channel (not one shared map). Four branches,
    each a full conv 4×4/s2/p1 (C → C) → BN → ReLU6 → 1×1 conv (C → C); computed here as one
    conv C → 4C and a 4-group 1×1 conv (same parameters). Stacked to ``(B, C, 4, H/2, W/2)``,
    sigmoid. Returns ``(encoder_index, decoder_index)``, both ``(B, C, H, W)``: the softmax over
    the 4 slots of the sigmoid values, and the sigmoid values, pixel-shuffled back to H × W.
    """

    def __init__(self, channels: int):
        super().__init__()
        c4 = 4 * channels
        self.context = nn.Conv2d(channels, c4, 4, 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(c4)
        self.mix = nn.Conv2d(c4, c4, 1, groups=4, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, c, h, w = x.shape
        y = self.mix(F.relu6(self.bn(self.context(x))))          # branch-major (B, 4·C, h, w)
        y = torch.sigmoid(y.view(b, 4, c, h // 2, w // 2).transpose(1, 2))
        z = torch.softmax(y, dim=2)
        shape = (b, 4 * c, h // 2, w // 2)
        return F.pixel_shuffle(z.reshape(shape), 2), F.pixel_shuffle(y.reshape(shape), 2)


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling with depthwise-separable dilated branches.

    1×1 branch, three (depthwise 3×3 dilated → pointwise) branches, image pooling; the five
    ``mid``-channel maps are concatenated → 1×1 conv → BN → ReLU6 → dropout 0.5.
    The image-pooling branch uses a biased conv without BN so that batch size 1 trains.
    """

    def __init__(self, inp: int, oup: int, mid: int):
        super().__init__()
        self.branches = nn.ModuleList([ConvBNAct(inp, mid, 1)])
        for d in ASPP_DILATIONS:
            self.branches.append(nn.Sequential(ConvBNAct(inp, inp, 3, groups=inp, dilation=d),
                                               ConvBNAct(inp, mid, 1)))
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(inp, mid, 1),
                                  nn.ReLU6(inplace=True))
        self.fuse = nn.Sequential(ConvBNAct(5 * mid, oup, 1), nn.Dropout(0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [branch(x) for branch in self.branches]
        feats.append(self.pool(x).expand(-1, -1, x.shape[2], x.shape[3]))
        return self.fuse(torch.cat(feats, dim=1))


class DecoderBlock(nn.Module):
    """Indexed upsampling: nearest ×2 (or same size) · decoder index, concat skip, 5×5 conv-BN-ReLU6."""

    def __init__(self, inp: int, oup: int):
        super().__init__()
        self.conv = ConvBNAct(inp, oup, 5)

    def forward(self, x, skip, index=None):
        if index is not None:
            x = index * F.interpolate(x, size=skip.shape[2:], mode="nearest")
        return self.conv(torch.cat((x, skip), dim=1))


class IndexNet(nn.Module):
    """IndexNet matting network; ``width`` scales every channel count (1.0 = official)."""

    def __init__(self, width: float = 1.0, in_channels: int = 4):
        super().__init__()
        enc = [scaled(32, width)] + [scaled(c, width) for _, c, _ in STAGES]
        self.layer0 = ConvBNAct(in_channels, enc[0], 3)
        self.stages = nn.ModuleList()
        for (t, _, n), inp, oup in zip(STAGES, enc[:-1], enc[1:]):
            self.stages.append(nn.Sequential(*[InvertedResidual(inp if i == 0 else oup, oup, t)
                                               for i in range(n)]))
        self.index = nn.ModuleDict({str(i): IndexBlock(enc[i]) for i in POOLED_LAYERS})
        self.aspp = ASPP(enc[7], enc[6], scaled(256, width))
        dec_out = [scaled(c, width) for c in DECODER_OUT]
        dec_in, prev = [], enc[6]
        for skip_layer, out in zip(range(6, -1, -1), dec_out):
            dec_in.append(prev + enc[skip_layer])
            prev = out
        self.decoder = nn.ModuleList([DecoderBlock(i, o) for i, o in zip(dec_in, dec_out)])
        c = dec_out[-1]
        self.head = nn.Sequential(ConvBNAct(c, c, 5), nn.Conv2d(c, 1, 5, 1, 2, bias=False))

    def encoder_units(self) -> list[ConvBNAct]:
        """Encoder conv-BN units in MobileNetV2 order (stem, then each block's units)."""
        units = [self.layer0]
        for stage in self.stages:
            for block in stage:
                units.extend(block.units())
        return units

    def encoder_parameters(self):
        """Parameters of the MobileNetV2 encoder (IndexNet's low-lr group)."""
        return [p for u in self.encoder_units() for p in u.parameters()]

    def decoder_parameters(self):
        """Every other parameter: index blocks, ASPP, decoder, head (IndexNet's high-lr group)."""
        enc = {id(p) for p in self.encoder_parameters()}
        return [p for p in self.parameters() if id(p) not in enc]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[2] % 32 or x.shape[3] % 32:
            raise ValueError(f"IndexNet needs H, W multiples of 32, got {tuple(x.shape[2:])}")
        skips, decoder_index = [], {}
        h = self.layer0(x)
        for layer in range(8):
            if layer > 0:
                h = self.stages[layer - 1](h)
            if layer in POOLED_LAYERS:
                enc_idx, decoder_index[layer] = self.index[str(layer)](h)
                h = enc_idx * h
            skips.append(h)
            if layer in POOLED_LAYERS:
                h = 4 * F.avg_pool2d(h, 2)
        h = self.aspp(h)
        for block, layer in zip(self.decoder, range(6, -1, -1)):
            h = block(h, skips[layer], decoder_index.get(layer))
        return self.head(h)
