"""The released files through the command line: ``matte``, ``harmonize``, ``composite``,
``eval --compare`` (Table 1's IN and DN rows) and the paper's fine-tuning / joint training
started from them, on the shared anchor checkpoints (``shared/anchors/``)."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from hmh_builder.cli import main as build_main
from hmh_builder.ingest.synthetic import write_kaggle_layout
from hmh_train.train import checkpoint as C

from .cli_helpers import invoke as _invoke
from .cli_helpers import one_line_error as _one_line_error
from .test_official import ANCHORS, BEACH, DOVENET, INDEXNET, gray_level_agreement, needs_anchors
from .tiny_ckpt import save_tiny_checkpoint

pytestmark = needs_anchors


def test_matte_single_and_batch_follow_the_official_demo(tmp_path):
    official = np.array(Image.open(f"{BEACH}_alpha_official_demo.png"))
    result = _invoke(
        "matte",
        "--ckpt",
        INDEXNET,
        "--image",
        f"{BEACH}.png",
        "--trimap",
        f"{BEACH}_trimap.png",
        "--out",
        tmp_path / "alpha.png",
    )
    assert result.exit_code == 0, result.output
    assert (
        "IndexNet .pth.tar -> matting (width 1.0, head published): 549 tensors matched, none missing"
        in result.output
    )
    assert gray_level_agreement(np.array(Image.open(tmp_path / "alpha.png")), official) >= 0.999
    assert "matting: IndexNet's demo procedure, fast forward pass on" in result.output
    fast = np.array(Image.open(tmp_path / "alpha.png"))
    result = _invoke(
        "matte",
        "--ckpt",
        INDEXNET,
        "--image",
        f"{BEACH}.png",
        "--trimap",
        f"{BEACH}_trimap.png",
        "--out",
        tmp_path / "exact.png",
        "--exact",
    )
    assert (
        result.exit_code == 0
        and "matting: IndexNet's demo code path, step by step (--exact)" in result.output
    )
    exact = np.array(Image.open(tmp_path / "exact.png"))
    assert np.abs(fast.astype(int) - exact.astype(int)).max() <= 1
    assert gray_level_agreement(exact, official) >= 0.999
    # batch: the photograph, a smaller copy (another size), and an image without a trimap
    images, trimaps = tmp_path / "images", tmp_path / "trimaps"
    images.mkdir(), trimaps.mkdir()
    shutil.copy(f"{BEACH}.png", images / "beach.png")
    shutil.copy(f"{BEACH}_trimap.png", trimaps / "beach.png")
    Image.open(f"{BEACH}.png").resize((150, 100)).save(images / "small.png")
    Image.open(f"{BEACH}_trimap.png").resize((150, 100), Image.NEAREST).save(trimaps / "small.png")
    shutil.copy(f"{BEACH}.png", images / "lonely.png")
    result = _invoke(
        "matte",
        "--ckpt",
        INDEXNET,
        "--images",
        images,
        "--trimaps",
        trimaps,
        "--out",
        tmp_path / "alphas",
        "--no-progress",
    )
    assert result.exit_code == 3, result.output  # one input failed, others written
    assert "wrote 2 alpha mattes" in result.output
    np.testing.assert_array_equal(
        np.array(Image.open(tmp_path / "alphas" / "beach.png")), np.array(Image.open(tmp_path / "alpha.png"))
    )
    assert np.array(Image.open(tmp_path / "alphas" / "small.png")).shape == (100, 150)
    with open(tmp_path / "alphas" / "failures.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["image"] for r in rows] == ["lonely"] and "no file with this name" in rows[0]["reason"]


def test_harmonize_single_and_batch_follow_dovenets_test_transforms(tmp_path):
    official = np.array(Image.open(ANCHORS / "dovenet" / "harmonized_official.png").convert("RGB"))
    composite, mask = ANCHORS / "dovenet" / "composite.png", ANCHORS / "dovenet" / "mask.png"
    result = _invoke(
        "harmonize", "--ckpt", DOVENET, "--image", composite, "--mask", mask, "--out", tmp_path / "h.png"
    )
    assert result.exit_code == 0, result.output
    assert "DoveNet generator .pth -> harmonization (width 0.25, num_downs 8, norm batch)" in result.output
    assert gray_level_agreement(np.array(Image.open(tmp_path / "h.png")), official) >= 0.999
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir(), masks.mkdir()
    Image.open(composite).resize((300, 200)).save(images / "wide.png")
    Image.open(mask).resize((300, 200), Image.NEAREST).save(masks / "wide.png")
    result = _invoke(
        "harmonize",
        "--ckpt",
        DOVENET,
        "--images",
        images,
        "--masks",
        masks,
        "--out",
        tmp_path / "out",
        "--no-progress",
    )
    assert result.exit_code == 0, result.output
    assert np.array(Image.open(tmp_path / "out" / "wide.png")).shape == (200, 300, 3)


def test_commands_refuse_the_wrong_network_and_hostile_files_in_one_line(tmp_path):
    line = _one_line_error(
        _invoke(
            "harmonize",
            "--ckpt",
            INDEXNET,
            "--image",
            f"{BEACH}.png",
            "--mask",
            f"{BEACH}_trimap.png",
            "--out",
            tmp_path / "h.png",
        )
    )
    assert "holds no harmonization network" in line
    trimap = np.array(Image.open(f"{BEACH}_trimap.png"))
    trimap[0, 0] = 127  # e.g. a JPEG-damaged trimap
    Image.fromarray(trimap).save(tmp_path / "t.png")
    line = _one_line_error(
        _invoke(
            "matte",
            "--ckpt",
            INDEXNET,
            "--image",
            f"{BEACH}.png",
            "--trimap",
            tmp_path / "t.png",
            "--out",
            tmp_path / "a.png",
        )
    )
    assert "t.png: trimap has values other than 0, 128, 255 (e.g. 127)" in line
    marker = tmp_path / "ran"
    payload = tmp_path / "evil.pth.tar"
    payload.write_bytes(_hostile_pickle(f"touch {marker}"))
    line = _one_line_error(
        _invoke(
            "matte",
            "--ckpt",
            payload,
            "--image",
            f"{BEACH}.png",
            "--trimap",
            f"{BEACH}_trimap.png",
            "--out",
            tmp_path / "a.png",
        )
    )
    assert "refused" in line and not marker.exists()


def _hostile_pickle(command: str) -> bytes:
    """A legacy-format torch file whose pickle would call os.system(command) when unpickled."""
    import io
    import os

    class Payload:
        def __reduce__(self):
            return (os.system, (command,))

    buffer = io.BytesIO()
    torch.save(
        {"state_dict": {"layer0.0.weight": torch.zeros(1)}, "epoch": Payload()},
        buffer,
        _use_new_zipfile_serialization=False,
    )
    return buffer.getvalue()


def test_composite_takes_the_two_released_files_together(tmp_path):
    image = np.array(Image.open(f"{BEACH}.png").convert("RGB"))[:, :288]
    Image.fromarray(image).save(tmp_path / "p.png")
    Image.fromarray(np.array(Image.open(f"{BEACH}_trimap.png"))[:, :288]).save(tmp_path / "t.png")
    Image.fromarray(np.full((120, 160, 3), (20, 90, 200), np.uint8)).save(tmp_path / "bg.png")
    result = _invoke(
        "composite",
        "--ckpt",
        INDEXNET,
        "--ckpt",
        DOVENET,
        "--image",
        tmp_path / "p.png",
        "--trimap",
        tmp_path / "t.png",
        "--background",
        tmp_path / "bg.png",
        "--out",
        tmp_path / "c.png",
    )
    assert result.exit_code == 0, result.output
    assert "wrote the harmonized composite" in result.output
    assert "-> matting" in result.output and "-> harmonization" in result.output


@pytest.fixture(scope="module")
def shards256(tmp_path_factory):
    """A 256×256 build: the released U-Net has num_downs 8 and trains only at multiples of 256."""
    tmp = tmp_path_factory.mktemp("build256")
    write_kaggle_layout(tmp / "src", 5, seed=1, height=96, width=80)
    result = CliRunner().invoke(
        build_main,
        [
            "build",
            "--src",
            str(tmp / "src"),
            "--out",
            str(tmp / "shards"),
            "--size",
            "256",
            "--workers",
            "1",
            "--test-fraction",
            "0.4",
            "--seed",
            "1",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    return tmp / "shards"


def test_eval_compares_a_run_with_the_released_indexnet_and_dovenet(shards, tmp_path):
    run = save_tiny_checkpoint(tmp_path / "joint")
    result = _invoke(
        "eval",
        "--ckpt",
        run,
        "--compare",
        INDEXNET,
        "--compare",
        DOVENET,
        "--shards",
        shards,
        "--out",
        tmp_path / "eval",
        "--no-progress",
        "--limit",
        2,
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    runs = summary["runs"]
    assert set(runs) == {"joint", "indexnet_official_layout", "dovenet_official_layout_ngf16"}
    assert "sad" in runs["indexnet_official_layout"] and "harm_mse" not in runs["indexnet_official_layout"]
    assert (
        "harm_mse" in runs["dovenet_official_layout_ngf16"]
        and "sad" not in runs["dovenet_official_layout_ngf16"]
    )
    assert summary["settings"]["checkpoint_files"]["indexnet_official_layout"] == str(INDEXNET)


def test_paper_fine_tuning_and_joint_training_start_from_the_released_files(shards, shards256, tmp_path):
    small = ["--batch-size", "2", "--workers", "0", "--no-progress", "--val-batches", "1"]
    # IN†: IndexNet's released weights fine-tuned on HMH (width from the file, 1.0)
    result = _invoke(
        "matting",
        "--shards",
        shards,
        "--out",
        tmp_path / "in",
        "--max-steps",
        1,
        "--matting-ckpt",
        INDEXNET,
        *small,
    )
    assert result.exit_code == 0, result.output
    assert "IndexNet .pth.tar -> matting" in result.output
    saved = C.load(tmp_path / "in" / "checkpoints" / "last.pt")
    assert saved["net_arch"]["matting"] == {"width": 1.0, "head": "published"}
    released = {
        k.removeprefix("module."): v for k, v in torch.load(INDEXNET, weights_only=True)["state_dict"].items()
    }
    moved = [k for k, v in saved["nets"]["matting"].items() if not torch.equal(v, released[k])]
    assert moved and set(saved["nets"]["matting"]) == set(released)  # same tensors, trained
    # joint from the released U-Net (its own width 0.25 and batch norm), fresh IndexNet and critic;
    # it predicts an image, so it trains as 'keep' (or 'paper'), not the default 'residual'
    error = _one_line_error(
        _invoke(
            "joint",
            "--shards",
            shards256,
            "--out",
            tmp_path / "refused",
            "--max-steps",
            1,
            "--harmonization-ckpt",
            DOVENET,
            *small,
        )
    )
    assert "trained with output 'paper'" in error and "--harmonizer-output" in error
    result = _invoke(
        "joint",
        "--shards",
        shards256,
        "--out",
        tmp_path / "joint",
        "--max-steps",
        1,
        "--harmonization-ckpt",
        DOVENET,
        "--harmonizer-output",
        "keep",
        "--width",
        "0.125",
        *small,
    )
    assert result.exit_code == 0, result.output
    saved = C.load(tmp_path / "joint" / "checkpoints" / "last.pt")
    assert saved["config"]["harmonizer_output"] == "keep"
    assert saved["net_arch"]["harmonization"] == {"width": 0.25, "num_downs": 8, "norm": "batch"}
    assert saved["net_arch"]["matting"]["width"] == 0.125
    # and it resumes with the architectures it recorded
    result = _invoke("joint", "--resume", tmp_path / "joint", "--max-steps", 2)
    assert result.exit_code == 0, result.output
    assert C.load(tmp_path / "joint" / "checkpoints" / "last.pt")["step"] == 2
