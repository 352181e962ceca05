"""``hmh-train export``: ONNX files that ONNX Runtime runs within 1e-4 of PyTorch on real
images (the anchors' inputs are real photographs), any matting size, the spec JSON, and the
one-line message without the optional packages."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import hmh_train as hmh
from hmh_train.infer import export
from hmh_train.infer.files import CompositeError

from .cli_helpers import invoke
from .test_official import ANCHORS, BEACH, DOVENET, INDEXNET, gray_level_agreement, needs_anchors

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx")
    result = invoke("export", "--ckpt", INDEXNET, "--ckpt", DOVENET, "--onnx", out)
    assert result.exit_code == 0, result.output
    assert "harmonization.onnx (harmonization); ONNX Runtime vs PyTorch: max |difference|" in result.output
    return out


@needs_anchors
def test_onnx_runtime_matches_pytorch_on_real_images(exported):
    model = hmh.load(INDEXNET, DOVENET)
    for name, folder, output in (("matting", "indexnet", "alpha_raw"), ("harmonization", "dovenet", "image")):
        x = np.load(ANCHORS / folder / "input.npy")
        session = export.onnx_session(str(exported / f"{name}.onnx"))
        assert [o.name for o in session.get_outputs()] == [output]
        got = session.run(None, {"input": x})[0]
        with torch.no_grad():
            want = getattr(model.nets, name)(torch.from_numpy(x)).numpy()
        assert np.abs(got - want).max() <= 1e-4, name
        assert np.abs(got - np.load(ANCHORS / folder / "output.npy")).max() <= 1e-4, name  # the official


@needs_anchors
def test_the_matting_file_takes_any_size_and_runs_the_demo(exported):
    session = export.onnx_session(str(exported / "matting.onnx"))
    image = np.array(Image.open(f"{BEACH}.png").convert("RGB"))
    trimap = np.array(Image.open(f"{BEACH}_trimap.png"))
    official = np.array(Image.open(f"{BEACH}_alpha_official_demo.png"))
    assert gray_level_agreement(export.onnx_alpha(session, image, trimap), official) >= 0.999
    small = session.run(None, {"input": np.zeros((1, 4, 64, 32), np.float32)})[0]
    assert small.shape == (1, 1, 64, 32)


@needs_anchors
def test_the_spec_describes_both_networks(exported):
    spec = json.loads((exported / export.SPEC_FILE).read_text())
    assert spec["format"] == "hmh-onnx" and spec["version"] == export.SPEC_VERSION
    assert spec["sources"] == [INDEXNET.name, DOVENET.name]  # names only, no local paths
    matting, harmonization = spec["networks"]["matting"], spec["networks"]["harmonization"]
    assert matting["input"]["shape"] == [1, 4, "H", "W"] and matting["mean"][:3] == [0.485, 0.456, 0.406]
    assert harmonization["input"]["shape"] == [1, 4, 256, 256] and harmonization["output_form"] == "paper"


@needs_anchors
def test_the_onnxruntime_engine_of_matte_is_within_one_gray_level_of_the_demo():
    model = hmh.load(INDEXNET)
    image = np.array(Image.open(f"{BEACH}.png").convert("RGB"))
    trimap = np.array(Image.open(f"{BEACH}_trimap.png"))
    exact = model.matte(image, trimap, exact=True)
    for engine in ("onnxruntime", "torch", "auto"):
        fast = model.matte(image, trimap, engine=engine)
        assert np.abs(fast.astype(int) - exact.astype(int)).max() <= 1, engine
    assert set(model.fast_matting) == {"onnxruntime", "torch"}  # auto = onnxruntime on the CPU


def test_missing_packages_are_one_line():
    with pytest.raises(CompositeError, match=r"pip install 'hmh-toolkit\[onnx\]'"):
        export.require("no_such_module_here")
