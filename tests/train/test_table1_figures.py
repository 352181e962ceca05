"""``hmh-train table1`` and ``hmh-train figure fig4 | fig2`` on tiny real runs: the paper's
layout (rows, columns, names, "–"), the published figures beside ours, the figures' tiles and
labels read back from the figure and found in the PNG, and one-line errors."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest

from hmh_train.infer import methods as M
from hmh_train.study.figure_matting import make_fig2
from hmh_train.study.figures import (
    FigureConfig,
    check_method,
    make_fig4,
    parse_ckpt,
    run_method,
    silhouette_box,
)
from hmh_train.study.table1 import ROWS, make_table1
from tests.standins import build_pair_shards
from tests.train.cli_helpers import invoke, one_line_error
from tests.train.conftest import SMALL

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def runs(shards, tmp_path_factory):
    """{name: run folder}: 1-step matting, joint and DIH runs, and an eval folder of all three."""
    root = tmp_path_factory.mktemp("t1runs")
    out = {}
    for mode, name, extra in (
        ("matting", "matting", ()),
        ("joint", "joint", ()),
        ("harmonization", "dih", ("--harmonizer", "dih")),
    ):
        out[name] = root / name
        result = invoke(mode, "--shards", shards, "--out", out[name], "--max-steps", 1, *extra, *SMALL)
        assert result.exit_code == 0, result.output
    out["eval"] = root / "eval"
    args = ["--ckpt", out["joint"], "--compare", out["matting"], "--compare", out["dih"]]
    result = invoke("eval", *args, "--shards", shards, "--out", out["eval"], "--no-progress")
    assert result.exit_code == 0, result.output
    return out


def write_mos(path, rows) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["method", "MOS", "Std", "n_ratings", "n_raters", "ci_low", "ci_high"])
        writer.writerows([m, mos, std, 10, 2, "", ""] for m, mos, std in rows)


# ------------------------------------------------------------------------------ table1
def test_table1_maps_rows_by_default_and_by_row_and_prints_the_paper_beside(tmp_path):
    ev = tmp_path / "ev"
    ev.mkdir()
    runs = {
        "indexnet_matting": {"alpha_mse": 0.1, "sad": 16.0, "grad": 15.0, "conn": 16.5},
        "mine": {"alpha_mse": 0.02, "sad": 4.0, "grad": 8.0, "conn": 4.5},
        "joint": {"alpha_mse": 0.015, "sad": 3.5, "grad": 8.5, "conn": 3.25, "harm_mse": 9.0},
    }
    (ev / "summary.json").write_text(json.dumps({"settings": {}, "runs": runs}))
    write_mos(tmp_path / "mos.csv", [("joint", 3.5, 0.25), ("dih", 2.5, 0.75), ("I_d", 2.0, 0.5)])
    result = make_table1(
        [str(ev)], str(tmp_path / "mos.csv"), ["IN†=mine", "DN=gone"], str(tmp_path / "t" / "table1.md")
    )
    assert result["notes"] == [
        "--row DN=gone: no eval run or study method is called 'gone'; the row stays empty"
    ]
    assert result["sources"] == {
        "DM": None,
        "IN": "indexnet_matting",
        "IN†": "mine",
        "Xue": None,
        "DIH": "dih",
        "U-Net": None,
        "DN": "gone",
        "Ours": "joint",
    }
    text = (tmp_path / "t" / "table1.md").read_text()
    assert "| Index | MSE | SAD | Grad | Conn | MOS | Std | source |" in text
    assert "| Ours | 0.0150 | 3.500 | 8.500 | 3.250 | 3.50 | 0.25 | joint |" in text
    assert "| DIH | – | – | – | – | 2.50 | 0.75 | dih |" in text
    assert "| DM | – | – | – | – | – | – | – |" in text and "| DN | – | – | – | – | – | – | gone |" in text
    assert "published Table 1" in text and "| IN† | 0.02 | 4.39 | 8.65 | 4.8 | – | – |" in text
    assert "| Ours | 0.02 | 3.96 | 8.68 | 3.84 | 3.58 | 0.5 |" in text
    order = [line.split(" | ")[0].strip("| ") for line in text.splitlines() if line.startswith("| ")]
    assert order[1:9] == list(ROWS) and order[10:18] == list(ROWS)  # both tables in the paper's order
    rows = list(csv.DictReader(open(tmp_path / "t" / "table1.csv")))
    assert [r["Index"] for r in rows] == list(ROWS)
    assert rows[7]["SAD"] == "3.5" and rows[7]["paper_SAD"] == "3.96" and rows[0]["MSE"] == ""


def test_table1_cli_on_a_real_eval_and_its_errors(runs, tmp_path):
    out = tmp_path / "table1.md"
    result = invoke("table1", "--eval", runs["eval"], "--row", f"IN={runs['matting']}", "--out", out)
    assert result.exit_code == 0, result.output
    assert "rows with figures: IN, IN†, Ours" in result.output  # IN mapped, IN† and Ours by name
    rows = {r["Index"]: r for r in csv.DictReader(open(tmp_path / "table1.csv"))}
    summary = json.loads((runs["eval"] / "summary.json").read_text())["runs"]
    assert float(rows["Ours"]["SAD"]) == summary["joint"]["sad"] and rows["DIH"]["SAD"] == ""
    assert rows["IN"]["source"] == "matting" and rows["DIH"]["source"] == "dih"
    for args, code, words in (
        (("--out", out), 2, "give at least one --eval"),
        (("--eval", runs["eval"], "--row", "IN+=x", "--out", out), 2, "unknown row"),
        (("--eval", tmp_path, "--out", out), 1, "summary.json: no such file"),
        (("--study", tmp_path, "--out", out), 1, "no mos.csv"),
    ):
        result = invoke("table1", *args)
        assert result.exit_code == code and words in one_line_error(result)


# ------------------------------------------------------------------------------ figures
def non_white_tiles(png) -> int:
    """Number of large non-white connected regions of the PNG (the tiles)."""
    image = cv2.imread(str(png))
    mask = (image.min(axis=2) < 245).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
    areas = stats[1:, cv2.CC_STAT_AREA]
    return int((areas > 0.5 * areas.max()).sum())


def check_png_layout(result, rows: int, cols: int) -> None:
    layout = result["layout"]
    png = result["files"][0]
    assert result["files"][1].endswith(".pdf") and open(result["files"][1], "rb").read(4) == b"%PDF"
    image = cv2.imread(png)
    assert (image.shape[1], image.shape[0]) == layout["size"]
    assert len(layout["boxes"]) == rows * cols
    for x0, y0, x1, y1 in layout["boxes"]:  # every tile holds a picture, not the white page
        assert image[y0 + 2 : y1 - 2, x0 + 2 : x1 - 2].min(axis=2).mean() < 240
    assert non_white_tiles(png) == rows * cols


def test_fig4_columns_labels_and_samples(runs, shards, tmp_path):
    cfg = FigureConfig(
        shards=str(shards),
        out=str(tmp_path / "fig4.png"),
        n=2,
        methods=("identity",),
        ckpts=(f"DIH={runs['dih']}", str(runs["joint"])),
        real=True,
        progress=False,
    )
    result = make_fig4(cfg)
    assert result["layout"]["titles"] == ["Composite", "Composite (identity)", "DIH", "Ours", "Real I"]
    assert result["layout"]["row_labels"] == [f"sample {i}" for i in result["ids"]]
    check_png_layout(result, 2, 5)
    first, again = (
        make_fig4(
            FigureConfig(shards=str(shards), out=str(tmp_path / f"{k}.png"), n=2, methods=("identity",))
        )
        for k in "ab"
    )
    assert first["ids"] == again["ids"] == result["ids"]  # the same seeded samples
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()  # same inputs, same PNG


def test_fig2_rows_columns_and_crop(runs, shards, tmp_path):
    cfg = FigureConfig(
        shards=str(shards),
        out=str(tmp_path / "fig2.png"),
        n=1,
        ckpts=(str(runs["matting"]), f"Joint α={runs['joint']}"),
        harmonizer=str(runs["joint"]),
    )
    result = make_fig2(cfg)
    assert result["layout"]["titles"] == ["Ground truth α", "IN†", "Joint α"]
    assert result["layout"]["row_labels"] == ["α", "composite", "harmonized (Ours)", "crop ×4"]
    check_png_layout(result, 4, 3)


def test_figure_commands_and_their_one_line_errors(runs, shards, tmp_path):
    result = invoke("figure", "fig4", "--shards", shards, "--n", 1, "--method", "identity", "--ckpt", runs["dih"],
                    "--out", tmp_path / "f4.png")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Composite | Composite (identity) | DIH" in result.output
    assert (tmp_path / "f4.pdf").is_file()
    result = invoke(
        "figure",
        "fig2",
        "--shards",
        shards,
        "--n",
        1,
        "--ckpt",
        runs["matting"],
        "--out",
        tmp_path / "f2.png",
    )
    assert result.exit_code == 0, result.output
    pairs = build_pair_shards(tmp_path / "ihd", "--shard-size", 3)
    pair_fig = make_fig4(
        FigureConfig(
            shards=str(pairs),
            out=str(tmp_path / "p.png"),
            n=2,
            methods=("identity",),
            ckpts=(str(runs["dih"]),),
        )
    )  # iHarmony4 pairs: the stored mask, the identity column equals the composite
    assert pair_fig["layout"]["titles"] == ["Composite", "Composite (identity)", "DIH"]
    check_png_layout(pair_fig, 2, 3)
    for args, code, words in (
        (("fig4", "--shards", shards, "--method", "nope", "--out", tmp_path / "x.png"), 2, "unknown method"),
        (
            ("fig4", "--shards", shards, "--method", "dih", "--out", tmp_path / "x.png"),
            2,
            "--ckpt DIH=runs/dih",
        ),
        (("fig4", "--shards", shards, "--out", tmp_path / "x.png"), 2, "at least one --method or --ckpt"),
        (
            ("fig4", "--shards", shards, "--ckpt", tmp_path / "none", "--out", tmp_path / "x.png"),
            1,
            "no such",
        ),
        (
            ("fig4", "--shards", shards, "--n", 99, "--ckpt", runs["dih"], "--out", tmp_path / "x.png"),
            1,
            "only",
        ),
        (
            ("fig2", "--shards", pairs, "--n", 1, "--ckpt", runs["matting"], "--out", tmp_path / "x.png"),
            1,
            "no alpha",
        ),
        (
            ("fig2", "--shards", shards, "--n", 1, "--ckpt", runs["dih"], "--out", tmp_path / "x.png"),
            1,
            "no matting",
        ),
        (
            ("fig4", "--shards", shards, "--n", 1, "--ckpt", runs["dih"], "--out", tmp_path / "x.gif"),
            1,
            ".png or .pdf",
        ),
    ):
        assert words in one_line_error(invoke("figure", *args)), args
        assert invoke("figure", *args).exit_code == code


def test_method_registry_and_helpers():
    composite = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    mask = np.full((4, 5), 255, np.uint8)
    assert M.is_method("identity") and not M.is_method("dih")
    assert np.array_equal(run_method("identity", composite, mask), composite)
    M.METHODS["broken"] = lambda c, m: c[:2]  # a registered method returning the wrong size
    try:
        with pytest.raises(ValueError, match="method broken returned uint8"):
            run_method("broken", composite, mask)
    finally:
        del M.METHODS["broken"]
    with pytest.raises(ValueError, match="known methods: identity"):
        check_method("nope")
    assert parse_ckpt("DN=latest_net_G.pth") == ("DN", "latest_net_G.pth")
    assert parse_ckpt("runs/joint") == ("Ours", "runs/joint")
    alpha = np.zeros((40, 40), np.uint8)
    alpha[30:34, 10:14] = 128  # the only unknown pixels
    x, y, w, h = silhouette_box(alpha, 0.25)
    assert (w, h) == (10, 10) and x <= 10 and x + w >= 14 and y <= 30 and y + h >= 34
