"""DIH (Tsai et al. 2017, "Deep Image Harmonization") without its scene-parsing branch, as the
iHarmony4 repository re-implements it in TensorFlow (``bcmi/Image-Harmonization-Dataset-iHarmony4``,
``DIH/wo_semantics/deploy.py``, ``inference``): the baseline "DIH" of DoveNet's and the paper's
tables.

Network (at ``size`` 256, width 1.0; 8,268,800 parameters, no dropout):

- input ``(B,4,S,S)``: the composite in [−1, 1] and the mask in [0, 1] (1 = region to adjust;
  ``deploy.read_images``: image/127.5 − 1, mask/255);
- encoder ``conv0``…``conv5``: 4×4 stride-2 convolutions without bias ("SAME" padding = 1 on
  each side), batch norm, ELU; 64, 64, 128, 128, 256, 256 channels, S → S/64;
- ``fc7``: an (S/64)×(S/64) "VALID" convolution with bias to a 1×1×512 code, no activation;
- decoder ``deconv5``…``deconv0``: 4×4 stride-2 transposed convolutions without bias, batch
  norm, ELU, each added to the encoder map of the same size (``skip5_h``…``skip0_h``;
  ``deconv5`` is "VALID", 1×1 → (S/64)×(S/64));
- ``output``: a 4×4 stride-2 transposed convolution to 3 channels, no bias, clipped to [−1, 1].

**Batch norm.** The TensorFlow code builds every batch norm with ``training=False``, in training
too: the layers always use their stored statistics (0 and 1 until weights are loaded), so they
act as a per-channel affine map, and the running statistics are never updated.
``FrozenStatsNorm`` does the same here in ``train()`` and ``eval()`` alike, so our training
matches theirs. Initialisation as theirs: weights N(0, 0.01²) (``fc7`` 0.005²), bias 0, γ = 1,
β = 0.

**Channel order.** Their loaders reverse the channels (``tf.reverse(image, [-1])``): the graph
sees BGR and its output is BGR. Every harmonizer of this toolkit takes and returns RGB
(``forward.harmonize``), so ``DIH.forward`` reverses the three colour channels on the way in and
on the way out. Weights therefore keep the TensorFlow graph's meaning channel for channel:
``state_from_tf`` transplants a TensorFlow checkpoint's variables with transposes only, and the
network computes exactly what that graph computes on the same picture.

Sizes other than 256 (multiples of 64, e.g. 64 for CPU tests) keep the layers and grow or
shrink ``fc7`` and ``deconv5`` to (S/64)×(S/64); the network runs only at its own size
(``input_size``; ``infer.ops.harmonize_any_size`` resizes to it).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hmh_train.nets.blocks import scaled

#: Encoder channels of conv0…conv5 at width 1.0 (the decoder mirrors them).
CHANNELS = (64, 64, 128, 128, 256, 256)
FC7 = 512
BN_EPS = 1e-3  # tf.layers.batch_normalization's default epsilon
DIH_SIZE = 256  # the published input side
BGR = [2, 1, 0]


class FrozenStatsNorm(nn.BatchNorm2d):
    """Batch norm that always normalises with its stored statistics (TensorFlow's
    ``batch_normalization(training=False)``), in training mode too; statistics never change.
    ``(B,C,H,W)`` float in and out."""

    def forward(self, x):
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
        )


class ConvBlock(nn.Module):
    """conv (no bias) → frozen-statistics batch norm → ELU; ``transposed`` for the decoder."""

    def __init__(self, inp: int, oup: int, kernel: int = 4, padding: int = 1, transposed: bool = False):
        super().__init__()
        layer = nn.ConvTranspose2d if transposed else nn.Conv2d
        self.conv = layer(inp, oup, kernel, stride=2, padding=padding, bias=False)
        self.bn = FrozenStatsNorm(oup, eps=BN_EPS)

    def forward(self, x):
        return F.elu(self.bn(self.conv(x)))


class DIH(nn.Module):
    """DIH without semantics: ``(B,4,S,S)`` (RGB composite in [−1, 1], mask in [0, 1]) →
    ``(B,3,S,S)`` RGB in [−1, 1] (clipped), S = ``size``; see the module docstring."""

    def __init__(self, width: float = 1.0, size: int = DIH_SIZE):
        super().__init__()
        if size % 64 or size < 64:
            raise ValueError(f"DIH size must be a positive multiple of 64, got {size}")
        self.width, self.input_size = float(width), int(size)
        self.num_downs = len(CHANNELS)
        ch = [scaled(c, width) for c in CHANNELS]
        code, k = scaled(FC7, width), size // 64
        self.encoder = nn.ModuleList(ConvBlock(i, o) for i, o in zip([4, *ch[:-1]], ch, strict=True))
        self.fc7 = nn.Conv2d(ch[-1], code, k)
        self.decoder = nn.ModuleList(
            [ConvBlock(code, ch[5], k, 0, True)]
            + [ConvBlock(ch[i + 1], ch[i], transposed=True) for i in reversed(range(5))]
        )
        self.output = nn.ConvTranspose2d(ch[0], 3, 4, stride=2, padding=1, bias=False)
        self.reset_parameters()

    @property
    def arch(self) -> dict:
        return {"net": "dih", "width": self.width, "size": self.input_size}

    def output_layer(self) -> nn.ConvTranspose2d:
        """The last layer (``output-h``, before the clip to [−1, 1]): zeroed for an identity
        start of the ``residual`` output form (its change is then exactly 0)."""
        return self.output

    def reset_parameters(self) -> None:
        """The TensorFlow initialisation: N(0, 0.01²) weights (fc7: 0.005²), zero fc7 bias,
        batch norm γ = 1, β = 0, statistics 0 and 1."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(module.weight, 0.0, 0.005 if module is self.fc7 else 0.01)
            elif isinstance(module, FrozenStatsNorm):
                module.reset_parameters()
        nn.init.zeros_(self.fc7.bias)

    def forward(self, x):
        if x.shape[-2:] != (self.input_size, self.input_size):
            raise ValueError(
                f"DIH(size={self.input_size}) needs {self.input_size}×{self.input_size} input, got {tuple(x.shape[-2:])}"
            )
        h = torch.cat((x[:, BGR], x[:, 3:]), dim=1)
        skips = []
        for block in self.encoder:
            h = block(h)
            skips.append(h)
        h = self.fc7(h)
        for block, skip in zip(self.decoder, reversed(skips), strict=True):
            h = block(h) + skip
        return self.output(h).clamp(-1.0, 1.0)[:, BGR]


