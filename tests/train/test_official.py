"""The published networks against the official code's outputs (``shared/anchors/``), the
official checkpoint layouts, and hostile / foreign / old files.

The anchors were made by running the authors' code (see ``shared/anchors/README.md``): seeded
random weights in the official file layouts, an input, and the official output in eval mode.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hmh_train.infer import protocols
from hmh_train.nets import build_harmonization_net, build_matting_net, count_parameters
from hmh_train.nets.official import dovenet_arch, indexnet_arch
from hmh_train.train import checkpoint as C

ANCHORS = Path(__file__).resolve().parents[2] / ".." / "shared" / "anchors"
INDEXNET = ANCHORS / "indexnet" / "indexnet_official_layout.pth.tar"
DOVENET = ANCHORS / "dovenet" / "dovenet_official_layout_ngf16.pth"
BEACH = ANCHORS / "indexnet" / "beach-747750_1280_2"
needs_anchors = pytest.mark.skipif(not ANCHORS.is_dir(), reason=f"no shared anchors at {ANCHORS}")


def raw_state(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def gray_level_agreement(ours: np.ndarray, official: np.ndarray) -> float:
    """Share of values within one gray level of the official ones."""
    assert ours.shape == official.shape and ours.dtype == official.dtype == np.uint8
    return float((np.abs(ours.astype(int) - official.astype(int)) <= 1).mean())


# ------------------------------------------------------------------ the anchors, numerically
@needs_anchors
def test_indexnet_matches_the_official_network_key_by_key_and_numerically():
    nets, config = C.load_nets(INDEXNET)
    assert nets.harmonization is None and nets.discriminator is None
    assert config["net_arch"] == {"matting": {"width": 1.0, "head": "published"}}
    official = raw_state(INDEXNET)["state_dict"]
    ours = nets.matting.state_dict()
    assert list(ours) == [k.removeprefix("module.") for k in official]  # same keys, same order
    assert all(torch.equal(ours[k.removeprefix("module.")], v) for k, v in official.items())
    assert count_parameters(nets.matting) == 5_953_515
    x = torch.from_numpy(np.load(ANCHORS / "indexnet" / "input.npy"))
    with torch.no_grad():
        y = nets.matting(x).numpy()
    reference = np.load(ANCHORS / "indexnet" / "output.npy")
    assert y.shape == reference.shape == (1, 1, 288, 448)
    assert np.abs(y - reference).max() <= 1e-4


@needs_anchors
def test_dovenet_unet_matches_the_official_network_key_by_key_and_numerically():
    nets, config = C.load_nets(DOVENET)
    assert nets.matting is None and nets.discriminator is None
    assert config["net_arch"] == {"harmonization": {"width": 0.25, "num_downs": 8, "norm": "batch"}}
    official = raw_state(DOVENET)
    assert list(nets.harmonization.state_dict()) == list(official)
    x = torch.from_numpy(np.load(ANCHORS / "dovenet" / "input.npy"))
    with torch.no_grad():
        y = nets.harmonization(x).numpy()
    reference = np.load(ANCHORS / "dovenet" / "output.npy")
    assert np.abs(y - reference).max() <= 1e-5
    # the inner skips carry LeakyReLU(x): with plain x the output is measurably different
    level = nets.harmonization.model.model[1]
    level.model[0].negative_slope = 1.0  # LeakyReLU(slope 1) = identity on the skip…
    with torch.no_grad():
        plain = nets.harmonization(x).numpy()  # …and on the down path (not the official net)
    assert np.abs(plain - reference).max() > 1e-3


@needs_anchors
def test_indexnet_demo_procedure_reproduces_the_official_input_and_matte():
    image = np.array(Image.open(f"{BEACH}.png").convert("RGB"))
    trimap = np.array(Image.open(f"{BEACH}_trimap.png"))
    x = protocols.indexnet_demo_input(image, trimap)
    np.testing.assert_allclose(x, np.load(ANCHORS / "indexnet" / "input.npy"), atol=1e-6, rtol=0)
    nets, _ = C.load_nets(INDEXNET)
    alpha = protocols.indexnet_demo_alpha(nets.matting, image, trimap)
    official = np.array(Image.open(f"{BEACH}_alpha_official_demo.png"))
    assert alpha.shape == image.shape[:2] == (283, 427)  # not a multiple of 32: resized up and back
    assert gray_level_agreement(alpha, official) >= 0.999
    assert (alpha[trimap != 128] == trimap[trimap != 128]).all()


@needs_anchors
def test_dovenet_test_procedure_reproduces_the_official_input_and_result():
    composite = np.array(Image.open(ANCHORS / "dovenet" / "composite.png").convert("RGB"))
    mask = np.array(Image.open(ANCHORS / "dovenet" / "mask.png").convert("L"))
    x, m = protocols.dovenet_inputs(composite, mask)
    reference = np.load(ANCHORS / "dovenet" / "input.npy")[0]
    np.testing.assert_allclose(x.transpose(2, 0, 1), reference[:3], atol=1e-6, rtol=0)
    np.testing.assert_array_equal(m, reference[3])
    nets, _ = C.load_nets(DOVENET)
    out = protocols.dovenet_harmonize(nets.harmonization, composite, mask)
    official = np.array(Image.open(ANCHORS / "dovenet" / "harmonized_official.png").convert("RGB"))
    assert gray_level_agreement(out, official) >= 0.999
    # another size: run at 256, the change carried back to full resolution
    big = np.array(Image.fromarray(composite).resize((320, 288), Image.BICUBIC))
    big_mask = np.array(Image.fromarray(mask).resize((320, 288), Image.NEAREST))
    out_big = protocols.dovenet_harmonize(nets.harmonization, big, big_mask)
    assert out_big.shape == big.shape and out_big.dtype == np.uint8
    assert np.abs(out_big.astype(int) - big).mean() > 1  # it did change colours


# ------------------------------------------------------------------ layouts read from tensors
@needs_anchors
def test_indexnet_layout_without_prefix_with_optimizer_and_numpy_logs(tmp_path):
    """A .pth.tar as IndexNet's training script writes it (no DataParallel prefix here, an
    optimizer state, numpy.float64 measures, old serialization, older numpy's module names, no
    num_batches_tracked): loads, and only the state_dict counts."""
    state = {
        k.removeprefix("module."): v
        for k, v in raw_state(INDEXNET)["state_dict"].items()
        if not k.endswith("num_batches_tracked")
    }
    blob = {
        "state_dict": state,
        "epoch": 30,
        "optimizer": {"state": {}, "param_groups": [{"lr": 0.01}]},
        "measure": {"sad": [np.float64(45.8)], "mse": [np.mean([0.01, 0.016])]},
    }
    path = tmp_path / "indexnet_matting.pth.tar"
    torch.save(blob, path, _use_new_zipfile_serialization=False)
    data = path.read_bytes()
    assert b"numpy._core.multiarray" in data
    path.write_bytes(data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    lines = []
    nets, _ = C.load_nets(path, log=lines.append)
    assert lines == [
        f"{path}: IndexNet .pth.tar -> matting (width 1.0, head published): "
        f"{len(state)} tensors matched, {549 - len(state)} missing (only num_batches_tracked, kept at 0); "
        "ignored epoch, measure, optimizer"
    ]
    x = torch.from_numpy(np.load(ANCHORS / "indexnet" / "input.npy"))
    with torch.no_grad():
        assert np.abs(nets.matting(x).numpy() - np.load(ANCHORS / "indexnet" / "output.npy")).max() <= 1e-4


def test_dovenet_instance_norm_variant_and_width_come_from_the_tensors(tmp_path):
    """DoveNet's training default (--norm instance): no norm tensors, biased convs; width and
    depth read from the file; a DataParallel prefix is stripped too."""
    torch.manual_seed(0)
    source = build_harmonization_net(0.125, num_downs=6, norm="instance").eval()
    state = source.state_dict()
    assert not any("running_mean" in k for k in state) and "model.model.1.model.1.bias" in state
    assert dovenet_arch(state) == {"width": 0.125, "num_downs": 6, "norm": "instance"}
    torch.save({"module." + k: v for k, v in state.items()}, tmp_path / "latest_net_G.pth")
    nets, config = C.load_nets(tmp_path / "latest_net_G.pth")
    assert config["net_arch"]["harmonization"] == {"width": 0.125, "num_downs": 6, "norm": "instance"}
    x = torch.rand(1, 4, 64, 64) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(nets.harmonization(x), source(x))


def test_wide_head_is_detected_and_round_trips(tmp_path):
    torch.manual_seed(0)
    source = build_matting_net(0.25, head="wide")
    assert indexnet_arch(source.state_dict()) == {"width": 0.25, "head": "wide"}
    torch.save({"state_dict": source.state_dict(), "epoch": 1}, tmp_path / "wide.pth.tar")
    nets, _ = C.load_nets(tmp_path / "wide.pth.tar")
    assert nets.matting.head == "wide" and nets.matting.width == 0.25


# ------------------------------------------------------------------ files that must be refused
def test_a_pickle_that_would_run_code_is_refused_and_never_executed(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "latest_net_G.pth"
    torch.save({"model.model.0.weight": torch.zeros(1), "x": Payload()}, path)
    with pytest.raises(C.CheckpointError) as info:
        C.load_nets(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    assert "refused" in message and "system" in message and "nothing in it was executed" in message
    assert not marker.exists()


def test_a_file_of_neither_layout_names_what_was_expected(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, path)
    with pytest.raises(C.CheckpointError) as info:
        C.load_nets(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: not a checkpoint this tool knows")
    for expected in ("hmh-train checkpoint", "IndexNet's released .pth.tar", "DoveNet's generator .pth"):
        assert expected in message
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(C.CheckpointError, match=r"junk.pth: not a PyTorch checkpoint \(a text file\)"):
        C.load_nets(junk)


def test_a_mismatched_tensor_is_named(tmp_path):
    torch.manual_seed(0)
    state = build_harmonization_net(0.125, num_downs=6).state_dict()
    state["model.model.1.attention.0.weight"] = torch.zeros(3, 3, 1, 1)
    torch.save(state, tmp_path / "g.pth")
    with pytest.raises(
        C.CheckpointError,
        match=r"g.pth: DoveNet generator .pth tensor "
        r"model.model.1.attention.0.weight is \(3, 3, 1, 1\)",
    ):
        C.load_nets(tmp_path / "g.pth")


def test_version_1_checkpoints_are_refused_with_one_line(tmp_path):
    path = tmp_path / "old.pt"
    torch.save({"format": C.CKPT_FORMAT, "version": 1, "nets": {}, "net_config": {}}, path)
    for loader in (C.load_nets, C.load):
        with pytest.raises(C.CheckpointError) as info:
            loader(path)
        assert "\n" not in str(info.value)
        assert "version 1 predates the published IndexNet and DoveNet U-Net" in str(info.value)
