"""The network-free benchmark pieces on stand-ins written in the published layouts:
Composition-1k readers and composition, iHarmony4 pairs and metrics, the two tables."""

from __future__ import annotations

import csv
import math
import os

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from hmh_builder.cli import main as build_main
from hmh_train.data.shards import ShardDataset
from hmh_train.evaluate import composition1k as C
from hmh_train.evaluate import iharmony4 as H
from hmh_train.evaluate.benchmark_tables import (
    summarise_matting,
    write_composition1k_table,
    write_iharmony4_table,
)
from tests.standins import (
    composition1k_sources,
    trimap_of,
    write_composition1k_adobe,
    write_iharmony4,
    write_image,
)


@pytest.fixture(scope="module")
def adobe(tmp_path_factory):
    root = tmp_path_factory.mktemp("comp1k")
    fgs, bgs = composition1k_sources()
    voc = write_composition1k_adobe(root / "Combined_Dataset", fgs, bgs)
    return root / "Combined_Dataset", voc.parent.parent, fgs, bgs


def reference_composite(fg_path, alpha_path, bg_path):
    """The published composition, written out independently with OpenCV (BGR)."""
    fg = cv2.imread(str(fg_path))
    a = cv2.imread(str(alpha_path), 0)
    h, w = fg.shape[:2]
    bg = cv2.imread(str(bg_path))
    bh, bw = bg.shape[:2]
    ratio = max(w / bw, h / bh)
    if ratio > 1:
        bg = cv2.resize(bg, (math.ceil(bw * ratio), math.ceil(bh * ratio)), interpolation=cv2.INTER_CUBIC)
    alpha = (a.astype(np.float32) / np.float32(255))[..., None]
    out = alpha * fg.astype(np.float32) + (1 - alpha) * bg[:h, :w].astype(np.float32)
    return cv2.cvtColor(out.astype(np.uint8), cv2.COLOR_BGR2RGB)


def test_adobe_layout_composes_each_foreground_over_20_backgrounds_in_list_order(adobe):
    src, voc_root, fgs, bgs = adobe
    items, problems = C.discover(str(src), str(voc_root))
    assert problems == [] and len(items) == 40
    assert [i.name for i in items[:3]] == ["fg-0_1920_0", "fg-0_1920_1", "fg-0_1920_2"]
    assert items[20].name == "fg-1_1920_0"
    adobe_dir = src / "Test_set" / "Adobe-licensed images"
    sizes = set()
    for f, (stem, _, alpha) in enumerate(fgs):
        for k in (0, 1, 2, 19):
            item = items[20 * f + k]
            assert os.path.basename(item.background) == bgs[20 * f + k][0]
            sample = C.load_sample(item)
            want = reference_composite(
                adobe_dir / "fg" / f"{stem}.png", adobe_dir / "alpha" / f"{stem}.png", item.background
            )
            assert np.array_equal(sample.image, want), item.name
            assert np.array_equal(sample.alpha, alpha)
            assert np.array_equal(sample.trimap, trimap_of(alpha, 1 + k % 3))
            sizes.add(bgs[20 * f + k][1].shape[:2])
    assert len(sizes) == 3  # backgrounds smaller (scaled up) and larger (cropped) than the fg


def test_compose_truncates_and_fit_background_takes_the_top_left():
    fg = np.full((2, 2, 3), 200, np.uint8)
    bg = np.full((3, 4, 3), 101, np.uint8)
    alpha = np.array([[0, 255], [128, 1]], np.uint8)
    comp = C.compose(fg, alpha, bg)
    # 128/255·200 + 127/255·101 = 150.70…; 1/255·200 + 254/255·101 = 101.38…: truncated
    assert comp[:, :, 0].tolist() == [[101, 200], [150, 101]]
    big = np.arange(5 * 6 * 3, dtype=np.uint8).reshape(5, 6, 3)
    assert np.array_equal(C.fit_background(big, 2, 3), big[:2, :3])
    small = np.zeros((10, 20, 3), np.uint8)
    assert C.fit_background(small, 30, 30).shape == (30, 30, 3)  # ratio 3 → 60×30, top-left