def tf_names() -> list[tuple[str, str]]:
    """``(TensorFlow variable name, our state_dict key)`` for every tensor of ``DIH``, in the
    order ``deploy.inference`` creates them (the names ``tf.train.Saver`` writes)."""
    pairs = []
    bn_keys = (
        ("gamma", "weight"),
        ("beta", "bias"),
        ("moving_mean", "running_mean"),
        ("moving_variance", "running_var"),
    )
    for i in range(6):
        pairs.append((f"conv{i}/weights", f"encoder.{i}.conv.weight"))
        pairs += [(f"conv{i}/bn/{tf}", f"encoder.{i}.bn.{ours}") for tf, ours in bn_keys]
    pairs += [("fc7/weights", "fc7.weight"), ("fc7/biases", "fc7.bias")]
    for j, i in enumerate(range(5, -1, -1)):
        pairs.append((f"deconv{i}-h/weights", f"decoder.{j}.conv.weight"))
        pairs += [(f"deconv{i}-h/deconv-bn-h/{tf}", f"decoder.{j}.bn.{ours}") for tf, ours in bn_keys]
    pairs.append(("output-h/weights", "output.weight"))
    return pairs


def state_from_tf(variables: dict) -> dict:
    """A ``DIH`` state_dict from TensorFlow variables ``{name: array}`` (``tf_names``; e.g.
    ``tf.train.load_checkpoint(path)`` read into numpy). Kernels are HWIO for convolutions and
    HW(out)(in) for transposed ones; both become PyTorch's layouts by one transpose, with no
    flip and no channel reordering (see the module docstring). KeyError names a missing one."""
    state = {}
    for tf_name, key in tf_names():
        value = np.asarray(variables[tf_name], dtype=np.float32)
        if value.ndim == 4:
            value = value.transpose(3, 2, 0, 1)  # HWIO → OIHW; HW(out)(in) → (in)(out)HW
        state[key] = torch.from_numpy(np.ascontiguousarray(value))
        if key.endswith("running_var"):
            state[key.replace("running_var", "num_batches_tracked")] = torch.tensor(0)
    return state
