"""Run a small float TFLite model (a ``.tflite`` flatbuffer) as a torch module.

Written for MediaPipe's selfie segmentation (``infer.automask``), whose file uses a MediaPipe
custom op, ``Convolution2DTransposeBias``; the one dependency is the pure-Python flatbuffer
schema, so it runs wherever torch does (``ai-edge-litert`` 2.3 also runs the file, 60× faster
on this 8-ms model, but is a 59 MB binary wheel with protobuf and ml_dtypes and no wheel for
every platform torch has: docs/inference-auto.md). The graph is read with the ``tflite`` package (the
flatbuffer schema; optional extra ``auto``) and executed op by op with torch, in the order the
file lists its operators. Supported ops, with TFLite's semantics: CONV_2D, DEPTHWISE_CONV_2D
(``SAME`` padding split as TensorFlow does: the odd pixel after), AVERAGE_POOL_2D (padding not
counted), ADD and MUL (broadcasting, fused activation), RELU, HARD_SWISH, LOGISTIC,
RESIZE_BILINEAR (half-pixel centres or aligned corners), DEQUANTIZE (float16 constants) and the
custom transposed convolution. Anything else raises ``TfliteError`` when the file is loaded.

Tensors are kept NCHW float32 inside; :class:`TfliteGraph` takes and returns the file's NHWC
layout: ``(1, H, W, C)`` float32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

#: TFLite's fused activations by enum value (NONE, RELU, RELU_N1_TO_1, RELU6, TANH).
ACTIVATIONS = {
    0: lambda x: x,
    1: F.relu,
    2: lambda x: x.clamp(-1.0, 1.0),
    3: lambda x: x.clamp(0.0, 6.0),
    4: torch.tanh,
}
#: numpy dtypes of TFLite tensor types used by float models (FLOAT32, FLOAT16, INT32).
TENSOR_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32}
TRANSPOSE_CONV_OP = b"Convolution2DTransposeBias"


class TfliteError(ValueError):
    """A model file that cannot be run here; the message is one line."""


@dataclass(frozen=True)
class Op:
    """One operator: its kind ("CONV_2D", ..., "TRANSPOSE_CONV_BIAS"), tensor indices, options."""

    kind: str
    inputs: tuple
    outputs: tuple
    options: dict


def _same_pads(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's SAME padding of one axis: (before, after), the odd pixel after."""
    effective = (kernel - 1) * dilation + 1
    total = max((math.ceil(size / stride) - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def _pad_same(x: torch.Tensor, kernel, stride, dilation=(1, 1)) -> torch.Tensor:
    top, bottom = _same_pads(x.shape[2], kernel[0], stride[0], dilation[0])
    left, right = _same_pads(x.shape[3], kernel[1], stride[1], dilation[1])
    return F.pad(x, (left, right, top, bottom)) if top or bottom or left or right else x


def conv(x, weight, bias, opts, groups: int = 1) -> torch.Tensor:
    """CONV_2D / DEPTHWISE_CONV_2D on NCHW ``x`` with a torch-layout ``weight``."""
    stride, dilation = opts["stride"], opts["dilation"]
    if opts["same"]:
        x = _pad_same(x, weight.shape[2:], stride, dilation)
    y = F.conv2d(x, weight, bias, stride=stride, dilation=dilation, groups=groups)
    return ACTIVATIONS[opts["activation"]](y)


def average_pool(x, opts) -> torch.Tensor:
    """AVERAGE_POOL_2D: the mean over the window's pixels inside the image (padding not counted)."""
    kernel, stride = opts["filter"], opts["stride"]
    if opts["same"]:
        ones = _pad_same(torch.ones_like(x[:, :1]), kernel, stride)
        x = _pad_same(x, kernel, stride)  # zeros, divided out below
        return ACTIVATIONS[opts["activation"]](
            F.avg_pool2d(x, kernel, stride) / F.avg_pool2d(ones, kernel, stride)
        )
    return ACTIVATIONS[opts["activation"]](F.avg_pool2d(x, kernel, stride))


def resize_bilinear(x, size, opts) -> torch.Tensor:
    """RESIZE_BILINEAR to ``size`` (H, W); half-pixel centres = torch's align_corners=False."""
    if opts["align_corners"]:
        return F.interpolate(x, size=size, mode="bilinear", align_corners=True)
    if not opts["half_pixel"]:
        raise TfliteError("RESIZE_BILINEAR without half-pixel centres is not supported")
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def transpose_conv_bias(x, weight, bias, opts) -> torch.Tensor:
    """MediaPipe's Convolution2DTransposeBias: a transposed convolution, SAME padding, + bias;
    ``weight`` in torch's transposed layout (in, out, kh, kw)."""
    stride = opts["stride"]
    y = F.conv_transpose2d(x, weight, bias, stride=stride)
    out_h, out_w = x.shape[2] * stride[0], x.shape[3] * stride[1]
    top = (y.shape[2] - out_h) // 2
    left = (y.shape[3] - out_w) // 2
    return y[:, :, top : top + out_h, left : left + out_w]


class TfliteGraph(torch.nn.Module):
    """The graph of a parsed model (``hmh_train.nets.tflite_read.read_tflite``, constants
    already float32): ``forward`` takes the input ``(1, H, W, C)`` float32 NHWC and returns the
    first output, NHWC. Weights are put in torch's layout once, here; other 4-d constants NCHW."""

    def __init__(self, ops: list, constants: dict, inputs: tuple, outputs: tuple):
        super().__init__()
        self.ops, self.inputs, self.outputs = ops, inputs, outputs
        weights = {}
        for op in ops:
            if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV_BIAS"):
                weights[op.inputs[1]] = op.kind
        self.constants = {}
        for index, value in constants.items():
            t = torch.from_numpy(np.array(value))  # a writable copy
            if index in weights:
                t = torch_weight(weights[index], t)
            elif t.dim() == 4:
                t = t.permute(0, 3, 1, 2).contiguous()
            self.constants[index] = t

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = dict(self.constants)
        values[self.inputs[0]] = x.permute(0, 3, 1, 2)
        for op in self.ops:
            values[op.outputs[0]] = run_op(op, values)
        out = values[self.outputs[0]]
        return out.permute(0, 2, 3, 1) if out.dim() == 4 else out


def torch_weight(kind: str, w: torch.Tensor) -> torch.Tensor:
    """TFLite weight layout → torch's: CONV (O,H,W,I)→(O,I,H,W); DEPTHWISE (1,H,W,O)→(O,1,H,W);
    the transposed conv (O,H,W,I)→(I,O,H,W)."""
    if kind == "CONV_2D":
        return w.permute(0, 3, 1, 2).contiguous()
    return w.permute(3, 0, 1, 2).contiguous()


def run_op(op: Op, values: dict) -> torch.Tensor:
    """Output of ``op`` from the tensors computed so far (``values``, NCHW)."""
    arg = [values[i] if i >= 0 else None for i in op.inputs]
    kind, o = op.kind, op.options
    if kind == "DEQUANTIZE":
        return arg[0].float()
    if kind == "CONV_2D":
        return conv(arg[0], arg[1], arg[2], o)
    if kind == "DEPTHWISE_CONV_2D":
        return conv(arg[0], arg[1], arg[2], o, groups=arg[0].shape[1])
    if kind == "TRANSPOSE_CONV_BIAS":
        return transpose_conv_bias(arg[0], arg[1], arg[2], o)
    if kind in ("ADD", "MUL"):
        y = arg[0] + arg[1] if kind == "ADD" else arg[0] * arg[1]
        return ACTIVATIONS[o["activation"]](y)
    if kind == "AVERAGE_POOL_2D":
        return average_pool(arg[0], o)
    if kind == "RESIZE_BILINEAR":
        return resize_bilinear(arg[0], tuple(int(v) for v in arg[1].tolist()), o)
    if kind == "RELU":
        return F.relu(arg[0])
    if kind == "HARD_SWISH":
        return F.hardswish(arg[0])
    if kind == "LOGISTIC":
        return torch.sigmoid(arg[0])
    raise TfliteError(f"op {kind} is not supported")
