"""Harmonizing either side (issue 13): training, evaluation, composition and the study follow
the side the shards alter (background: mask 1 − A; foreground: mask A), a run records it and
refuses shards of the other side unless asked, and ``composite --harmonize`` picks the side."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner
from PIL import Image

from hmh_builder.cli import main as build_main
from hmh_builder.ingest.synthetic import write_kaggle_layout
from hmh_train.data.adjust import lab_stats, online_adjust, reinhard_lab
from hmh_train.data.augment import Batch, make_batch, trimap_from_alpha
from hmh_train.data.shards import ShardDataset
from hmh_train.evaluate import metrics as M
from hmh_train.evaluate import metrics_torch as MT
from hmh_train.evaluate.run import sample_rows
from hmh_train.infer.ops import harmonize_any_size
from hmh_train.nets import build_harmonization_net
from hmh_train.nets.forward import Nets, altered_input, harmonization_mask, region_mask
from hmh_train.train import checkpoint as C
from hmh_train.train.steps import StepConfig, generate

from .cli_helpers import invoke as _invoke
from .cli_helpers import one_line_error as _one_line_error
from .conftest import SMALL
from .tiny_ckpt import save_tiny_checkpoint

SIDES = ("background", "foreground")


def build(tmp, side: str, n: int = 6):
    """A 64×64 hmh-build output altering ``side`` (train and test splits)."""
    src, out = tmp / f"src-{side}", tmp / f"shards-{side}"
    write_kaggle_layout(src, n, seed=3, height=96, width=80)
    result = CliRunner().invoke(
        build_main,
        [
            "build",
            "--src",
            str(src),
            "--out",
            str(out),
            "--size",
            "64",
            "--workers",
            "1",
            "--test-fraction",
            "0.34",
            "--altered",
            side,
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def trip(tmp_path_factory):
    """Per side: the shards and a joint run of one training step on them (the round trip's
    build → train; eval and composite follow in the tests)."""
    root = tmp_path_factory.mktemp("sides")
    out = {}
    for side in SIDES:
        shards = build(root, side)
        run = root / f"run-{side}"
        # the keep form: a one-step residual harmonizer starts as the identity (issue 20.1) and
        # would leave both sides' pictures alike, hiding which mask was used
        result = _invoke(
            "joint", "--shards", shards, "--max-steps", 1, "--out", run, *SMALL, "--harmonizer-output", "keep"
        )
        assert result.exit_code == 0, result.output
        out[side] = {"shards": shards, "run": run}
    return out


# --- the round trip ---------------------------------------------------------------------------


@pytest.mark.parametrize("side", SIDES)
def test_round_trip_build_train_eval_composite(trip, side, tmp_path):
    shards, run = trip[side]["shards"], trip[side]["run"]
    assert ShardDataset(shards, "train").altered == side
    # train: the run records the side in config.yaml and in its checkpoint
    assert yaml.safe_load((run / "config.yaml").read_text())["altered"] == side
    ckpt = C.load(run / "checkpoints" / "last.pt")
    assert ckpt["config"]["altered"] == side and ckpt["step"] == 1
    # eval: fMSE over the altered region, the table names it
    tag = {"background": "bg", "foreground": "fg"}[side]
    result = _invoke("eval", "--ckpt", run, "--shards", shards, "--out", tmp_path / "eval", "--no-progress")
    assert result.exit_code == 0, result.output
    assert f"H-fMSE ({tag})" in result.output
    assert {"background": "the background, α < 1", "foreground": "the person, α > 0"}[side] in result.output
    rows = list(csv.DictReader(open(tmp_path / "eval" / "samples.csv")))
    dataset = ShardDataset(shards, "test")
    nets, _ = C.load_nets(run)
    assert len(rows) == len(dataset) > 0
    for row, index in zip(rows, range(len(dataset)), strict=False):
        item = dataset[index]
        alpha = item["A"][None].float() / 255
        real = item["I"].permute(1, 2, 0).numpy()
        with torch.no_grad():
            i_h = (
                harmonize_any_size(
                    nets.harmonization,
                    item["I_d"][None].float() / 255,
                    region_mask(alpha, side),
                    output=nets.harmonizer_output,
                )[0]
                .permute(1, 2, 0)
                .numpy()
            )
        region = M.altered_region(item["A"][0].numpy(), side)
        assert float(row[f"harm_fmse_{tag}"]) == pytest.approx(M.fmse(i_h, real, region), rel=1e-5)
        assert int(row[f"{side}_pixels"]) == int(region.sum())
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert summary["settings"]["altered"] == side
    # composite: default side = the one trained on; the output is the harmonizer with that mask
    item = dataset[0]
    portrait, alpha8 = item["I"].permute(1, 2, 0).numpy(), item["A"][0].numpy()
    scene = np.full((64, 64, 3), (30, 140, 200), np.uint8)
    for name, array in (("p.png", portrait), ("a.png", alpha8), ("bg.png", scene)):
        Image.fromarray(array).save(tmp_path / name)
    result = _invoke(
        "composite",
        "--ckpt",
        run,
        "--image",
        tmp_path / "p.png",
        "--alpha",
        tmp_path / "a.png",
        "--background",
        tmp_path / "bg.png",
        "--out",
        tmp_path / "out.png",
        "--harmonize-size",
        0,
        "--device",
        "cpu",
    )
    assert result.exit_code == 0, result.output
    assert f"harmonized composite (the {side} adjusted)" in result.output
    a = torch.from_numpy(alpha8)[None, None].float() / 255
    plain = torch.from_numpy(portrait).permute(2, 0, 1)[None].float() / 255 * a + torch.from_numpy(
        scene
    ).permute(2, 0, 1)[None].float() / 255 * (1 - a)
    with torch.no_grad():
        expected = harmonize_any_size(
            nets.harmonization, plain, region_mask(a, side), output=nets.harmonizer_output
        )
    expected = (expected[0].permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    written = np.array(Image.open(tmp_path / "out.png").convert("RGB"))
    assert np.abs(written.astype(int) - expected.astype(int)).max() <= 1


def test_composite_harmonize_option_picks_the_mask_single_and_batch(trip, tmp_path):
    run = trip["background"]["run"]
    rng = np.random.default_rng(0)
    (tmp_path / "p").mkdir(), (tmp_path / "a").mkdir(), (tmp_path / "bg").mkdir()
    portrait = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    alpha8 = np.zeros((64, 64), np.uint8)
    alpha8[16:48, 20:44] = 255
    Image.fromarray(portrait).save(tmp_path / "p" / "x.png")
    Image.fromarray(alpha8).save(tmp_path / "a" / "x.png")
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "bg" / "s.png")
    outputs = {}
    for side in SIDES:
        single = _invoke(
            "composite",
            "--ckpt",
            run,
            "--image",
            tmp_path / "p" / "x.png",
            "--alpha",
            tmp_path / "a" / "x.png",
            "--background",
            tmp_path / "bg" / "s.png",
            "--out",
            tmp_path / f"{side}.png",
            "--harmonize",
            side,
            "--harmonize-size",
            0,
        )
        assert single.exit_code == 0, single.output
        assert f"(the {side} adjusted)" in single.output
        # asking a background-trained run for the other side is allowed, and said
        assert ("trained on background-altered shards" in single.output) == (side == "foreground")
        batch = _invoke(
            "composite",
            "--ckpt",
            run,
            "--images",
            tmp_path / "p",
            "--alphas",
            tmp_path / "a",
            "--backgrounds",
            tmp_path / "bg",
            "--out",
            tmp_path / f"batch-{side}",
            "--harmonize",
            side,
            "--harmonize-size",
            0,
            "--no-progress",
        )
        assert batch.exit_code == 0 and f"composites (the {side} adjusted)" in batch.output, batch.output
        outputs[side] = np.array(Image.open(tmp_path / f"{side}.png"))
        assert np.array_equal(outputs[side], np.array(Image.open(tmp_path / f"batch-{side}" / "x.png")))
    assert not np.array_equal(outputs["background"], outputs["foreground"])
    bad = _invoke(
        "composite",
        "--ckpt",
        run,
        "--image",
        tmp_path / "p" / "x.png",
        "--alpha",
        tmp_path / "a" / "x.png",
        "--background",
        tmp_path / "bg" / "s.png",
        "--out",
        tmp_path / "o.png",
        "--harmonize",
        "person",
    )
    assert bad.exit_code == 2 and "'person' is not one of 'background', 'foreground'" in bad.output


# --- the fMSE region --------------------------------------------------------------------------


def test_fmse_region_literal():
    """1×3 image, α = 0, 0.5, 1: the background region is the first two pixels, the person the
    last two; the squared errors are 3·1², 3·2², 3·4² (all channels off by 1, 2, 4)."""
    alpha = np.array([[0, 128, 255]], np.uint8)
    real = np.zeros((1, 3, 3), np.uint8)
    pred = np.array([[[1, 1, 1], [2, 2, 2], [4, 4, 4]]], np.uint8)
    np.testing.assert_array_equal(M.altered_region(alpha), [[True, True, False]])
    np.testing.assert_array_equal(M.altered_region(alpha, "foreground"), [[False, True, True]])
    assert M.fmse(pred, real, M.altered_region(alpha)) == (3 * 1 + 3 * 4) / (3 * 2)
    assert M.fmse(pred, real, M.altered_region(alpha, "foreground")) == (3 * 4 + 3 * 16) / (3 * 2)
    ta = torch.from_numpy(alpha)[None]
    assert MT.altered_region(ta, "foreground").tolist() == [[[False, True, True]]]
    assert MT.altered_region(ta.float() / 255).tolist() == [[[True, True, False]]]
    for side, expected in (("background", 2.5), ("foreground", 10.0)):  # as eval computes it
        batch_np = {
            "id": ["s"],
            "I": real[None],
            "A": alpha[None],
            "I_d": real[None],
            "trimap": np.full((1, 1, 3), 128, np.uint8),
            "region": "unknown",
            "altered": side,
        }
        row = sample_rows(batch_np, None, pred[None], None)[0]
        tag = side[0] + "g"
        assert row[f"harm_fmse_{tag}"] == expected and row[f"{side}_pixels"] == 2
        assert row[f"identity_fmse_{tag}"] == 0.0
    with pytest.raises(ValueError, match="altered must be"):
        M.altered_region(alpha, "person")


# --- the refusal and its override ---------------------------------------------------------------


def test_a_run_refuses_shards_of_the_other_side_unless_asked(trip, tmp_path):
    fg_run, bg_shards = trip["foreground"]["run"], trip["background"]["shards"]
    line = _one_line_error(_invoke("eval", "--ckpt", fg_run, "--shards", bg_shards, "--out", tmp_path / "e"))
    assert "trained on foreground-altered shards" in line and "alter the background" in line
    assert "--allow-other-side" in line
    ok = _invoke(
        "eval",
        "--ckpt",
        fg_run,
        "--shards",
        bg_shards,
        "--out",
        tmp_path / "e",
        "--allow-other-side",
        "--no-progress",
    )
    assert ok.exit_code == 0 and "H-fMSE (bg)" in ok.output, ok.output  # the shards' side
    # the study refuses it the same way
    line = _one_line_error(
        _invoke(
            "study",
            "make",
            "--ckpt",
            fg_run,
            "--shards",
            bg_shards,
            "--n",
            1,
            "--out",
            tmp_path / "s",
            "--no-progress",
        )
    )
    assert "--allow-other-side" in line
    ok = _invoke(
        "study",
        "make",
        "--ckpt",
        fg_run,
        "--shards",
        bg_shards,
        "--n",
        1,
        "--out",
        tmp_path / "s",
        "--no-progress",
        "--allow-other-side",
    )
    assert ok.exit_code == 0, ok.output


def test_a_released_dovenet_file_and_older_runs(trip, tmp_path):
    """A DoveNet generator file records no side: it evaluates on either. Our checkpoints from
    before the record were trained with the background mask."""
    torch.manual_seed(0)
    dovenet = tmp_path / "latest_net_G.pth"
    torch.save(build_harmonization_net(0.25, num_downs=5).state_dict(), dovenet)
    for side in SIDES:
        result = _invoke(
            "eval",
            "--ckpt",
            dovenet,
            "--shards",
            trip[side]["shards"],
            "--out",
            tmp_path / side,
            "--no-progress",
            "--limit",
            1,
        )
        assert result.exit_code == 0, result.output
    old = save_tiny_checkpoint(tmp_path / "old", ("harmonization",))  # config without "altered"
    assert C.trained_side(C.load_nets(old)[1]) == "background"
    line = _one_line_error(
        _invoke("eval", "--ckpt", old, "--shards", trip["foreground"]["shards"], "--out", tmp_path / "o")
    )
    assert "trained on background-altered shards" in line
    assert C.trained_side({"layout": "DoveNet generator .pth"}) is None
    assert C.trained_side({"mode": "harmonization", "altered": None}) is None  # pairs: any side


def test_training_refuses_a_config_of_the_other_side(trip, tmp_path):
    fg_shards = trip["foreground"]["shards"]
    line = _one_line_error(
        _invoke(
            "harmonization",
            "--shards",
            fg_shards,
            "--max-steps",
            1,
            "--out",
            tmp_path / "r",
            "--set",
            "altered=background",
            *SMALL,
        )
    )
    assert "alter the foreground" in line and "altered=background" in line
    # resuming a background run on foreground shards is the same mistake
    bg_run = tmp_path / "bg"
    assert (
        _invoke(
            "harmonization",
            "--shards",
            trip["background"]["shards"],
            "--max-steps",
            1,
            "--out",
            bg_run,
            *SMALL,
        ).exit_code
        == 0
    )
    line = _one_line_error(
        _invoke("harmonization", "--resume", bg_run, "--shards", fg_shards, "--max-steps", 2)
    )
    assert "alter the foreground" in line
    bad = _one_line_error(
        _invoke(
            "harmonization", "--shards", fg_shards, "--out", tmp_path / "x", "--set", "altered=person", *SMALL
        )
    )
    assert "altered must be one of background, foreground" in bad


# --- the U-Net's mask and input in training ------------------------------------------------------


def _disk(n=2, size=32):
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    d = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2).sqrt()
    a = ((size / 4 + 1.5 - d) / 3).clamp(0, 1)
    return (a * 255).round().div(255).expand(n, 1, size, size).clone()


def test_mask_and_joint_input_follow_the_side():
    g = torch.Generator().manual_seed(0)
    alpha = _disk()
    image, dish, bg = (torch.rand(2, 3, 32, 32, generator=g) for _ in range(3))
    for side, mask in (("background", 1 - alpha), ("foreground", alpha)):
        batch = Batch(image, alpha, bg, dish, trimap_from_alpha(alpha, 2), altered=side)
        assert torch.equal(harmonization_mask(batch), mask)
        x, m = altered_input(alpha, image, dish, side)
        assert torch.equal(m, mask)
        assert torch.allclose(x, mask * dish + (1 - mask) * image)
    x, _ = altered_input(alpha, image, dish, "foreground")
    assert torch.allclose(x, alpha * dish + (1 - alpha) * image)  # A_r·I_d + (1 − A_r)·I


class Recorder(torch.nn.Module):
    """A stand-in U-Net returning its composite channels; keeps the last input."""

    def forward(self, x):
        self.seen = x.detach().clone()
        return x[:, :3]


class FixedAlpha(torch.nn.Module):
    def __init__(self, alpha):
        super().__init__()
        self.alpha, self.w = alpha, torch.nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return self.alpha + 0 * self.w


@pytest.mark.parametrize("side", SIDES)
def test_joint_generate_feeds_the_unet_the_altered_side(side):
    """I_c = A_r·I + (1 − A_r)·B on both sides; the U-Net gets I_d inside the region of A_r
    to adjust and I outside, with that region as the mask."""
    g = torch.Generator().manual_seed(1)
    alpha = _disk()
    image, dish, bg = (torch.rand(2, 3, 32, 32, generator=g) for _ in range(3))
    trimap = torch.full_like(alpha, 0.5)  # all unknown: A_r is the network's output everywhere
    a_r = alpha * 0.9 + 0.05
    unet = Recorder()
    nets = Nets(matting=FixedAlpha(a_r), harmonization=unet)
    fakes = generate(nets, Batch(image, alpha, bg, dish, trimap, altered=side), StepConfig())
    mask = 1 - a_r if side == "background" else a_r
    assert torch.allclose(fakes.composite, a_r * image + (1 - a_r) * bg)
    assert torch.allclose(unet.seen[:, 3:], mask)
    assert torch.allclose(unet.seen[:, :3], (mask * dish + (1 - mask) * image) * 2 - 1, atol=1e-6)


# --- online adjustment of the right side ---------------------------------------------------------


@pytest.mark.parametrize("side", SIDES)
def test_online_adjust_alters_only_its_side(side):
    g = torch.Generator().manual_seed(0)
    image, background = torch.rand(4, 3, 48, 48, generator=g), torch.rand(4, 3, 48, 48, generator=g)
    alpha = _disk(4, 48)
    out = online_adjust(image, alpha, background, torch.Generator().manual_seed(5), side)
    kept = ((alpha == 1) if side == "background" else (alpha == 0)).expand_as(image)
    assert torch.equal(out[kept], image[kept])  # the other side: the real pixels, exactly
    changed = ((alpha == 0) if side == "background" else (alpha == 1)).expand_as(image)
    assert (out[changed] - image[changed]).abs().max() > 0.05
    assert out.min() >= 0 and out.max() <= 1
    with pytest.raises(ValueError, match="altered must be"):
        online_adjust(image, alpha, background, g, "person")


def test_online_adjust_in_a_training_batch_keeps_the_background_of_foreground_shards():
    g = torch.Generator().manual_seed(2)
    n, size = 3, 32
    image = torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)
    alpha = (_disk(n, size) * 255).round().to(torch.uint8)
    raw = {"I": image, "A": alpha, "B": image.clone(), "I_d": image.clone()}
    batch = make_batch(
        raw, "cpu", torch.Generator().manual_seed(0), True, crop_min=0.8, online=True, altered="foreground"
    )
    assert batch.altered == "foreground"
    outside = (batch.alpha == 0).expand_as(batch.image)
    assert torch.equal(batch.disharmonious[outside], batch.image[outside])
    inside = (batch.alpha == 1).expand_as(batch.image)
    assert not torch.equal(batch.disharmonious[inside], batch.image[inside])


def test_foreground_reinhard_matches_the_persons_statistics():
    """Weighted by the alphas, the person's CIELAB mean/std move to the partner person's."""
    g = torch.Generator().manual_seed(3)
    alpha = _disk(2, 32)
    source = 0.2 + 0.3 * torch.rand(2, 3, 32, 32, generator=g)
    target = 0.5 + 0.3 * torch.rand(2, 3, 32, 32, generator=g) * torch.tensor([1.0, 0.4, 0.2])[:, None, None]
    target = alpha * target + (1 - alpha) * torch.rand(2, 3, 32, 32, generator=g)  # other scene
    out = reinhard_lab(source, target, alpha, alpha)
    (mt, st), (mo, so) = lab_stats(target, weights=alpha), lab_stats(out, weights=alpha)
    (ms, _) = lab_stats(source, weights=alpha)
    assert ((mo - mt).abs() < 0.25 * (ms - mt).abs() + 0.5).all()
    assert ((so - st).abs() < 0.5).all()
