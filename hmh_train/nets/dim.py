"""Deep Image Matting (Xu et al., CVPR 2017) as the IndexNet authors publish it in PyTorch.

``DeepMatting`` of ``poppinace/indexnet_matting`` (``scripts/hlvggnet.py``, ``hlvgg16``), the
network behind their released ``deep_matting.pth.tar`` and the "DM" row of the paper's Table 1:

- encoder: VGG16 with batch norm, 13 × (3×3 conv → BN → ReLU) in five stages of 2, 2, 3, 3, 3
  convs (64, 128, 256, 512, 512 channels), each stage ending in a 2×2 max pooling that keeps
  its indices; the first conv takes 4 channels (RGB + trimap); then ``conv6``, a 7×7 conv
  512 → 4096 (VGG's fc6 as a convolution) → ReLU;
- decoder (no batch norm): ``dconv6`` 1×1 4096 → 512 → ReLU, then five times max-unpooling with
  the encoder's indices followed by a 5×5 conv → ReLU (512, 256, 128, 64, 64 channels), and
  ``alpha_pred``, a 5×5 conv 64 → 1 with no activation.

Input ``(B, 4, H, W)`` float32: ImageNet-normalised RGB + trimap/255 (mean 0, std 1), H and W
multiples of 32. Output ``(B, 1, H, W)`` raw alpha (no sigmoid; clip to [0, 1] at test time).

Module names are the official ones (``conv11``, ``bn11``, … ``conv53``, ``bn53``, ``conv6``,
``dconv6``, ``dconv5`` … ``dconv1``, ``alpha_pred``), so a released ``state_dict`` loads key for
key once DataParallel's ``module.`` prefix is removed. At width 1.0: 130,545,345 parameters
(102,764,544 of them in ``conv6``), 107 state-dict tensors; memory at 1 MP in
``docs/baselines-dm.md``. ``width`` scales every channel count (for CPU-sized tests and smoke
runs; the released file has width 1.0). Checked against the authors' code on seeded weights
(``tests/fixtures/dm/``: the raw output and the demo's matte are reproduced exactly).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hmh_train.nets.blocks import scaled

#: VGG16 stages: (output channels, number of 3×3 convs); conv{stage}{k} / bn{stage}{k}.
STAGES = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
#: Channels of VGG's fc6 as the 7×7 ``conv6``.
FC6 = 4096
#: Decoder output channels of dconv5 .. dconv1 (all 5×5); dconv6 is 1×1 FC6 → 512.
DECODER_OUT = (512, 256, 128, 64, 64)
STRIDE = 32


class DeepMatting(nn.Module):
    """Deep Image Matting's encoder-decoder (module docstring). ``width`` scales every channel
    count (1.0 = official); ``in_channels`` is 4 (RGB + trimap)."""

    def __init__(self, width: float = 1.0, in_channels: int = 4):
        super().__init__()
        self.width = float(width)
        prev = in_channels
        for stage, (channels, convs) in enumerate(STAGES, start=1):
            out = scaled(channels, width)
            for k in range(1, convs + 1):
                self.add_module(f"conv{stage}{k}", nn.Conv2d(prev, out, 3, padding=1))
                self.add_module(f"bn{stage}{k}", nn.BatchNorm2d(out))
                prev = out
            self.add_module(f"pool{stage}", nn.MaxPool2d((2, 2), stride=2, return_indices=True))
        self.conv6 = nn.Conv2d(prev, scaled(FC6, width), 7, padding=3)
        self.dconv6 = nn.Conv2d(scaled(FC6, width), scaled(512, width), 1)
        prev = scaled(512, width)
        for stage, channels in zip(range(5, 0, -1), DECODER_OUT, strict=True):
            self.add_module(f"unpool{stage}", nn.MaxUnpool2d((2, 2), stride=2))
            self.add_module(f"dconv{stage}", nn.Conv2d(prev, scaled(channels, width), 5, padding=2))
            prev = scaled(channels, width)
        self.alpha_pred = nn.Conv2d(prev, 1, 5, padding=2)
        self.init_weights()

    def init_weights(self) -> None:
        """The official random initialisation (``weights_init_random``): every conv weight
        Kaiming-uniform (fan in, ReLU gain), batch norm scale 1 and shift 0; conv biases keep
        PyTorch's default. Modules are built in the official order, so under the same
        ``torch.manual_seed`` a fresh network equals the official ``hlvgg16()`` tensor for tensor."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_uniform_(module.weight, mode="fan_in", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.constant_(module.weight, 1)
                nn.init.constant_(module.bias, 0)

    @property
    def arch(self) -> dict:
        """What rebuilds this network: ``{"net": "dim", "width"}`` (stored in checkpoints)."""
        return {"net": "dim", "width": self.width}

    def encoder_parameters(self):
        """Parameters of the VGG16-BN encoder and ``conv6`` (the ImageNet-initialised part)."""
        return [p for name, p in self.named_parameters() if name.startswith(("conv", "bn"))]

    def decoder_parameters(self):
        """Every other parameter: ``dconv6`` … ``dconv1`` and ``alpha_pred``."""
        enc = {id(p) for p in self.encoder_parameters()}
        return [p for p in self.parameters() if id(p) not in enc]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[2] % STRIDE or x.shape[3] % STRIDE:
            raise ValueError(f"Deep Image Matting needs H, W multiples of 32, got {tuple(x.shape[2:])}")
        indices = {}
        for stage, (_, convs) in enumerate(STAGES, start=1):
            for k in range(1, convs + 1):
                x = F.relu(getattr(self, f"bn{stage}{k}")(getattr(self, f"conv{stage}{k}")(x)))
            x, indices[stage] = getattr(self, f"pool{stage}")(x)
        x = F.relu(self.dconv6(F.relu(self.conv6(x))))
        for stage in range(5, 0, -1):
            x = getattr(self, f"unpool{stage}")(x, indices=indices[stage])
            x = F.relu(getattr(self, f"dconv{stage}")(x))
        return self.alpha_pred(x)
