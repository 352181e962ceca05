"""hmh-train eval: tables and files, values equal to metrics computed directly, clear errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from hmh_train.cli import main
from hmh_train.data.augment import EVAL_TRIMAP_RADIUS, trimap_from_alpha
from hmh_train.data.shards import ShardDataset
from hmh_train.evaluate import metrics as M
from hmh_train.evaluate.run import EvalConfig, evaluate
from hmh_train.nets.forward import harmonize, predict_alpha
from hmh_train.train.checkpoint import load_nets

from .tiny_ckpt import save_tiny_checkpoint

METRIC_HEADERS = ["MSE", "SAD", "Grad", "Conn", "H-MSE", "H-fMSE (bg)", "H-PSNR", "no harm", "worst loss dB"]


def _table_rows(markdown: str) -> dict:
    lines = [ln for ln in markdown.splitlines() if ln.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return header, {
        cells[0]: dict(zip(header, cells, strict=False))
        for cells in ([c.strip() for c in ln.strip("|").split("|")] for ln in lines[1:])
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval_runs")
    return {
        "both": save_tiny_checkpoint(root / "both"),
        "matting": save_tiny_checkpoint(root / "matting", ("matting",), seed=1),
        "harm": save_tiny_checkpoint(root / "harm", ("harmonization",), seed=2),
    }


def test_eval_values_equal_metrics_computed_directly(shards, runs, tmp_path):
    result = evaluate(
        EvalConfig(
            runs=(str(runs["both"]),), shards=str(shards), out=str(tmp_path), batch_size=3, progress=False
        )
    )
    with open(tmp_path / "samples.csv") as handle:
        rows = list(csv.DictReader(handle))
    dataset = ShardDataset(shards, "test")
    assert [r["id"] for r in rows] == [dataset[i]["id"] for i in range(len(dataset))]
    nets, _ = load_nets(runs["both"])
    for i, row in enumerate(rows):
        item = dataset[i]
        image, alpha = item["I"][None].float() / 255, item["A"][None].float() / 255
        disharmonious = item["I_d"][None].float() / 255
        trimap = trimap_from_alpha(alpha, EVAL_TRIMAP_RADIUS)
        with torch.no_grad():
            a_r = predict_alpha(nets.matting, image, trimap)[0, 0].double().numpy()
            # the mask is the altered region, the background: 1 − alpha (one convention)
            i_h = harmonize(nets.harmonization, disharmonious, 1 - alpha)[0].permute(1, 2, 0).numpy()
            a_t = torch.from_numpy(a_r)[None, None].float()  # end to end, fed as joint_step does
            e2e = harmonize(nets.harmonization, a_t * image + (1 - a_t) * disharmonious, 1 - a_t)
            e2e = e2e[0].permute(1, 2, 0).numpy()
        tri8 = np.where(trimap[0, 0].numpy() == 0.5, 128, trimap[0, 0].numpy() * 255).astype(np.uint8)
        a8, real = item["A"][0].numpy(), item["I"].permute(1, 2, 0).numpy()
        d8 = item["I_d"].permute(1, 2, 0).numpy()
        bg = a8 < 255
        expected = {
            "alpha_mse": M.mse(a_r, a8, tri8),
            "sad": M.sad(a_r, a8, tri8),
            "grad": M.gradient_error(a_r, a8, tri8),
            "conn": M.connectivity_error(a_r, a8, tri8),
            "harm_mse": M.harmonization_mse(i_h, real),
            "harm_fmse_bg": M.fmse(i_h, real, bg),
            "harm_psnr": M.psnr(i_h, real),
            "e2e_mse": M.harmonization_mse(e2e, real),
            "e2e_fmse_bg": M.fmse(e2e, real, bg),
            "identity_mse": M.harmonization_mse(d8, real),
            "identity_fmse_bg": M.fmse(d8, real, bg),
            "identity_psnr": M.psnr(d8, real),
        }
        for key, value in expected.items():
            assert float(row[key]) == pytest.approx(value, rel=1e-5, abs=1e-9), key
        assert int(row["unknown_pixels"]) == int((tri8 == 128).sum()) > 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    label = "both"
    assert summary["runs"][label]["samples"] == len(dataset)
    assert summary["settings"]["checkpoint_files"][label].endswith("last.pt")  # no best.pt here
    assert summary["runs"][label]["sad"] == pytest.approx(np.mean([float(r["sad"]) for r in rows]))
    header, table = _table_rows((tmp_path / "table.md").read_text())
    assert header == ["run"] + METRIC_HEADERS
    assert set(table) == {"both", "both · predicted α", "identity (I_d, no harmonization)"}
    assert table["both"]["SAD"] == f"{summary['runs'][label]['sad']:.3f}"
    assert table["identity (I_d, no harmonization)"]["SAD"] == "–"
    assert result["table"] == (tmp_path / "table.md").read_text()


def test_eval_compare_single_net_runs_and_determinism(shards, runs, tmp_path):
    out1, out2 = tmp_path / "a", tmp_path / "b"
    for out in (out1, out2):
        evaluate(
            EvalConfig(
                runs=(str(runs["matting"]), str(runs["harm"])),
                shards=str(shards),
                out=str(out),
                limit=2,
                progress=False,
            )
        )
    assert (out1 / "samples.csv").read_text() == (out2 / "samples.csv").read_text()
    _, table = _table_rows((out1 / "table.md").read_text())
    assert list(table) == ["matting", "harm", "identity (I_d, no harmonization)"]
    assert table["matting"]["H-MSE"] == "–" and table["matting"]["SAD"] != "–"
    assert table["harm"]["SAD"] == "–" and table["harm"]["H-PSNR"] != "–"
    summary = json.loads((out1 / "summary.json").read_text())
    assert summary["runs"]["matting"]["samples"] == 2


def test_eval_region_all_counts_every_pixel(shards, runs, tmp_path):
    evaluate(
        EvalConfig(
            runs=(str(runs["matting"]),),
            shards=str(shards),
            out=str(tmp_path),
            region="all",
            limit=1,
            progress=False,
        )
    )
    row = next(csv.DictReader(open(tmp_path / "samples.csv")))
    nets, _ = load_nets(runs["matting"])
    item = ShardDataset(shards, "test")[0]
    alpha = item["A"][None].float() / 255
    with torch.no_grad():
        a_r = (
            predict_alpha(
                nets.matting, item["I"][None].float() / 255, trimap_from_alpha(alpha, EVAL_TRIMAP_RADIUS)
            )[0, 0]
            .double()
            .numpy()
        )
    assert float(row["sad"]) == pytest.approx(M.sad(a_r, item["A"][0].numpy(), region="all"), rel=1e-6)


def test_eval_cli_prints_table_and_errors_in_one_line(shards, runs, tmp_path):
    runner = CliRunner()
    ok = runner.invoke(
        main,
        [
            "eval",
            "--ckpt",
            str(runs["both"]),
            "--shards",
            str(shards),
            "--out",
            str(tmp_path / "cli"),
            "--limit",
            "1",
            "--no-progress",
            "--compare",
            str(runs["matting"]),
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert "| both |" in ok.output and "| matting |" in ok.output
    missing = runner.invoke(main, ["eval", "--ckpt", str(tmp_path / "nope"), "--shards", str(shards)])
    assert missing.exit_code != 0 and "nope: no such checkpoint" in missing.output
    assert "Traceback" not in missing.output and len(missing.output.strip().splitlines()) == 1
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    broken = runner.invoke(main, ["eval", "--ckpt", str(bad), "--shards", str(shards)])
    assert broken.exit_code != 0 and "bad.pt" in broken.output and "Traceback" not in broken.output


def test_bad_device_is_one_line_for_eval_and_composite(shards, runs, tmp_path):
    missing_cuda = "cuda:99" if torch.cuda.is_available() else "cuda"
    for device, said in (("gpu", "--device gpu: not a device"), (missing_cuda, f"--device {missing_cuda}: ")):
        for args in (
            [
                "eval",
                "--ckpt",
                str(runs["both"]),
                "--shards",
                str(shards),
                "--limit",
                "1",
                "--no-progress",
                "--out",
                str(tmp_path / "e"),
            ],
            [
                "composite",
                "--ckpt",
                str(runs["both"]),
                "--images",
                str(tmp_path),
                "--backgrounds",
                str(tmp_path),
                "--out",
                str(tmp_path / "c"),
            ],
        ):
            result = CliRunner().invoke(main, args + ["--device", device])
            assert result.exit_code == 1 and said in result.output, (args[0], result.output)
            assert len(result.output.strip().splitlines()) == 1
