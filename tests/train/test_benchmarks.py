"""``hmh-train eval --benchmark composition-1k|iharmony4`` on stand-ins written in the published
layouts (``tests/standins.py``), with the shared anchor checkpoints (files in the official
layouts) and tiny checkpoints of ours.

What is checked against an independent computation in the test: the metrics on tiny arrays
(by hand), the identity rows (MSE/PSNR straight from the image files), each scored alpha
(``indexnet_demo_alpha`` called directly on the composed image), the standard protocol (equal
to ``eval --shards`` on ``hmh-build iharmony4`` shards of the same list).
"""

from __future__ import annotations

import csv
import math
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from hmh_builder.cli import main as build_main
from hmh_train.cli import main
from hmh_train.evaluate import benchmark_ihd as BH
from hmh_train.evaluate import composition1k as C
from hmh_train.evaluate import iharmony4 as H
from hmh_train.evaluate import metrics as M
from hmh_train.evaluate.benchmark_comp1k import score_alpha
from hmh_train.infer import protocols
from hmh_train.train.checkpoint import load_nets
from tests.standins import composition1k_sources, write_composition1k_adobe, write_iharmony4, write_image

from .test_official import DOVENET, INDEXNET, needs_anchors
from .tiny_ckpt import save_tiny_checkpoint

SUBSETS = ("HCOCO", "HAdobe5k", "HFlickr", "Hday2night")


def _invoke(*args):
    return CliRunner().invoke(main, ["eval", *[str(a) for a in args]])