def test_missing_voc_image_or_list_entry_is_one_line_and_the_rest_goes_on(adobe, tmp_path):
    src, voc_root, fgs, bgs = adobe
    voc = voc_root / "VOC2012" / "JPEGImages"
    hidden = voc / bgs[5][0]
    hidden.rename(tmp_path / "moved.jpg")
    lists = src / "Test_set" / "test_bg_names.txt"
    original = lists.read_text()
    lists.write_text("\n".join(name for name, _ in bgs[:38]) + "\n")  # two entries short
    try:
        items, problems = C.discover(str(src), str(voc_root))
    finally:
        (tmp_path / "moved.jpg").rename(hidden)
        lists.write_text(original)
    assert len(items) == 37 and len(problems) == 3
    assert problems[0].startswith(str(hidden)) and "fg-0_1920_5 is skipped" in problems[0]
    assert "line 39" in problems[1] and "fg-1_1920_18" in problems[1]
    assert "line 40" in problems[2] and all("\n" not in p for p in problems)
    assert "fg-0_1920_5" not in {i.name for i in items}


def test_undecodable_background_is_one_line(adobe, tmp_path):
    src, voc_root, _, bgs = adobe
    items, _ = C.discover(str(src), str(voc_root))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff garbage")
    item = C.Comp1kItem(
        items[0].name, items[0].alpha, items[0].trimap, fg=items[0].fg, background=str(broken)
    )
    results = list(C.iter_samples([item, items[1]], workers=2))
    assert isinstance(results[0][1], str) and str(broken) in results[0][1]
    assert "is skipped" in results[0][1] and isinstance(results[1][1], C.Comp1kSample)


def test_flattened_layout_reads_merged_alpha_trimaps(adobe, tmp_path):
    src, voc_root, fgs, _ = adobe
    items, _ = C.discover(str(src), str(voc_root))
    flat = tmp_path / "Combined_Dataset" / "Test_set"
    for item in items[:3] + items[20:22]:
        sample = C.load_sample(item)
        write_image(flat / "merged" / f"{item.name}.png", sample.image)
        write_image(flat / "trimaps" / f"{item.name}.png", sample.trimap)
    write_image(flat / "alpha" / f"{fgs[0][0]}.png", fgs[0][2])  # fg-1's alpha is missing
    found, problems = C.discover(str(tmp_path / "Combined_Dataset"))
    assert [i.name for i in found] == ["fg-0_1920_0", "fg-0_1920_1", "fg-0_1920_2"]
    assert len(problems) == 2 and all("fg-1_1920.png: missing" in p for p in problems)
    for item, reference in zip(found, items, strict=False):
        assert np.array_equal(C.load_sample(item).image, C.load_sample(reference).image)
    with pytest.raises(C.Comp1kError, match="neither"):
        C.discover(str(tmp_path / "nothing"))


