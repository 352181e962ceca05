"""Read a float TFLite model file into a :class:`~hmh_train.nets.tflite_graph.TfliteGraph`.

The flatbuffer is parsed with the ``tflite`` package (TensorFlow Lite's schema as Python
classes; optional extra ``auto``). Constant tensors become numpy arrays; a DEQUANTIZE of a
float16 constant is folded into a float32 constant here, so the graph runs on float32 weights.
Only the first subgraph is read. Every problem (not a TFLite file, an op or tensor type this
runner does not support) is a :class:`~hmh_train.nets.tflite_graph.TfliteError` naming ``path``.
"""

from __future__ import annotations

import numpy as np

from hmh_train.nets.tflite_graph import TENSOR_DTYPES, TRANSPOSE_CONV_OP, Op, TfliteError, TfliteGraph

#: Message when the optional extra is not installed.
MISSING_EXTRA = (
    "the automatic mask needs the optional extra: pip install 'hmh-toolkit[auto]' (package tflite)"
)


def _schema():
    try:
        import tflite
    except ImportError:
        raise TfliteError(MISSING_EXTRA) from None
    return tflite


def _options(schema, op, kind: str) -> dict:
    """Options of a builtin op as a plain dict (padding, strides, activation, ...)."""
    table = op.BuiltinOptions()
    classes = {
        "CONV_2D": schema.Conv2DOptions,
        "DEPTHWISE_CONV_2D": schema.DepthwiseConv2DOptions,
        "AVERAGE_POOL_2D": schema.Pool2DOptions,
        "ADD": schema.AddOptions,
        "MUL": schema.MulOptions,
        "RESIZE_BILINEAR": schema.ResizeBilinearOptions,
    }
    if kind not in classes or table is None:
        return {}
    o = classes[kind]()
    o.Init(table.Bytes, table.Pos)
    if kind == "RESIZE_BILINEAR":
        return {"align_corners": bool(o.AlignCorners()), "half_pixel": bool(o.HalfPixelCenters())}
    out = {"activation": int(o.FusedActivationFunction())}
    if kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D"):
        out.update(same=o.Padding() == schema.Padding.SAME, stride=(o.StrideH(), o.StrideW()))
    if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        out["dilation"] = (o.DilationHFactor(), o.DilationWFactor())
    if kind == "AVERAGE_POOL_2D":
        out["filter"] = (o.FilterHeight(), o.FilterWidth())
    return out


def _transpose_conv_options(op) -> dict:
    """MediaPipe's custom options: a raw TfLiteTransposeConvParams-like struct of int32
    (padding: 1 SAME / 2 VALID, stride_width, stride_height)."""
    raw = op.CustomOptionsAsNumpy()
    fields = np.frombuffer(np.asarray(raw, np.uint8).tobytes()[:12], "<i4")
    if fields.size < 3 or fields[0] != 1:
        raise TfliteError("Convolution2DTransposeBias with other than SAME padding is not supported")
    return {"stride": (int(fields[2]), int(fields[1]))}


def _op_names(schema, model) -> list[str]:
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    kinds = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = names.get(builtin, str(builtin))
        if name == "CUSTOM":
            custom = code.CustomCode()
            name = "TRANSPOSE_CONV_BIAS" if custom == TRANSPOSE_CONV_OP else f"CUSTOM {custom!r}"
        kinds.append(name)
    return kinds


def _constants(model, graph) -> dict:
    """{tensor index: numpy array} of the tensors that carry data in the file."""
    out = {}
    for index in range(graph.TensorsLength()):
        tensor = graph.Tensors(index)
        data = model.Buffers(tensor.Buffer()).DataAsNumpy()
        if isinstance(data, int) or data.size == 0:
            continue  # no data: an activation
        if tensor.Type() not in TENSOR_DTYPES:
            raise TfliteError(f"tensor {tensor.Name()!r} has type {tensor.Type()}, not float32/float16/int32")
        shape = tuple(int(s) for s in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
        out[index] = np.frombuffer(data.tobytes(), TENSOR_DTYPES[tensor.Type()]).reshape(shape)
    return out


def read_tflite(data: bytes, path: str = "the model") -> TfliteGraph:
    """The runnable graph of a ``.tflite`` file's bytes (see the module docstring)."""
    schema = _schema()
    try:
        model = schema.Model.GetRootAsModel(data, 0)
        graph = model.Subgraphs(0)
        kinds = _op_names(schema, model)
        constants = _constants(model, graph)
    except TfliteError as exc:
        raise TfliteError(f"{path}: {exc}") from None
    except Exception as exc:  # a corrupt flatbuffer fails anywhere inside the schema classes
        raise TfliteError(f"{path}: not a readable TFLite model ({type(exc).__name__})") from None
    ops = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        kind = kinds[op.OpcodeIndex()]
        inputs, outputs = tuple(op.InputsAsNumpy().tolist()), tuple(op.OutputsAsNumpy().tolist())
        if kind == "DEQUANTIZE" and inputs[0] in constants:
            constants[outputs[0]] = constants[inputs[0]].astype(np.float32)
            continue
        if kind == "TRANSPOSE_CONV_BIAS":
            options = _transpose_conv_options(op)
        else:
            options = _options(schema, op, kind)
        ops.append(Op(kind, inputs, outputs, options))
    unsupported = sorted({op.kind for op in ops} - SUPPORTED)
    if unsupported:
        raise TfliteError(f"{path}: uses ops this runner does not support: {', '.join(unsupported)}")
    constants = {k: v.astype(np.float32) if v.dtype == np.float16 else v for k, v in constants.items()}
    graph_io = tuple(graph.InputsAsNumpy().tolist()), tuple(graph.OutputsAsNumpy().tolist())
    return TfliteGraph(ops, constants, *graph_io)


SUPPORTED = frozenset(
    {
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "AVERAGE_POOL_2D",
        "ADD",
        "MUL",
        "RELU",
        "HARD_SWISH",
        "LOGISTIC",
        "RESIZE_BILINEAR",
        "DEQUANTIZE",
        "TRANSPOSE_CONV_BIAS",
    }
)
