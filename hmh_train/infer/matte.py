"""The fast path of IndexNet's demo procedure (``Model.matte``'s default; ``exact=True`` and
``eval --benchmark`` keep ``protocols.indexnet_demo_alpha`` itself).

Same input and output arithmetic as the demo (``protocols.indexnet_demo_input`` /
``indexnet_demo_output``); only the forward pass differs, by engine (``ENGINES``):

- ``torch``: ``torch.inference_mode`` (no autograd bookkeeping), batch norm folded into the
  convolution before it (exact up to float rounding) and channels-last tensors;
- ``onnxruntime`` (with the ``onnx`` extra installed): the folded network exported to ONNX in
  memory once per model and run by ONNX Runtime on the CPU (its fused convolutions are about
  twice as fast as PyTorch's here; ``docs/inference.md``);
- ``auto``: ``onnxruntime`` for a network on the CPU when it is installed, else ``torch``.

Every engine stays within one gray level of the demo (tested on the anchors; measured in
``benchmarks/infer.py``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from hmh_train.infer.protocols import dim_demo_input, indexnet_demo_output
from hmh_train.nets.indexnet import IndexNet

ENGINES = ("auto", "torch", "onnxruntime")


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


def has_onnxruntime() -> bool:
    """Whether ``onnxruntime`` (and ``onnx``, for the export) can be imported."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime"))


def pick_engine(engine: str, device: torch.device, net: nn.Module | None = None) -> str:
    """The engine ``auto`` means for ``net`` on ``device``: ONNX Runtime for IndexNet (where it
    was measured) on the CPU when installed, else torch; ValueError for an unknown name."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "auto":
        indexnet = net is None or isinstance(net, IndexNet)
        return "onnxruntime" if indexnet and device.type == "cpu" and has_onnxruntime() else "torch"
    return engine


def prepare(matting_net: nn.Module, engine: str = "auto") -> Callable[[np.ndarray], np.ndarray]:
    """The forward pass of the fast path: a function from the demo's input float32
    ``(1, 4, H', W')`` to the raw output float32 ``(H', W')``. Works on a copy (the loaded
    network is untouched): eval mode, batch norm folded; then channels-last tensors
    (``torch``) or an in-memory ONNX export run by ONNX Runtime (``onnxruntime``). Made once per
    loaded model (``Model`` keeps it)."""
    device = next(matting_net.parameters()).device
    fast = copy.deepcopy(matting_net).eval()
    fold_batch_norm(fast)
    if pick_engine(engine, device) == "onnxruntime":
        from hmh_train.infer.export import onnx_bytes, onnx_session

        model = onnx_bytes(fast.cpu(), torch.zeros(1, 4, 64, 96), "alpha_raw", dynamic=True)
        session = onnx_session(model, threads=torch.get_num_threads())  # as many threads as torch
        return lambda x: np.asarray(session.run(None, {"input": x})[0], np.float32).squeeze()
    fast = fast.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # (stubs lack it)

    def forward(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            tensor = torch.from_numpy(x).to(device).contiguous(memory_format=torch.channels_last)
            return fast(tensor).float().squeeze().cpu().numpy()

    return forward


def fast_alpha(
    forward: Callable[[np.ndarray], np.ndarray],
    image_rgb_uint8: np.ndarray,
    trimap_uint8: np.ndarray,
    scale: float | None = None,
) -> np.ndarray:
    """Alpha matte uint8 ``(H, W)`` 0–255 of an RGB uint8 ``(H, W, 3)`` image and its uint8
    ``(H, W)`` trimap {0, 128, 255}: the demo's procedure with a ``prepare``d forward pass;
    ``scale``: Deep Image Matting's half-size shortcut (``protocols.dim_demo_input``; None =
    full resolution, IndexNet's input)."""
    x = dim_demo_input(image_rgb_uint8, trimap_uint8, scale)
    return indexnet_demo_output(forward(x), trimap_uint8)