@pytest.fixture(scope="module")
def ihd(tmp_path_factory):
    root = tmp_path_factory.mktemp("ihd")
    write_iharmony4(root / "IHD")
    out = root / "shards"
    result = CliRunner().invoke(
        build_main,
        [
            "iharmony4",
            "--src",
            str(root / "IHD"),
            "--out",
            str(out),
            "--split",
            "test",
            "--workers",
            "1",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    return root / "IHD", out


def test_iharmony4_pairs_are_the_pixels_of_the_shards(ihd):
    root, shards = ihd
    items, problems = H.discover_pairs(str(root), "test")
    assert problems == [] and [i.subset for i in items] == ["HCOCO"] * 2 + ["HFlickr"] * 2
    stored = ShardDataset(shards, "test")
    for k, (item, sample) in enumerate(H.iter_pairs(items, workers=2)):
        assert sample.real.shape == (256, 256, 3) and item.id == stored[k]["id"]
        assert np.array_equal(sample.composite, stored[k]["I_d"].permute(1, 2, 0).numpy())
        assert np.array_equal(sample.mask, stored[k]["M"][0].numpy())
        assert np.array_equal(sample.real, stored[k]["I"].permute(1, 2, 0).numpy())


def test_iharmony4_missing_files_are_one_line_each(ihd, tmp_path):
    root, _ = ihd
    (tmp_path / "IHD_test.txt").write_text(
        "HCOCO/composite_images/none_1_1.jpg\nHCOCO/composite_images/bad.jpg\n"
    )
    items, problems = H.discover_pairs(str(tmp_path), "test")
    assert items == [] and len(problems) == 2
    assert "none_1_1.jpg: missing" in problems[0] and "naming" in problems[1]


def test_image_metrics_equal_hand_computed_values():
    real = np.zeros((2, 2, 3), np.uint8)
    pred = np.zeros((2, 2, 3), np.uint8)
    pred[0, 0] = (10, 20, 30)  # squared errors 100 + 400 + 900 = 1400 in one pixel
    pred[1, 1] = (3, 0, 0)  # 9
    mask = np.array([[255, 0], [0, 0]], np.uint8)
    got = H.image_metrics(pred, real, mask)
    assert got["mse"] == pytest.approx(1409 / 12)
    assert got["fmse"] == pytest.approx(1400 / 3)
    assert got["psnr"] == pytest.approx(10 * math.log10(255**2 / (1409 / 12)))
    dovenet = H.image_metrics(pred, real, mask, psnr_peak=None)  # peak = 30 − 0
    assert dovenet["psnr"] == pytest.approx(10 * math.log10(30**2 / (1409 / 12)))
    assert math.isnan(H.image_metrics(pred, real, np.zeros((2, 2), np.uint8))["fmse"])


def test_subset_means_and_all():
    rows = [
        {"subset": "HFlickr", "mse": 4.0, "fmse": 8.0, "psnr": 30.0},
        {"subset": "HCOCO", "mse": 1.0, "fmse": 2.0, "psnr": 40.0},
        {"subset": "HCOCO", "mse": 3.0, "fmse": float("nan"), "psnr": 20.0},
    ]
    got = H.summarise(rows)
    assert list(got) == ["HCOCO", "HFlickr", "all"]
    assert got["HCOCO"] == {"MSE": 2.0, "fMSE": 2.0, "PSNR": 30.0, "samples": 2}
    assert got["all"]["MSE"] == pytest.approx(8 / 3) and got["all"]["fMSE"] == 5.0


def test_tables_have_the_published_headers(tmp_path):
    matting = summarise_matting(
        [
            {"sad": 40.0, "mse": 0.01, "grad": 20.0, "conn": 40.0},
            {"sad": 50.0, "mse": 0.02, "grad": 30.0, "conn": float("nan")},
        ]
    )
    assert matting == {"samples": 2, "SAD": 45.0, "MSE": 0.015, "Grad": 25.0, "Conn": 40.0}
    text = write_composition1k_table(str(tmp_path / "c"), {"indexnet": matting}, "Caption A.")
    lines = (tmp_path / "c" / "table.csv").read_text().splitlines()
    assert lines == ["run,SAD,MSE,Grad,Conn", "indexnet,45.0,0.015,25.0,40.0"]
    assert text.startswith("Caption A.")
    assert "| Methods | Remark | SAD | MSE | Grad | Conn |" in text  # IndexNet's README layout
    assert "| indexnet |  | 45.00 | 0.0150 | 25.00 | 40.00 |" in text  # as hleval.m prints
    assert text.rstrip().endswith("| 45.8 | 0.013 | 25.9 | 43.7 |")  # the published row, md only
    results = {
        "dovenet": {"HCOCO": {"MSE": 33.6, "fMSE": float("nan"), "PSNR": 35.9}},
        "identity": {"all": {"MSE": 1.0, "fMSE": 2.0, "PSNR": 48.1}},
    }
    write_iharmony4_table(str(tmp_path / "h"), results, "Protocol: standard.")
    with open(tmp_path / "h" / "table.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows == [
        ["run", "subset", "MSE", "fMSE", "PSNR"],
        ["dovenet", "HCOCO", "33.6", "", "35.9"],
        ["identity", "all", "1.0", "2.0", "48.1"],
    ]
    assert "Protocol: standard." in (tmp_path / "h" / "table.md").read_text()
