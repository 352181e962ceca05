"""ONNX export of a loaded model (``hmh-train export``) and running the files with ONNX Runtime.

``export_onnx`` writes into a folder:

- ``matting.onnx``: IndexNet, input ``input`` float32 ``(1, 4, H, W)`` (H, W any multiples of
  32: dynamic axes) = ImageNet-normalised RGB + trimap/255, output ``alpha_raw`` ``(1, 1, H, W)``
  (raw; clip at test time);
- ``harmonization.onnx``: the U-Net, input ``input`` float32 ``(1, 4, S, S)`` (S = 256 by
  default) = RGB in [−1, 1] + mask in {0, 1}, output ``image`` ``(1, 3, S, S)`` in [−1, 1];
- ``hmh-onnx.json``: their pre- and post-processing (``SPEC_VERSION``), the procedures of
  ``infer.protocols`` in words and numbers, so another runtime can reproduce them.

Both networks are exported in eval mode with batch norm folded by the exporter's constant
folding; ``onnxruntime`` runs them within 1e-4 of PyTorch (tested on real images). The
``onnx`` and ``onnxruntime`` packages are the optional extra ``hmh-toolkit[onnx]``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import torch

from hmh_builder.fsio import atomic_write_text
from hmh_train.infer.files import CompositeError
from hmh_train.infer.protocols import (
    DEMO_MEAN,
    DEMO_STD,
    DEMO_STRIDE,
    DOVENET_SIZE,
    indexnet_demo_input,
    indexnet_demo_output,
)

MATTING_FILE = "matting.onnx"
HARMONIZATION_FILE = "harmonization.onnx"
SPEC_FILE = "hmh-onnx.json"
SPEC_VERSION = 1
OPSET = 17
MISSING = "{what} needs the optional packages onnx and onnxruntime: pip install 'hmh-toolkit[onnx]'"


def require(module: str, what: str = "ONNX export"):
    """The imported ``module`` ("onnx", "onnxruntime"); CompositeError (one line) when absent."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise CompositeError(MISSING.format(what=what)) from None


def matting_spec() -> dict:
    """Pre/post-processing of ``matting.onnx``: IndexNet's demo (``protocols.indexnet_demo_alpha``)."""
    return {
        "file": MATTING_FILE,
        "input": {"name": "input", "shape": [1, 4, "H", "W"], "dtype": "float32", "multiple_of": DEMO_STRIDE},
        "output": {"name": "alpha_raw", "shape": [1, 1, "H", "W"], "dtype": "float32"},
        "preprocess": [
            "stack RGB (uint8) and trimap (uint8: 0 bg, 128 unknown, 255 fg) to H×W×4 float32, × 1/255",
            "subtract mean, divide by std per channel (float64, then float32)",
            f"resize up to the next multiple of {DEMO_STRIDE}: RGB with cv2.INTER_CUBIC, trimap with "
            "cv2.INTER_NEAREST; transpose to 1×4×H'×W'",
        ],
        "mean": DEMO_MEAN.ravel().tolist(),
        "std": DEMO_STD.ravel().tolist(),
        "postprocess": [
            "resize the raw output back to H×W with cv2.INTER_CUBIC, clip to [0, 1], × 255",
            "where the trimap is not 128, take the trimap's value",
            "cast to uint8 by truncation",
        ],
    }


def harmonization_spec(size: int, output_form: str) -> dict:
    """Pre/post-processing of ``harmonization.onnx``: DoveNet's test transforms."""
    return {
        "file": HARMONIZATION_FILE,
        "input": {"name": "input", "shape": [1, 4, size, size], "dtype": "float32"},
        "output": {"name": "image", "shape": [1, 3, size, size], "dtype": "float32"},
        "preprocess": [
            f"composite RGB resized to {size}×{size} with PIL bilinear, /255, (x − 0.5)/0.5",
            "mask of the region to adjust (255 = adjust) as a PIL 1-bit image, resized nearest, {0, 1}",
            "concatenate composite and mask channels: 1×4×S×S",
        ],
        "output_form": output_form,
        "postprocess": [
            "paper form: (y + 1)/2 × 255, truncated to uint8",
            "other sizes: the change (output − resized composite) resized back bilinearly and added "
            "to the full-size composite, clipped to [0, 255]",
        ],
    }