def _csv(path) -> list[list[str]]:
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def _dicts(path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def comp1k(tmp_path_factory):
    """(Combined_Dataset, VOC root): 1 foreground × 20 VOC backgrounds, Adobe layout."""
    root = tmp_path_factory.mktemp("comp1k")
    fgs, bgs = composition1k_sources(n_fg=1)
    voc = write_composition1k_adobe(root / "Combined_Dataset", fgs, bgs)
    return root / "Combined_Dataset", voc.parent.parent


@pytest.fixture(scope="module")
def ihd(tmp_path_factory):
    """An iHarmony4 root with the four subsets, two test pairs each."""
    root = tmp_path_factory.mktemp("ihd") / "IHD"
    write_iharmony4(root, subsets=SUBSETS, images=2, height=40, width=48)
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Tiny runs of ours (width 0.25): a matting-only and a harmonization-only one."""
    base = tmp_path_factory.mktemp("tiny")
    return (
        save_tiny_checkpoint(base / "mat", names=("matting",)),
        save_tiny_checkpoint(base / "harm", names=("harmonization",), seed=1),
    )


# ------------------------------------------------------------------ metrics on tiny arrays
def test_matting_scores_equal_hand_computed_values():
    gt = np.full((1, 3), 255, np.uint8)
    pred = np.array([[255, 255, 0]], np.uint8)
    trimap = np.full((1, 3), 128, np.uint8)
    got = score_alpha(pred, gt, trimap)
    # |p − g| = (0, 0, 1) → SAD 1/1000; MSE 1/3. Conn: {p ≥ t} ∧ {g ≥ t} = pixels 1, 2 for every
    # t, so l = (1, 1, 0); φ_p = 1 − (p − l)·[≥ 0.15] = (1, 1, 1), φ_g = (1, 1, 0) → 1/1000.
    assert got["sad"] == pytest.approx(0.001) and got["mse"] == pytest.approx(1 / 3)
    assert got["conn"] == pytest.approx(0.001) and got["unknown_pixels"] == 3
    assert got["grad"] == pytest.approx(M.gradient_error(pred, gt, trimap)) and got["grad"] > 0
    trimap[0, 2] = 0  # the wrong pixel is no longer counted
    assert score_alpha(pred, gt, trimap) == {
        "sad": 0.0,
        "mse": 0.0,
        "grad": pytest.approx(M.gradient_error(pred, gt, trimap)),
        "conn": 0.0,
        "unknown_pixels": 2,
    }
    pred = np.array([[0, 38], [89, 255]], np.uint8)  # 0, .149, .349, 1 against g = 140/255 ≈ .549
    gt = np.full((2, 2), 140, np.uint8)
    row = score_alpha(pred, gt, np.array([[128, 128], [128, 255]], np.uint8))
    assert row["sad"] == pytest.approx((3 * 140 - 38 - 89) / 255 / 1000)
    assert row["mse"] == pytest.approx((140**2 + 102**2 + 51**2) / 255**2 / 3)
    # Conn: the common component loses (0,0) at t = .1, (0,1) at .2, (1,0) at .4 and (1,1) at
    # .6 (g < .6), so l = (0, .1, .3, .5); p − l < .15 on the counted pixels → φ_p = 1 there;
    # φ_g = 1 − (g − l) → Σ|φ_p − φ_g| = 3g − .4.
    assert row["conn"] == pytest.approx((3 * 140 / 255 - 0.4) / 1000)


def test_dovenet_tensor2im_and_its_psnr_by_hand():
    values = np.array([[[0, 1, 63], [64, 200, 255]]], np.uint8)
    assert protocols.dovenet_tensor2im(values).tolist() == [[[0, 0, 62], [64, 200, 255]]]
    # torchvision's to_tensor + Normalize, then util.tensor2im, written out with torch
    v = torch.arange(256, dtype=torch.uint8)
    x = v.float().div(255).sub(torch.tensor(0.5)).div(torch.tensor(0.5)).numpy()
    official = ((x + 1) / 2.0 * 255.0).astype(np.uint8)
    assert np.array_equal(protocols.dovenet_tensor2im(np.arange(256, dtype=np.uint8)), official)
    pred = np.zeros((1, 2, 3), np.uint8)
    pred[0, 0] = (40, 0, 10)  # range 40 − 0; squared error 1600 + 100 = 1700
    got = H.image_metrics(pred, np.zeros_like(pred), np.array([[255, 0]], np.uint8), psnr_peak=None)
    assert got["mse"] == pytest.approx(1700 / 6) and got["fmse"] == pytest.approx(1700 / 3)
    assert got["psnr"] == pytest.approx(10 * math.log10(40**2 / (1700 / 6)))


# ------------------------------------------------------------------ Composition-1k
@needs_anchors
def test_composition1k_alpha_is_indexnets_demo_alpha_and_scores_follow(comp1k, tmp_path):
    src, voc = comp1k
    out = tmp_path / "out"
    result = _invoke(
        "--benchmark",
        "composition-1k",
        "--src",
        src,
        "--backgrounds",
        voc,
        "--ckpt",
        INDEXNET,
        "--limit",
        2,
        "--save-predictions",
        "--out",
        out,
        "--no-progress",
    )
    assert result.exit_code == 0, result.output
    assert "IndexNet .pth.tar -> matting" in result.output
    assert "| Methods | Remark | SAD | MSE | Grad | Conn |" in result.output
    assert (
        "| IndexNet Matting | published (IndexNet README, released model) | 45.8 | 0.013 | 25.9 | 43.7 |"
    ) in result.output
    assert "2 of the 20 listed test composites (--limit 2)" in result.output
    net = load_nets(INDEXNET)[0].matting
    items, _ = C.discover(str(src), str(voc))
    rows = _dicts(out / "samples.csv")
    assert [r["id"] for r in rows] == ["fg-0_1920_0", "fg-0_1920_1"]
    for item, row in zip(items, rows, strict=False):
        sample = C.load_sample(item)
        direct = protocols.indexnet_demo_alpha(net, sample.image, sample.trimap)
        saved = np.array(Image.open(out / "predictions" / "indexnet_official_layout" / f"{item.name}.png"))
        assert np.array_equal(saved, direct), item.name  # the alpha the benchmark scored
        want = {
            "sad": M.sad(direct, sample.alpha, sample.trimap),
            "mse": M.mse(direct, sample.alpha, sample.trimap),
            "grad": M.gradient_error(direct, sample.alpha, sample.trimap),
            "conn": M.connectivity_error(direct, sample.alpha, sample.trimap),
        }
        for key, value in want.items():
            assert float(row[key]) == pytest.approx(value, rel=1e-12), (item.name, key)
    table = _csv(out / "table.csv")
    assert table[0] == ["run", "SAD", "MSE", "Grad", "Conn"] and len(table) == 2
    assert table[1][0] == "indexnet_official_layout"
    for column, key in zip(table[0][1:], ("sad", "mse", "grad", "conn"), strict=False):
        mean = np.mean([float(r[key]) for r in rows])
        assert float(table[1][table[0].index(column)]) == pytest.approx(mean)


def test_composition1k_both_layouts_any_workers_same_results(comp1k, tiny, tmp_path):
    src, voc = comp1k
    mat, _ = tiny
    common = ("--ckpt", mat, "--compare", mat / "checkpoints" / "last.pt", "--limit", 4, "--no-progress")
    one = _invoke(
        "--benchmark",
        "composition-1k",
        "--src",
        src,
        "--backgrounds",
        voc,
        "--out",
        tmp_path / "w1",
        "--workers",
        1,
        *common,
    )
    three = _invoke(
        "--benchmark",
        "composition-1k",
        "--src",
        src,
        "--backgrounds",
        voc,
        "--out",
        tmp_path / "w3",
        "--workers",
        3,
        *common,
    )
    assert one.exit_code == 0 and three.exit_code == 0, one.output + three.output
    for name in ("samples.csv", "table.csv", "table.md"):
        assert (tmp_path / "w1" / name).read_bytes() == (tmp_path / "w3" / name).read_bytes()
    table = _csv(tmp_path / "w1" / "table.csv")
    assert [r[0] for r in table] == ["run", "mat", "mat/last"]  # one row per checkpoint
    assert table[1][1:] == table[2][1:]  # the same weights
    # IndexNet's flattened layout holding the same composites gives the same numbers
    items, _ = C.discover(str(src), str(voc))
    flat = tmp_path / "flat" / "Test_set"
    for item in items[:4]:
        sample = C.load_sample(item)
        write_image(flat / "merged" / f"{item.name}.png", sample.image)
        write_image(flat / "trimaps" / f"{item.name}.png", sample.trimap)
    write_image(flat / "alpha" / "fg-0_1920.png", C.load_sample(items[0]).alpha)
    merged = _invoke(
        "--benchmark", "composition-1k", "--src", tmp_path / "flat", "--out", tmp_path / "m", *common
    )
    assert merged.exit_code == 0, merged.output
    assert "read from an already composed Test_set/merged" in merged.output
    assert (tmp_path / "m" / "samples.csv").read_bytes() == (tmp_path / "w1" / "samples.csv").read_bytes()


def test_composition1k_missing_voc_image_and_list_entry_cost_one_line_each(comp1k, tiny, tmp_path):
    src, voc = comp1k
    copy = tmp_path / "Combined_Dataset"
    shutil.copytree(src, copy)  # VOC2012/ lies inside it
    jpegs = copy / "VOC2012" / "JPEGImages"
    names = (copy / "Test_set" / "test_bg_names.txt").read_text().splitlines()
    (jpegs / names[1]).unlink()  # composite 1: missing image
    (jpegs / names[2]).write_bytes(b"\xff\xd8\xff not a jpeg")  # composite 2: undecodable
    (copy / "Test_set" / "test_bg_names.txt").write_text("\n".join(names[:19]) + "\n")  # no 19th
    result = _invoke(
        "--benchmark",
        "composition-1k",
        "--src",
        copy,
        "--backgrounds",
        copy,
        "--ckpt",
        tiny[0],
        "--limit",
        3,
        "--out",
        tmp_path / "o",
        "--no-progress",
    )
    assert result.exit_code == 3, result.output  # some failed, the rest scored
    failures = (tmp_path / "o" / "failures.txt").read_text().splitlines()
    assert len(failures) == 3
    assert failures[0].startswith(str(jpegs / names[1])) and "missing; fg-0_1920_1 is skipped" in failures[0]
    assert "no background name on line 20 for fg-0_1920_19; it is skipped" in failures[1]
    assert str(jpegs / names[2]) in failures[2] and "fg-0_1920_2 is skipped" in failures[2]
    for line in failures:
        assert line in result.output
    assert [r["id"] for r in _dicts(tmp_path / "o" / "samples.csv")] == ["fg-0_1920_0", "fg-0_1920_3"]
    assert "2 of the 20 listed test composites" in (tmp_path / "o" / "table.md").read_text()
    assert "Traceback" not in result.output


# ------------------------------------------------------------------ iHarmony4
def _read(path, mode):
    return np.array(Image.open(path).convert(mode).resize((256, 256), Image.BILINEAR))


def _round_trip(image):
    """DoveNet's to_tensor → Normalize(0.5, 0.5) → util.tensor2im, written with torch."""
    x = torch.from_numpy(image).float().div(255).sub(0.5).div(0.5).numpy()
    return ((x + 1) / 2.0 * 255.0).astype(np.uint8)


def _direct_pairs(root):
    """(subset, real, composite, mask) read straight from the files, as DoveNet's loader does."""
    pairs = []
    for line in (root / "IHD_test.txt").read_text().split():
        parts = line.split("_")
        mask = line.replace("composite_images", "masks").replace("_" + parts[-1], ".png")
        real = line.replace("composite_images", "real_images").replace(f"_{parts[-2]}_{parts[-1]}", ".jpg")
        pairs.append(
            (
                line.split("/")[0],
                _read(root / real, "RGB"),
                _read(root / line, "RGB"),
                _read(root / mask, "1"),
            )
        )
    return pairs


def _identity_rows(table) -> dict:
    return {r[1]: (float(r[2]), float(r[3]), float(r[4])) for r in table if r[0] == "identity"}


@needs_anchors
def test_iharmony4_cli_both_protocols_identity_rows_computed_directly(ihd, tmp_path):
    runs = {}
    for protocol in ("standard", "dovenet", "dovenet"):
        out = tmp_path / f"{protocol}{len(runs)}"
        result = _invoke(
            "--benchmark",
            "iharmony4",
            "--src",
            ihd,
            "--ckpt",
            DOVENET,
            "--protocol",
            protocol,
            "--out",
            out,
            "--no-progress",
            "--workers",
            2,
        )
        assert result.exit_code == 0, result.output
        assert "DoveNet generator .pth -> harmonization" in result.output
        runs[out.name] = _csv(out / "table.csv")
        assert (
            "Protocol: the standard protocol"
            if protocol == "standard"
            else "Protocol: DoveNet's published protocol"
        ) in (out / "table.md").read_text()
        assert "| DoveNet (published, README) | all | 50.87 | – | 34.83 |" in result.output
    standard, dovenet, again = runs["standard0"], runs["dovenet1"], runs["dovenet2"]
    assert standard[0] == ["run", "subset", "MSE", "fMSE", "PSNR"]
    assert [(r[0], r[1]) for r in standard[1:]] == (
        [("dovenet_official_layout_ngf16", s) for s in SUBSETS + ("all",)]
        + [("identity", s) for s in SUBSETS + ("all",)]
    )
    assert dovenet == again  # seeded: the same figures every time
    assert dovenet[1][2:] != standard[1][2:]  # training mode + tensor2im differ
    pairs = _direct_pairs(ihd)
    for protocol, table in (("standard", standard), ("dovenet", dovenet)):
        per_subset = {}
        for subset, real, comp, mask in pairs:
            if protocol == "dovenet":
                real, comp = _round_trip(real), _round_trip(comp)
            err = (comp.astype(np.float64) - real) ** 2
            peak = 255.0 if protocol == "standard" else float(comp.max()) - float(comp.min())
            values = (err.mean(), err[mask > 0].mean(), 10 * math.log10(peak**2 / err.mean()))
            per_subset.setdefault(subset, []).append(values)
            per_subset.setdefault("all", []).append(values)
        got = _identity_rows(table)
        assert set(got) == set(per_subset)
        for subset, values in per_subset.items():
            assert got[subset] == pytest.approx(tuple(np.mean(values, axis=0)), rel=1e-9), (protocol, subset)


@needs_anchors
def test_dovenet_protocol_is_seeded_leaves_the_net_alone_and_differs_from_standard(ihd):
    net = load_nets(DOVENET)[0].harmonization
    items, _ = H.discover_pairs(str(ihd), "test")
    sample = H.load_pair(items[0])
    before = {k: v.clone() for k, v in net.state_dict().items()}
    first = BH.harmonized(net, sample, "dovenet", seed=0)
    assert first.dtype == np.uint8 and first.shape == (256, 256, 3)
    assert np.array_equal(first, BH.harmonized(net, sample, "dovenet", seed=0))
    assert not np.array_equal(first, BH.harmonized(net, sample, "dovenet", seed=1))  # dropout
    assert not net.training and all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    standard = BH.harmonized(net, sample, "standard")
    assert standard.dtype == np.float32 and not np.array_equal(first, (standard * 255).astype(np.uint8))
    eval_mode = protocols.dovenet_harmonize(net, sample.composite, sample.mask)
    assert np.abs(eval_mode.astype(int) - (standard * 255)).max() <= 1  # same net, eval mode
    assert BH.pair_seed(0, items[0].id) != BH.pair_seed(0, items[1].id)


def test_iharmony4_standard_equals_eval_on_shards_and_bad_pairs_are_one_line(ihd, tiny, tmp_path):
    _, harm = tiny
    shards = tmp_path / "shards"
    built = CliRunner().invoke(
        build_main,
        [
            "iharmony4",
            "--src",
            str(ihd),
            "--out",
            str(shards),
            "--split",
            "test",
            "--workers",
            "1",
            "--no-progress",
        ],
    )
    assert built.exit_code == 0, built.output
    on_shards = _invoke("--shards", shards, "--ckpt", harm, "--out", tmp_path / "s", "--no-progress")
    bench = _invoke(
        "--benchmark", "iharmony4", "--src", ihd, "--ckpt", harm, "--out", tmp_path / "b", "--no-progress"
    )
    threads = _invoke(
        "--benchmark",
        "iharmony4",
        "--src",
        ihd,
        "--ckpt",
        harm,
        "--out",
        tmp_path / "b3",
        "--no-progress",
        "--workers",
        3,
    )
    assert on_shards.exit_code == 0 and bench.exit_code == 0, on_shards.output + bench.output
    assert threads.exit_code == 0, threads.output
    for name in ("samples.csv", "table.csv"):  # parallel decoding changes nothing
        assert (tmp_path / "b" / name).read_bytes() == (tmp_path / "b3" / name).read_bytes()
    a, b = _csv(tmp_path / "s" / "table.csv"), _csv(tmp_path / "b" / "table.csv")
    assert [r[:2] for r in a] == [r[:2] for r in b]
    for ra, rb in zip(a[1:], b[1:], strict=False):
        assert [float(x) for x in ra[2:]] == pytest.approx([float(x) for x in rb[2:]], rel=1e-6)
    # a list entry without files and an unreadable real image: one line each, the rest goes on
    bad = tmp_path / "IHD"
    shutil.copytree(ihd, bad)
    lines = (bad / "IHD_test.txt").read_text().splitlines()
    (bad / "IHD_test.txt").write_text("\n".join(["HCOCO/composite_images/ghost_1_1.jpg"] + lines) + "\n")
    real = lines[2].replace("composite_images", "real_images").rsplit("_", 2)[0] + ".jpg"
    (bad / real).write_bytes(b"not an image")
    result = _invoke(
        "--benchmark", "iharmony4", "--src", bad, "--ckpt", harm, "--out", tmp_path / "bad", "--no-progress"
    )
    assert result.exit_code == 3, result.output
    failures = (tmp_path / "bad" / "failures.txt").read_text().splitlines()
    assert len(failures) == 3  # the ghost, and both pairs of that real
    assert "ghost_1_1.jpg: missing" in failures[0] and str(bad / real) in failures[1]
    scored = {r["id"] for r in _dicts(tmp_path / "bad" / "samples.csv")}
    assert scored == set(lines) - {lines[2], lines[3]}


def test_benchmark_usage_errors_are_one_line(ihd, tiny, tmp_path):
    mat, harm = tiny
    cases = [
        (
            ("--benchmark", "iharmony4", "--src", ihd, "--ckpt", harm, "--region", "all"),
            "--region does not apply to --benchmark iharmony4",
        ),
        (
            ("--benchmark", "iharmony4", "--src", ihd, "--ckpt", harm, "--backgrounds", tmp_path),
            "--backgrounds does not apply to --benchmark iharmony4",
        ),
        (
            ("--shards", tmp_path, "--ckpt", harm, "--protocol", "dovenet"),
            "--protocol does not apply to --shards",
        ),
        (("--benchmark", "iharmony4", "--ckpt", harm), "needs --src"),
        (
            (
                "--ckpt",
                harm,
            ),
            "give --shards",
        ),
    ]
    for args, message in cases:
        result = _invoke(*args)
        assert result.exit_code == 2 and message in result.output, result.output
    result = _invoke(
        "--benchmark", "iharmony4", "--src", ihd, "--ckpt", mat, "--out", tmp_path / "x", "--no-progress"
    )
    assert result.exit_code == 1 and "holds no harmonization network" in result.output
    assert "Traceback" not in result.output
    result = _invoke("--benchmark", "composition-1k", "--src", tmp_path, "--ckpt", mat)
    assert result.exit_code == 1 and "neither Test_set/merged/" in result.output


@needs_anchors
@pytest.mark.parametrize("protocol", ["standard", "dovenet"])
def test_a_harmonizer_is_scored_in_its_output_form(ihd, protocol):
    """A run trained in the keep form is benchmarked in it: outside the mask the scored output
    is the composite itself (exactly in uint8 for dovenet, to float rounding for standard)."""
    net = load_nets(DOVENET)[0].harmonization
    items, _ = H.discover_pairs(str(ihd), "test")
    sample = H.load_pair(items[0])
    paper = BH.harmonized(net, sample, protocol, seed=0)
    kept = BH.harmonized(net, sample, protocol, seed=0, output="keep")
    outside = sample.mask < 128
    composite = sample.composite.astype(np.float32) / (1 if protocol == "dovenet" else 255)
    assert outside.any() and not np.allclose(paper[outside], composite[outside], atol=1e-3)
    assert np.allclose(kept[outside], composite[outside], atol=1e-6)
    rows = BH.pair_rows({"r": net}, sample, protocol, 0, None, {"r": "keep"})
    assert rows[0]["mse"] == pytest.approx(
        H.image_metrics(
            kept,
            BH.dovenet_tensor2im(sample.real) if protocol == "dovenet" else sample.real,
            sample.mask,
            None if protocol == "dovenet" else 255.0,
        )["mse"],
        rel=1e-9,
    )
