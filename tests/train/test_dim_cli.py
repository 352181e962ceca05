"""Deep Image Matting wherever a matting network is taken, through the command line: ``matte``
(and its ``--scale``), ``eval --compare``, ``composite``, ``study make``, ``matting`` /
``joint`` with ``--matting-ckpt deep_matting.pth.tar`` and with ``--matting-net dim``.

CPU-sized: the released layout at width 1/16 (the released file is width 1, 130 M parameters;
``test_dim.py`` checks that one against the authors' code)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from hmh_train.infer import protocols
from hmh_train.nets.dim import DeepMatting
from hmh_train.train import checkpoint as C

from .cli_helpers import invoke, one_line_error
from .conftest import SMALL
from .test_dim import FIXTURES, fixture_inputs, save_dm, vgg16_bn_like
from .test_official import DOVENET, needs_anchors
from .tiny_ckpt import save_tiny_checkpoint

LOADED = "Deep Image Matting .pth.tar -> matting (net dim, width 0.0625): 107 tensors matched"


@pytest.fixture(scope="module")
def dm_file(tmp_path_factory):
    return save_dm(tmp_path_factory.mktemp("dm") / "deep_matting.pth.tar", seed=5)


def test_matte_runs_the_demo_at_full_and_half_size(dm_file, tmp_path):
    image, trimap = fixture_inputs()
    outputs = {}
    runs = (("full", []), ("half", ["--scale", "0.5"]), ("half-exact", ["--scale", "0.5", "--exact"]))
    for tag, extra in runs:
        out = tmp_path / f"{tag}.png"
        result = invoke(
            "matte", "--ckpt", dm_file, "--image", FIXTURES / "image.png", "--trimap",
            FIXTURES / "trimap.png", "--out", out, *extra,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert LOADED in result.output
        outputs[tag] = np.array(Image.open(out)).astype(int)
    nets, _ = C.load_nets(dm_file)
    demo = {
        "full": protocols.dim_demo_alpha(nets.matting, image, trimap),
        "half": protocols.dim_demo_alpha(nets.matting, image, trimap, 0.5),
    }
    np.testing.assert_array_equal(outputs["half-exact"], demo["half"])  # --exact: the demo itself
    for tag in ("full", "half"):  # the default fast forward: within one gray level of it
        assert np.abs(outputs[tag] - demo[tag]).max() <= 1, tag
    assert not np.array_equal(outputs["full"], outputs["half"])
    known = trimap != 128
    np.testing.assert_array_equal(outputs["half"][known], trimap[known])
    # batch form with --scale, and a scale outside (0, 1] refused in one line
    images, trimaps = tmp_path / "images", tmp_path / "trimaps"
    images.mkdir(), trimaps.mkdir()
    shutil.copy(FIXTURES / "image.png", images / "beach.png")
    shutil.copy(FIXTURES / "trimap.png", trimaps / "beach.png")
    result = invoke(
        "matte", "--ckpt", dm_file, "--images", images, "--trimaps", trimaps, "--out",
        tmp_path / "alphas", "--scale", "0.5", "--no-progress",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.array(Image.open(tmp_path / "alphas" / "beach.png")), outputs["half"])
    assert outputs["half"].dtype == int
    error = one_line_error(
        invoke(
            "matte",
            "--ckpt",
            dm_file,
            "--image",
            FIXTURES / "image.png",
            "--trimap",
            FIXTURES / "trimap.png",
            "--out",
            tmp_path / "x.png",
            "--scale",
            "1.5",
        )  # fmt: skip
    )
    assert "--scale must be in (0, 1], got 1.5" in error
    Image.fromarray(image[:3, :3]).save(tmp_path / "tiny.png")
    Image.fromarray(trimap[:3, :3]).save(tmp_path / "tiny_t.png")
    error = one_line_error(
        invoke(
            "matte",
            "--ckpt",
            dm_file,
            "--image",
            tmp_path / "tiny.png",
            "--trimap",
            tmp_path / "tiny_t.png",
            "--out",
            tmp_path / "x.png",
            "--scale",
            "0.1",
        )  # fmt: skip
    )
    assert "tiny.png: a 3×3 image cannot be shrunk by 0.1" in error


def test_help_states_the_parameter_count_and_memory():
    for args in (["matte", "--help"], ["matting", "--help"]):
        result = invoke(*args)
        text = " ".join(result.output.split())
        assert "130,545,345 parameters" in text and "1 MP" in text, args


def test_eval_compare_gives_dm_a_matting_row(shards, dm_file, tmp_path):
    run = save_tiny_checkpoint(tmp_path / "joint")
    result = invoke(
        "eval", "--ckpt", run, "--compare", dm_file, "--shards", shards, "--out", tmp_path / "eval",
        "--no-progress", "--limit", 2,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert LOADED in result.output
    runs = json.loads((tmp_path / "eval" / "summary.json").read_text())["runs"]
    assert set(runs) == {"joint", "deep_matting"}
    assert {"sad", "alpha_mse", "grad", "conn"} <= set(runs["deep_matting"]) and "harm_mse" not in runs[
        "deep_matting"
    ]


@needs_anchors
def test_composite_takes_dm_with_the_released_dovenet(dm_file, tmp_path):
    Image.fromarray(np.full((100, 140, 3), (20, 90, 200), np.uint8)).save(tmp_path / "bg.png")
    result = invoke(
        "composite", "--ckpt", dm_file, "--ckpt", DOVENET, "--image", FIXTURES / "image.png",
        "--trimap", FIXTURES / "trimap.png", "--background", tmp_path / "bg.png", "--out",
        tmp_path / "c.png",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert LOADED in result.output and "-> harmonization" in result.output
    assert np.array(Image.open(tmp_path / "c.png")).shape == (212, 320, 3)


def test_training_starts_from_the_released_dm_file_and_builds_dm_fresh(shards, dm_file, tmp_path):
    result = invoke("matting", "--shards", shards, "--out", tmp_path / "ft", "--max-steps", 1,
                    "--matting-ckpt", dm_file, *SMALL)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert LOADED in result.output
    saved = C.load(tmp_path / "ft" / "checkpoints" / "last.pt")
    assert saved["net_arch"]["matting"] == {"net": "dim", "width": 0.0625}
    released = {
        k.removeprefix("module."): v for k, v in torch.load(dm_file, weights_only=True)["state_dict"].items()
    }
    moved = [k for k, v in saved["nets"]["matting"].items() if not torch.equal(v, released[k])]
    assert moved and set(saved["nets"]["matting"]) == set(released)
    # joint from the released DM file keeps its width; the U-Net and critic are fresh
    result = invoke("joint", "--shards", shards, "--out", tmp_path / "joint-ft", "--max-steps", 1,
                    "--matting-ckpt", dm_file, *SMALL)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert LOADED in result.output
    saved = C.load(tmp_path / "joint-ft" / "checkpoints" / "last.pt")
    assert saved["net_arch"]["matting"] == {"net": "dim", "width": 0.0625}
    assert saved["net_arch"]["harmonization"]["width"] == 0.25
    # joint with a fresh DM (beyond the paper), resumed with the architecture it recorded
    result = invoke("joint", "--shards", shards, "--out", tmp_path / "joint", "--max-steps", 1,
                    "--matting-net", "dim", *SMALL)  # fmt: skip
    assert result.exit_code == 0, result.output
    saved = C.load(tmp_path / "joint" / "checkpoints" / "last.pt")
    assert saved["config"]["matting_net"] == "dim"
    assert saved["net_arch"]["matting"] == {"net": "dim", "width": 0.25}
    result = invoke("joint", "--resume", tmp_path / "joint", "--max-steps", 2)
    assert result.exit_code == 0, result.output
    nets, _ = C.load_nets(tmp_path / "joint")
    assert isinstance(nets.matting, DeepMatting)
    # the joint DM run is a method of a study like any run
    result = invoke(
        "study", "make", "--no-progress", "--ckpt", tmp_path / "joint", "--shards", shards, "--n", 2,
        "--out", tmp_path / "study",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "2 samples × 2 methods (I_d, joint)" in result.output


def test_matting_net_dim_takes_vgg16_bn_weights_and_refuses_indexnet_settings(shards, tmp_path):
    weights = tmp_path / "vgg16_bn.pth"
    torch.save(vgg16_bn_like(0.25), weights)
    result = invoke("matting", "--shards", shards, "--out", tmp_path / "v", "--matting-net", "dim",
                    "--backbone-weights", weights, "--max-steps", 1, *SMALL)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "backbone (torchvision vgg16_bn): 80 tensors loaded, 0 missing, 1 unused in file" in result.output
    error = one_line_error(
        invoke(
            "matting",
            "--shards",
            shards,
            "--out",
            tmp_path / "r",
            "--matting-net",
            "dim",
            "--matting-head",
            "wide",
            *SMALL,
        )  # fmt: skip
    )
    assert "matting_head" in error and "matting_net dim" in error


def test_summary_builds_dm_as_the_matting_net():
    result = invoke(
        "summary", "--matting-net", "dim", "--width", "0.0625", "--size", "64", "--num-downs", "6"
    )
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("matting"))
    assert row.split()[:4] == ["matting", "(Deep", "Image", "Matting)"]
    assert int(row.split()[4].replace(",", "")) == sum(p.numel() for p in DeepMatting(0.0625).parameters())
    assert "(1, 1, 64, 64)" in row


def test_python_api_takes_the_dm_file(dm_file):
    import hmh_train as hmh

    image, trimap = fixture_inputs()
    model = hmh.load(dm_file)
    nets, _ = C.load_nets(dm_file)
    exact = model.matte(image, trimap=trimap, scale=0.5, exact=True)
    np.testing.assert_array_equal(exact, protocols.dim_demo_alpha(nets.matting, image, trimap, 0.5))
    fast = model.matte(image, trimap=trimap).astype(int)
    assert np.abs(fast - protocols.dim_demo_alpha(nets.matting, image, trimap)).max() <= 1