def onnx_bytes(net: torch.nn.Module, example: torch.Tensor, output: str, dynamic: bool) -> bytes:
    """The ONNX model of ``net`` (put in eval mode; CPU float32) traced on ``example``: input
    ``input``, output ``output``, height and width dynamic when ``dynamic``."""
    import io
    import warnings

    require("onnx")
    net = net.eval()
    axes = {"input": {2: "height", 3: "width"}, output: {2: "height", 3: "width"}} if dynamic else None
    buffer = io.BytesIO()
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes on shape checks inside the networks
        torch.onnx.export(
            net,
            (example,),
            buffer,  # type: ignore[arg-type]  # a file object works; the stubs say path
            input_names=["input"],
            output_names=[output],
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    return buffer.getvalue()


def export_net(net: torch.nn.Module, example: torch.Tensor, path: str, output: str, dynamic: bool) -> None:
    """``onnx_bytes`` written to ``path`` (through a temporary name: never half a file)."""
    data = onnx_bytes(net, example, output, dynamic)
    with open(f"{path}.tmp", "wb") as handle:
        handle.write(data)
    os.replace(f"{path}.tmp", path)


def export_onnx(model, out_dir: str, harmonize_size: int = DOVENET_SIZE) -> dict:
    """Write the model's networks and ``hmh-onnx.json`` into ``out_dir``; returns the spec dict.
    ``model``: an ``infer.model.Model`` (on any device; exported from a CPU copy)."""
    import copy

    require("onnx")
    os.makedirs(out_dir, exist_ok=True)
    spec: dict[str, Any] = {
        "format": "hmh-onnx",
        "version": SPEC_VERSION,
        "opset": OPSET,
        "sources": [],
        "networks": {},
    }
    spec["sources"] = [os.path.basename(p.rstrip("/")) for p in model.sources]
    generator = torch.Generator().manual_seed(0)
    if model.nets.matting is not None:
        net = copy.deepcopy(model.nets.matting).cpu()
        example = torch.randn(1, 4, 64, 96, generator=generator)
        export_net(net, example, os.path.join(out_dir, MATTING_FILE), "alpha_raw", dynamic=True)
        spec["networks"]["matting"] = matting_spec()
    if model.nets.harmonization is not None:
        net = copy.deepcopy(model.harmonize_size_check(harmonize_size)).cpu()
        example = torch.randn(1, 4, harmonize_size, harmonize_size, generator=generator)
        export_net(net, example, os.path.join(out_dir, HARMONIZATION_FILE), "image", dynamic=False)
        spec["networks"]["harmonization"] = harmonization_spec(harmonize_size, model.harmonizer_output)
    atomic_write_text(os.path.join(out_dir, SPEC_FILE), json.dumps(spec, indent=2) + "\n")
    return spec


def onnx_session(model: str | bytes, threads: int = 0):
    """An ``onnxruntime.InferenceSession`` (CPU, all graph optimisations) of an ONNX file path
    or model bytes; ``threads`` 0 = ONNX Runtime's choice (one per physical core)."""
    ort = require("onnxruntime", "running an ONNX file")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def onnx_alpha(session, image_rgb_uint8: np.ndarray, trimap_uint8: np.ndarray) -> np.ndarray:
    """Alpha uint8 ``(H, W)`` by IndexNet's demo procedure with ``matting.onnx`` run in
    ``session`` (``onnx_session``) instead of PyTorch."""
    x = indexnet_demo_input(image_rgb_uint8, trimap_uint8)
    raw = session.run(None, {"input": x})[0]
    return indexnet_demo_output(np.asarray(raw, np.float32).squeeze(), trimap_uint8)


def parity(path: str, net: torch.nn.Module, x: np.ndarray) -> float:
    """Largest absolute difference between ONNX Runtime running ``path`` and PyTorch running
    ``net`` (eval mode, on the CPU) on the float32 input ``x``."""
    session = onnx_session(path)
    with torch.inference_mode():
        want = net.cpu().eval()(torch.from_numpy(x)).float().numpy()
    got = np.asarray(session.run(None, {"input": x})[0], np.float32)
    return float(np.abs(got - want).max())


def export_checked(model, out_dir: str, harmonize_size: int = DOVENET_SIZE) -> dict:
    """``export_onnx``, then ONNX Runtime against PyTorch on a seeded input per network
    (``parity``); returns the spec with ``"parity"``: {network: max abs difference}."""
    import copy

    spec = export_onnx(model, out_dir, harmonize_size)
    rng = np.random.default_rng(0)
    shapes = {"matting": (1, 4, 96, 160), "harmonization": (1, 4, harmonize_size, harmonize_size)}
    spec["parity"] = {}
    for name, entry in spec["networks"].items():
        x = rng.standard_normal(shapes[name]).astype(np.float32)
        net = copy.deepcopy(getattr(model.nets, name))
        spec["parity"][name] = parity(os.path.join(out_dir, entry["file"]), net, x)
    return spec
