"""Initial weights of freshly built networks: the published rules, and the identity start.

``INITS`` (the run's ``init`` key): ``published`` re-draws every weight of a fresh network as
its official code does; ``pytorch`` keeps PyTorch's module defaults (what runs did before the
key existed). Loading a released or trained checkpoint overwrites either.

The published rules, read from the official repositories:

- **IndexNet** (``poppinace/indexnet_matting``, ``scripts/hlmobilenetv2.py``,
  ``hlMobileNetV2UNetDecoderIndexLearning._initialize_weights``, called last in its
  ``__init__``): every ``Conv2d`` of the whole network — encoder, index blocks, ASPP, decoder,
  head — weight ~ N(0, √(2/n)) with n = k_h·k_w·out_channels, bias 0; every BatchNorm weight 1,
  bias 0. (``hlaspp.py`` and ``hldecoder.py`` draw Kaiming-normal in their own constructors,
  but the network-wide pass runs after them and overwrites those draws.)
- **DoveNet's U-Net** (``bcmi/Image-Harmonization-Dataset-iHarmony4``,
  ``DoveNet/models/networks.py``, ``init_weights`` via ``define_G``/``init_net``; the training
  script keeps ``--init_type normal --init_gain 0.02``): every ``Conv*``/``Linear`` weight ~
  N(0, 0.02), bias 0; every BatchNorm2d weight ~ N(1, 0.02), bias 0 (instance norm here has no
  parameters).
- **Deep Image Matting** (``nets.dim``) and **DIH** (``nets.dih``): their constructors already
  draw the official initialisation (``weights_init_random``; the TensorFlow initialisers), so
  ``published`` keeps it.
- **SAGAN critic** (Zhang et al.'s own code, ``brain-research/self-attention-gan``:
  ``ops.snconv2d`` and ``non_local.sn_conv1x1`` use ``tf.contrib.layers.xavier_initializer()``,
  i.e. Glorot *uniform*, biases 0, the attention scale ``sigma_ratio`` 0): every spectrally
  normalised conv weight ~ U(−b, b), b = √(6/(fan_in + fan_out)) with fan = channels·k_h·k_w,
  bias 0, γ = 0; the spectral-norm power-iteration vectors are redrawn for the new weight.

**Identity start** (``zero_output_layer``, applied by ``start_fresh``): a fresh harmonizer in
the ``residual`` output form gets a zero last layer, so its untrained change is exactly 0 and
I_h = C bit for bit: training starts from "change nothing" instead of a random change.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from hmh_train.nets.blocks import SelfAttention
from hmh_train.nets.dih import DIH
from hmh_train.nets.dim import DeepMatting
from hmh_train.nets.discriminator import SAGANDiscriminator
from hmh_train.nets.indexnet import IndexNet
from hmh_train.nets.unet import AttentionUNet

#: Values of the run's ``init`` key.
INITS = ("published", "pytorch")
#: DoveNet's ``--init_gain`` (std of its normal init) and the BatchNorm weight's mean.
DOVENET_GAIN = 0.02


@torch.no_grad()
def init_indexnet(net: nn.Module) -> nn.Module:
    """IndexNet's ``_initialize_weights`` on every module of ``net`` (in place; returns it)."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            m.weight.normal_(0.0, math.sqrt(2.0 / n))
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.fill_(1.0)
            m.bias.zero_()
    return net


@torch.no_grad()
def init_dovenet(net: nn.Module, gain: float = DOVENET_GAIN) -> nn.Module:
    """DoveNet's ``init_weights(net, "normal", gain)`` on every module (in place; returns it)."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            m.weight.normal_(0.0, gain)
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.normal_(1.0, gain)
            m.bias.zero_()
    return net


def _reinit_spectral_conv(conv: nn.Conv2d) -> None:
    """Glorot-uniform weight, zero bias, then spectral norm put back on the new weight (fresh
    power-iteration vectors, as ``spectral_norm`` draws them for a new layer)."""
    parametrize.remove_parametrizations(conv, "weight", leave_parametrized=False)
    with torch.no_grad():
        nn.init.xavier_uniform_(conv.weight)
        if conv.bias is not None:
            conv.bias.zero_()
    spectral_norm(conv)


def init_sagan(net: nn.Module) -> nn.Module:
    """SAGAN's initialisation on every spectrally normalised conv of ``net`` and γ = 0."""
    for m in list(net.modules()):  # listed first: the loop re-registers parametrizations
        if isinstance(m, nn.Conv2d) and parametrize.is_parametrized(m, "weight"):
            _reinit_spectral_conv(m)
        elif isinstance(m, SelfAttention):
            with torch.no_grad():
                m.gamma.zero_()
    return net


def as_built(net: nn.Module) -> nn.Module:
    """The rule of a network whose constructor already draws the official initialisation
    (Deep Image Matting: ``DeepMatting.init_weights``, the official ``weights_init_random`` in
    the official module order; DIH: ``DIH.reset_parameters``, the iHarmony4 repository's
    TensorFlow initialisers): nothing to redraw."""
    return net


#: The published rule of each network class.
PUBLISHED = {
    IndexNet: init_indexnet,
    AttentionUNet: init_dovenet,
    SAGANDiscriminator: init_sagan,
    DeepMatting: as_built,
    DIH: as_built,
}


def initialise(net: nn.Module, init: str = "published") -> nn.Module:
    """``net`` initialised by rule ``init`` (one of ``INITS``), in place; returns it.

    ``published`` needs a network with a known rule: IndexNet, the U-Net, the critic (``PUBLISHED``)
    or any network class with a ``published_init()`` method (its official rule, in place); a
    network without one raises ValueError rather than silently keeping PyTorch's draws.
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {', '.join(INITS)}, got {init!r}")
    if init == "pytorch":
        return net
    rule = PUBLISHED.get(type(net))
    if rule is not None:
        return rule(net)
    if callable(getattr(net, "published_init", None)):
        with torch.no_grad():
            net.published_init()
        return net
    raise ValueError(f"no published initialisation is known for {type(net).__name__}")


@torch.no_grad()
def zero_output_layer(net: nn.Module) -> nn.Module:
    """Identity start of a ``residual`` harmonizer: the weight and bias of ``net.output_layer()``
    (the layer whose output, through at most an odd activation with f(0) = 0 such as tanh, is
    the predicted change) set to zero, so the untrained network's change is exactly 0 and
    I_h = C. Gradients still reach that layer (its input is not zero), so training moves it
    off zero at the first step. Any harmonizer class offers ``output_layer()`` to use this."""
    layer = net.output_layer()
    layer.weight.zero_()
    if layer.bias is not None:
        layer.bias.zero_()
    return net


def start_fresh(net: nn.Module, init: str = "published", harmonizer_output: str | None = None) -> nn.Module:
    """A freshly built network made ready to train: ``initialise(net, init)``, then, for a
    harmonizer in the ``residual`` output form (``harmonizer_output``), the identity start
    (``zero_output_layer``). Networks loaded from a file skip this: their weights are the file's."""
    initialise(net, init)
    if harmonizer_output == "residual":
        zero_output_layer(net)
    return net
