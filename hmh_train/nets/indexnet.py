"""IndexNet matting (Lu et al., ICCV 2019), the official default configuration, module for module.

MobileNetV2 ×1.0 encoder at output stride 32 where every downsampling is an index-guided
pooling, depthwise M2O index blocks with nonlinearity and context, ASPP, 5×5 decoder
(REFERENCE.md §3; ``hlmobilenetv2(decoder="indexnet", indexnet="depthwise", index_mode="m2o",
use_nonlinear=True, use_context=True, apply_aspp=True, output_stride=32)`` of
``poppinace/indexnet_matting``). Input ``(B, 4, H, W)``: ImageNet-normalised RGB + trimap/255;
output ``(B, 1, H, W)`` raw alpha (no sigmoid; clip at test time). H, W multiples of 32.

Module names follow the official code (``layer0``–``layer7``, ``index0/2/3/4/6`` with branches
``indexnet1``–``indexnet4``, ``dconv_pp``, ``decoder_layer6``–``decoder_layer0``, ``pred``), so
a released ``state_dict`` loads key for key once DataParallel's ``module.`` prefix is removed.
At width 1.0 with the published head: 5,953,515 parameters, 549 state-dict tensors; the
anchors in ``shared/anchors/indexnet/`` are reproduced to 1e-4.

Deviation (only where the official code cannot run): the image-pooling branch of ASPP
normalises a 1×1 map, which batch norm cannot do in training mode with one sample; there that
one BN uses its running statistics (``PooledBatchNorm``). Batches of two or more, and eval
mode, compute exactly what the official code computes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hmh_train.nets.blocks import scaled

#: MobileNetV2 stages (expansion t, channels c, repeats n) = layer1..layer7; all stride 1 here.
STAGES = ((1, 16, 1), (6, 24, 2), (6, 32, 3), (6, 64, 4), (6, 96, 3), (6, 160, 3), (6, 320, 1))
#: Encoder layers followed by an index block (``index{n}``) and a 2× index pooling.
POOLED_LAYERS = (0, 2, 3, 4, 6)
#: Decoder output channels of decoder_layer6 .. decoder_layer0 (inputs: 2× the skip width).
DECODER_OUT = (96, 64, 32, 24, 16, 32, 32)
ASPP_DILATIONS = (2, 4, 8)  # output stride 32
#: Prediction heads: "published" = the official 5×5 conv 32→1 → BN(1) → ReLU6 → 5×5 conv 1→1;
#: "wide" = 5×5 conv-BN-ReLU6 keeping 32 channels, then 5×5 conv 32→1 (see ``IndexNet``).
HEADS = ("published", "wide")


def conv_bn_relu6(inp: int, oup: int, kernel: int, groups: int = 1, dilation: int = 1):
    """``Sequential(conv k×k 'same' no bias, BatchNorm, ReLU6)`` (official ``conv_bn``)."""
    pad = dilation * (kernel - 1) // 2
    return nn.Sequential(
        nn.Conv2d(inp, oup, kernel, 1, pad, dilation=dilation, groups=groups, bias=False),
        nn.BatchNorm2d(oup),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    """MobileNetV2 block, stride 1: ``conv`` = [1×1 expand-BN-ReLU6] → 3×3 depthwise-BN-ReLU6
    → 1×1 linear projection-BN; the input is added back when ``inp == oup``.

    As in the official code, the *block input* is zero-padded by one pixel and the depthwise
    conv has no padding of its own: after the expansion the border ring holds
    ReLU6(BN(conv(0))) = ReLU6(BN's shift), not zero, and the depthwise conv sees that.
    """

    def __init__(self, inp: int, oup: int, expand_ratio: int):
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        layers = []
        if expand_ratio != 1:
            layers += [nn.Conv2d(inp, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True)]
        layers += [
            nn.Conv2d(hidden, hidden, 3, 1, 0, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, oup, 1, bias=False),
            nn.BatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)
        self.use_residual = inp == oup

    def units(self) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
        """(conv, bn) pairs in execution order (used to map ImageNet weights)."""
        mods = list(self.conv)
        return [(m, mods[i + 1]) for i, m in enumerate(mods) if isinstance(m, nn.Conv2d)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(F.pad(x, (1, 1, 1, 1)))
        return x + y if self.use_residual else y


class IndexBlock(nn.Module):
    """Depthwise many-to-one (M2O) index block with nonlinearity and context.

    Four branches ``indexnet1..4``, each conv 4×4/s2/p1 (C → C) → BN → ReLU6 → 1×1 conv
    (C → C), one per position of a 2×2 cell; stacked to ``(B, C, 4, H/2, W/2)``, sigmoid.
    Returns ``(encoder_index, decoder_index)``, both ``(B, C, H, W)``: the softmax over the 4
    slots of the sigmoid values, and the sigmoid values, pixel-shuffled back to H × W.
    """

    def __init__(self, channels: int):
        super().__init__()
        for k in range(1, 5):
            self.add_module(
                f"indexnet{k}",
                nn.Sequential(
                    nn.Conv2d(channels, channels, 4, 2, 1, bias=False),
                    nn.BatchNorm2d(channels),
                    nn.ReLU6(inplace=True),
                    nn.Conv2d(channels, channels, 1, bias=False),
                ),
            )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, c, h, w = x.shape
        branches = [getattr(self, f"indexnet{k}")(x) for k in range(1, 5)]
        y = torch.sigmoid(torch.stack(branches, dim=2))  # (B, C, 4, h/2, w/2)
        z = torch.softmax(y, dim=2)
        shape = (b, 4 * c, h // 2, w // 2)
        return F.pixel_shuffle(z.reshape(shape), 2), F.pixel_shuffle(y.reshape(shape), 2)


class PooledBatchNorm(nn.BatchNorm2d):
    """BatchNorm2d that falls back to its running statistics when training on a single value
    per channel (batch 1 of a 1×1 map), where plain batch norm raises."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.shape[0] * x.shape[2] * x.shape[3] == 1:
            return F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
            )
        return super().forward(x)


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling with depthwise-separable dilated branches.

    ``aspp1`` 1×1 conv-BN-ReLU6; ``aspp2..4`` depthwise 3×3 (dilation 2, 4, 8)-BN-ReLU6 →
    1×1-BN-ReLU6; ``global_avg_pool`` image mean → 1×1 conv-BN-ReLU6, nearest-upsampled; the
    five ``mid``-channel maps concatenated → ``bottleneck_conv`` 1×1-BN-ReLU6 → dropout 0.5.
    """

    def __init__(self, inp: int, oup: int, mid: int):
        super().__init__()
        self.aspp1 = nn.Module()
        self.aspp1.atrous_conv = conv_bn_relu6(inp, mid, 1)
        for k, d in enumerate(ASPP_DILATIONS, start=2):
            branch = nn.Module()
            branch.atrous_conv = nn.Sequential(
                *conv_bn_relu6(inp, inp, 3, groups=inp, dilation=d), *conv_bn_relu6(inp, mid, 1)
            )
            self.add_module(f"aspp{k}", branch)
        self.global_avg_pool = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(inp, mid, 1, bias=False),
            PooledBatchNorm(mid),
            nn.ReLU6(inplace=True),
        )
        self.bottleneck_conv = conv_bn_relu6(5 * mid, oup, 1)
        self.dropout = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [getattr(self, f"aspp{k}").atrous_conv(x) for k in range(1, 5)]
        feats.append(F.interpolate(self.global_avg_pool(x), size=x.shape[2:], mode="nearest"))
        return self.dropout(self.bottleneck_conv(torch.cat(feats, dim=1)))


class IndexedUpsampling(nn.Module):
    """Decoder stage: nearest-upsampled input × decoder index (when the stage was pooled),
    concatenated with the encoder skip, then ``dconv`` = 5×5 conv-BN-ReLU6."""

    def __init__(self, inp: int, oup: int, kernel: int = 5):
        super().__init__()
        self.dconv = conv_bn_relu6(inp, oup, kernel)

    def forward(self, x, skip, index=None):
        if index is not None:
            x = index * F.interpolate(x, size=skip.shape[2:], mode="nearest")
        return self.dconv(torch.cat((x, skip), dim=1))


class IndexNet(nn.Module):
    """IndexNet matting network. ``width`` scales every channel count (1.0 = official).

    ``head="published"`` (default) is the official prediction layer: 5×5 conv 32→1 → BN(1) →
    ReLU6 → 5×5 conv 1→1 without bias, as in the released ``indexnet_matting.pth.tar``.
    ``head="wide"`` keeps 32 channels through the conv-BN-ReLU6 and ends in a 5×5 conv 32→1
    (no bias): 25,637 more parameters. Why it exists: the published head funnels the whole
    prediction through one ReLU6 unit, which can die when trained *from scratch* (constant
    output, zero gradient); we saw that within 40 Adam steps at lr 5e-3 on the earlier
    look-alike network. On the published network's tiny overfit set (3 seeds, 100 steps, lr
    2e-3 and 1e-2) both heads reached the same loss, so the default is the published head; the
    wide one cannot load the released weights and is only for from-scratch experiments
    (``matting_head: wide``).
    """

    def __init__(self, width: float = 1.0, head: str = "published", in_channels: int = 4):
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"IndexNet head must be one of {', '.join(HEADS)}, got {head!r}")
        self.width, self.head = float(width), head
        enc = [scaled(32, width)] + [scaled(c, width) for _, c, _ in STAGES]
        self.layer0 = conv_bn_relu6(in_channels, enc[0], 3)
        for k, ((t, _, n), inp, oup) in enumerate(zip(STAGES, enc[:-1], enc[1:], strict=False), start=1):
            self.add_module(
                f"layer{k}",
                nn.Sequential(*[InvertedResidual(inp if i == 0 else oup, oup, t) for i in range(n)]),
            )
        for k in POOLED_LAYERS:
            self.add_module(f"index{k}", IndexBlock(enc[k]))
        self.dconv_pp = ASPP(enc[7], enc[6], scaled(256, width))
        prev = enc[6]
        for layer, out in zip(range(6, -1, -1), (scaled(c, width) for c in DECODER_OUT), strict=False):
            self.add_module(f"decoder_layer{layer}", IndexedUpsampling(prev + enc[layer], out))
            prev = out
        mid = 1 if head == "published" else prev
        self.pred = nn.Sequential(conv_bn_relu6(prev, mid, 5), nn.Conv2d(mid, 1, 5, 1, 2, bias=False))

    @property
    def arch(self) -> dict:
        """What rebuilds this network: ``{"width", "head"}`` (stored in checkpoints)."""
        return {"width": self.width, "head": self.head}

    def encoder_units(self) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
        """Encoder (conv, bn) pairs in MobileNetV2 order (stem, then each block's units)."""
        units = [(self.layer0[0], self.layer0[1])]
        for k in range(1, 8):
            for block in getattr(self, f"layer{k}"):
                units.extend(block.units())
        return units

    def encoder_parameters(self):
        """Parameters of the MobileNetV2 encoder, layer0–layer7 (IndexNet's low-lr group)."""
        return [p for k in range(8) for p in getattr(self, f"layer{k}").parameters()]

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
                h = getattr(self, f"layer{layer}")(h)
            if layer in POOLED_LAYERS:
                enc_idx, decoder_index[layer] = getattr(self, f"index{layer}")(h)
                h = enc_idx * h
            skips.append(h)
            if layer in POOLED_LAYERS:
                h = 4 * F.avg_pool2d(h, 2)
        h = self.dconv_pp(h)
        for layer in range(6, -1, -1):
            h = getattr(self, f"decoder_layer{layer}")(h, skips[layer], decoder_index.get(layer))
        return self.pred(h)
