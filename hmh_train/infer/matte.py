"""The fast path of IndexNet's demo procedure (``Model.matte``'s default; ``exact=True`` and
``eval --benchmark`` keep ``protocols.indexnet_demo_alpha`` itself).

Same input and output arithmetic as the demo (``protocols.indexnet_demo_input`` /
``indexnet_demo_output``); only the forward pass differs: ``torch.inference_mode`` (no autograd
bookkeeping), batch norm folded into the convolution before it (exact up to float rounding),
and channels-last tensors, which oneDNN's CPU convolutions run faster. The result stays within
one gray level of the demo's (tested on the anchors; measured in ``benchmarks/infer.py``).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from hmh_train.infer.protocols import dim_demo_input, indexnet_demo_output


def fold_batch_norm(module: nn.Module) -> int:
    """Fold every eval-mode ``BatchNorm2d`` that directly follows a ``Conv2d`` inside an
    ``nn.Sequential`` into that convolution (the BN becomes ``Identity``), in place; returns the
    number folded. Same function up to float rounding."""
    folded = 0
    for child in module.modules():
        if not isinstance(child, nn.Sequential):
            continue
        for i in range(len(child) - 1):
            conv, bn = child[i], child[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats:
                child[i] = fuse_conv_bn_eval(conv, bn)
                child[i + 1] = nn.Identity()
                folded += 1
    return folded


def prepare(matting_net: nn.Module) -> nn.Module:
    """An inference copy of ``matting_net`` (the original is untouched): eval mode, batch norm
    folded, channels-last weights. Made once per loaded model (``Model`` keeps it)."""
    fast = copy.deepcopy(matting_net).eval()
    fold_batch_norm(fast)
    return fast.to(memory_format=torch.channels_last)


def fast_alpha(
    net: nn.Module, image_rgb_uint8: np.ndarray, trimap_uint8: np.ndarray, scale: float | None = None
) -> np.ndarray:
    """Alpha matte uint8 ``(H, W)`` 0–255 of an RGB uint8 ``(H, W, 3)`` image and its uint8
    ``(H, W)`` trimap {0, 128, 255}: the demo's procedure with the forward pass of ``net``, a
    ``prepare``d matting network; ``scale``: Deep Image Matting's half-size shortcut
    (``protocols.dim_demo_input``; None = full resolution, IndexNet's input)."""
    x = torch.from_numpy(dim_demo_input(image_rgb_uint8, trimap_uint8, scale))
    device = next(net.parameters()).device
    with torch.inference_mode():
        x = x.to(device).contiguous(memory_format=torch.channels_last)
        raw = net(x).float().squeeze().cpu().numpy()
    return indexnet_demo_output(raw, trimap_uint8)
