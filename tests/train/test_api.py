"""The Python API (``hmh_train.load`` → ``Model``): what it loads, that it computes what the
commands compute, the fast matting path against IndexNet's demo, and its one-line errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import hmh_train as hmh
from hmh_train.infer import ops, protocols
from hmh_train.infer.files import CompositeError
from hmh_train.infer.matte import fold_batch_norm
from hmh_train.nets import build_matting_net
from hmh_train.nets.forward import region_mask

from .test_official import ANCHORS, BEACH, DOVENET, INDEXNET, gray_level_agreement, needs_anchors
from .tiny_ckpt import save_tiny_checkpoint


def beach():
    return np.array(Image.open(f"{BEACH}.png").convert("RGB")), np.array(Image.open(f"{BEACH}_trimap.png"))


def test_importing_the_package_loads_no_network_code():
    code = "import sys, hmh_train; assert 'torch' not in sys.modules; hmh_train.load; assert 'torch' in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0
    with pytest.raises(AttributeError, match="no attribute 'lod'"):
        hmh.lod  # noqa: B018


def test_folding_batch_norm_keeps_the_function():
    torch.manual_seed(0)
    net = build_matting_net(0.25).eval()
    for module in net.modules():  # non-trivial running statistics, as a trained file has
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5), module.running_var.uniform_(0.5, 2.0)
    x = torch.randn(1, 4, 64, 96)
    with torch.no_grad():
        before = net(x)
        assert fold_batch_norm(net) > 50
        after = net(x)
    assert torch.allclose(before, after, atol=1e-4)


@needs_anchors
def test_matte_exact_is_the_demo_and_fast_is_within_one_gray_level():
    image, trimap = beach()
    model = hmh.load(INDEXNET)
    fast = model.matte(image, trimap)
    net = model.network("matting")
    exact = model.matte(image, trimap, exact=True)
    assert np.array_equal(exact, protocols.indexnet_demo_alpha(net, image, trimap))
    assert np.abs(fast.astype(int) - exact.astype(int)).max() <= 1
    official = np.array(Image.open(f"{BEACH}_alpha_official_demo.png"))
    assert gray_level_agreement(fast, official) >= 0.999
    assert model.network("matting") is net  # the fast copy leaves the loaded network alone
    assert not any(isinstance(m, torch.nn.Identity) for m in net.modules())


@needs_anchors
def test_load_merges_files_and_compose_is_the_composite_procedure():
    lines = []
    model = hmh.load(INDEXNET, DOVENET, log=lines.append)
    assert len(lines) == 2 and model.loaded == tuple(lines)
    assert model.side is None and model.harmonizer_output == "paper"
    image, trimap = beach()
    background = np.array(Image.open(ANCHORS / "dovenet" / "composite.png").convert("RGB"))
    made = model.compose(image, background, trimap=trimap)
    fitted = ops.fit_background(background, *image.shape[:2])
    with torch.no_grad():
        expected = ops.compose(
            model.nets, ops.to_tensor(image), ops.to_tensor(fitted), trimap=ops.trimap_to_unit(trimap)
        )
    for key in ("alpha", "composite", "harmonized"):
        assert np.array_equal(getattr(made, key), ops.to_uint8(expected[key])), key
    given = model.compose(image, background, alpha=made.alpha)
    assert np.array_equal(given.alpha, made.alpha) and np.array_equal(given.final, given.harmonized)


def test_harmonize_batch_is_the_evaluation_procedure(tmp_path):
    model = hmh.load(save_tiny_checkpoint(tmp_path / "run", ("harmonization",)))
    rng = np.random.default_rng(0)
    comps = rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (2, 64, 64), dtype=np.uint8)
    got = model.harmonize_batch(comps, alpha=alpha, side="foreground")
    with torch.no_grad():
        comp01 = torch.from_numpy(comps).permute(0, 3, 1, 2).float() / 255
        region = region_mask(torch.from_numpy(alpha)[:, None].float() / 255, "foreground")
        want = ops.harmonize_any_size(model.nets.harmonization, comp01, region, output="paper")
    assert np.array_equal(got, (want.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy())


def test_api_errors_are_one_line(tmp_path):
    model = hmh.load(save_tiny_checkpoint(tmp_path / "run", ("harmonization",)))
    image = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(CompositeError, match=r"run: holds no matting network \(give IndexNet"):
        model.matte(image, np.zeros((64, 64), np.uint8))
    with pytest.raises(CompositeError, match="holds no matting network"):
        model.matte(image)  # neither trimap nor mask: the automatic mask, which needs the net
    with pytest.raises(CompositeError, match="image must be uint8 \\(H, W, 3\\) RGB, got float64"):
        model.matte(np.zeros((64, 64, 3)), trimap=np.zeros((64, 64), np.uint8))
    with pytest.raises(CompositeError, match="exactly one of a trimap, an alpha or a mask"):
        model.compose(image, image, trimap=image[..., 0], mask=image[..., 0])
    with pytest.raises(CompositeError, match="--size 100 is not a multiple of 32"):
        model.harmonize(image, np.zeros((64, 64), np.uint8), size=100)
    with pytest.raises(CompositeError, match="at least one checkpoint"):
        hmh.load()
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(ValueError, match=r"notes.txt: not a PyTorch checkpoint \(a text file\)$"):
        hmh.load(tmp_path / "notes.txt")
