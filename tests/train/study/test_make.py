"""``hmh-train study make``: the study folder's contents, blinding, renders equal to the
networks' own outputs, ready-made images of other methods, reproducibility, one-line errors."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from hmh_train.cli import main
from hmh_train.data.shards import ShardDataset
from hmh_train.nets.forward import harmonize
from hmh_train.study.folder import DEFAULT_INSTRUCTIONS, load_study, method_name
from hmh_train.train.checkpoint import load_nets
from tests.train.tiny_ckpt import save_tiny_checkpoint


def picture(study_dir, item) -> np.ndarray:
    with Image.open(study_dir / "images" / f"{item}.png") as image:
        assert image.mode == "RGB" and image.format == "PNG"
        return np.asarray(image)


def shard_rows(shards, ids):
    dataset = ShardDataset(shards, "test")
    rows = {}
    for k in range(len(dataset)):
        row = dataset[k]
        if row["id"] in ids:
            rows[row["id"]] = row
    return rows


def test_the_made_study_holds_every_method_of_every_sample_under_opaque_ids(made_study, shards):
    data = json.loads((made_study / "study.json").read_text())
    assert data["format"] == "hmh-study" and data["version"] == 1 and data["split"] == "test"
    assert data["methods"] == ["I_d", "runA", "runB"] and len(data["samples"]) == 2
    assert sorted((e["sample"], e["method"]) for e in data["items"].values()) == sorted(
        (s, m) for s in data["samples"] for m in data["methods"]
    )
    assert sorted(os.listdir(made_study)) == ["images", "instructions.txt", "study.json"]
    assert sorted(os.listdir(made_study / "images")) == sorted(f"{i}.png" for i in data["items"])
    assert (made_study / "instructions.txt").read_text().strip() == DEFAULT_INSTRUCTIONS
    for item in data["items"]:
        assert re.fullmatch(r"[0-9a-f]{12}", item)
        raw = (made_study / "images" / f"{item}.png").read_bytes()
        assert not [name for name in data["methods"] + data["samples"] if name.encode() in raw]
    study = load_study(made_study)
    assert study.methods == ("I_d", "runA", "runB") and len(study.items) == 6


def test_pictures_are_the_composite_and_each_networks_own_output(made_study, shards):
    study = load_study(made_study)
    rows = shard_rows(shards, set(study.samples))
    nets = {name: load_nets(made_study.parent / name)[0].harmonization for name in ("runA", "runB")}
    for item, entry in study.items.items():
        row = rows[entry["sample"]]
        got = picture(made_study, item)
        if entry["method"] == "I_d":
            assert np.array_equal(got, row["I_d"].permute(1, 2, 0).numpy())
            continue
        with torch.no_grad():  # 64×64 is a multiple of 2**5: the plain network call
            expected = harmonize(
                nets[entry["method"]], row["I_d"][None].float() / 255, 1 - row["A"][None].float() / 255
            )  # mask: the altered background
        expected = (expected[0].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        assert np.abs(got.astype(int) - expected).max() <= 1
    a, b = (
        {item: picture(made_study, item) for item, e in study.items.items() if e["method"] == m}
        for m in ("runA", "runB")
    )
    assert not np.array_equal(next(iter(a.values())), next(iter(b.values())))


def make(args):
    return CliRunner().invoke(main, ["study", "make", "--no-progress", *map(str, args)])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("study_runs")
    save_tiny_checkpoint(tmp / "joint", seed=3)
    save_tiny_checkpoint(tmp / "matting_only", names=("matting",), seed=4)
    return tmp


def test_same_inputs_and_seed_give_the_same_folder_byte_for_byte(shards, runs, tmp_path):
    def files(root):
        return {
            p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
        }

    for out, seed in (("a", 1), ("b", 1), ("c", 2)):
        result = make(
            [
                "--ckpt",
                runs / "joint" / "checkpoints" / "last.pt",
                "--shards",
                shards,
                "--n",
                2,
                "--seed",
                seed,
                "--include-real",
                "--out",
                tmp_path / out,
            ]
        )
        assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "2 samples × 3 methods (I_d, I, joint)" in result.output
    assert files(tmp_path / "a") == files(tmp_path / "b")
    assert files(tmp_path / "a") != files(tmp_path / "c")
    study = load_study(tmp_path / "a")
    rows = shard_rows(shards, set(study.samples))
    for item, entry in study.items.items():
        if entry["method"] == "I":
            assert np.array_equal(
                picture(tmp_path / "a", item), rows[entry["sample"]]["I"].permute(1, 2, 0).numpy()
            )


def test_ready_made_images_of_other_methods(shards, tmp_path):
    first = make(["--include-real", "--shards", shards, "--n", 2, "--out", tmp_path / "probe"])
    assert first.exit_code == 0, first.output
    samples = load_study(tmp_path / "probe").samples
    rng = np.random.default_rng(0)
    made = {}
    for method, ext in (("dih", ".png"), ("xue", ".jpg")):
        (tmp_path / "other" / method).mkdir(parents=True)
        for sample in samples:
            pixels = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "other" / method / f"{sample}{ext}", quality=95)
            with Image.open(tmp_path / "other" / method / f"{sample}{ext}") as back:
                made[(sample, method)] = np.asarray(back.convert("RGB"))
    result = make(["--images", tmp_path / "other", "--shards", shards, "--n", 2, "--out", tmp_path / "study"])
    assert result.exit_code == 0, result.output
    study = load_study(tmp_path / "study")
    assert study.methods == ("I_d", "dih", "xue")
    for item, entry in study.items.items():
        if entry["method"] != "I_d":
            assert np.array_equal(picture(tmp_path / "study", item), made[(entry["sample"], entry["method"])])

    os.remove(tmp_path / "other" / "xue" / f"{samples[1]}.jpg")
    result = make(["--images", tmp_path / "other", "--shards", shards, "--n", 2, "--out", tmp_path / "s2"])
    assert (
        result.exit_code == 1
        and f"xue: no image for 1 of 2 samples (first: {samples[1]}.png" in result.output
    )
    Image.fromarray(np.zeros((32, 64, 3), np.uint8)).save(tmp_path / "other" / "xue" / f"{samples[1]}.png")
    result = make(["--images", tmp_path / "other", "--shards", shards, "--n", 2, "--out", tmp_path / "s2"])
    assert (
        result.exit_code == 1
        and f"{samples[1]}.png: 64×32 pixels, but the shards' pictures are 64×64" in result.output
    )
    assert not (tmp_path / "s2").exists() and not (tmp_path / "s2.making").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--include-real", "--n", 1], "already exists; pass --overwrite to replace it"),
        (
            ["--include-real", "--n", 1000, "--overwrite"],
            "asked for 1000 samples but the test split has only",
        ),
        (["--ckpt", "{runs}/nowhere", "--overwrite"], "nowhere: no such run folder or checkpoint file"),
        (
            ["--ckpt", "{runs}/matting_only", "--n", 1, "--overwrite"],
            "the checkpoint holds no harmonization net",
        ),
        (
            ["--ckpt", "{runs}/joint", "--ckpt", "{runs}/joint/checkpoints/last.pt", "--overwrite"],
            "a second method named 'joint'",
        ),
        (
            ["--images", "{runs}/nowhere", "--overwrite"],
            "no such folder (--images expects one sub-folder per method)",
        ),
        (["--overwrite"], "a study needs at least one method besides I_d"),
        (["--split", "valid", "--include-real", "--overwrite"], "no valid shards"),
    ],
)
def test_unusable_input_gives_one_line_and_keeps_an_earlier_study(shards, runs, tmp_path, args, message):
    (tmp_path / "study").mkdir()
    (tmp_path / "study" / "keep.txt").write_text("an earlier study")
    result = make(
        ["--shards", shards, "--out", tmp_path / "study", *[str(a).format(runs=runs) for a in args]]
    )
    assert result.exit_code == 1 and message in result.output, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert (tmp_path / "study" / "keep.txt").read_text() == "an earlier study"


def test_overwrite_replaces_an_earlier_study(shards, tmp_path):
    (tmp_path / "study").mkdir()
    (tmp_path / "study" / "ratings.jsonl").write_text("old\n")
    result = make(
        ["--shards", shards, "--out", tmp_path / "study", "--include-real", "--n", 1, "--overwrite"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(tmp_path / "study")) == ["images", "instructions.txt", "study.json"]


def test_method_names_come_from_run_folders_and_file_stems(tmp_path):
    (tmp_path / "runs" / "joint" / "checkpoints").mkdir(parents=True)
    assert method_name(tmp_path / "runs" / "joint") == "joint"
    assert method_name(str(tmp_path / "runs" / "joint") + "/") == "joint"
    assert method_name(tmp_path / "runs" / "joint" / "checkpoints" / "best.pt") == "joint"
    assert method_name(tmp_path / "dovenet" / "latest_net_G.pth") == "latest_net_G"
    assert method_name(tmp_path / "indexnet_matting.pth.tar") == "indexnet_matting"
    assert method_name(tmp_path / "ours.pt") == "ours"
    assert method_name(tmp_path / "best.pt") == "best"


def test_method_names_of_relative_paths_are_the_run_folders_name(tmp_path, monkeypatch):
    """``--ckpt .`` inside a run folder, ``--ckpt ..`` from its checkpoints/, or ``best.pt``
    from there: the method is still named after the run, never "." or ".." or "best"."""
    (tmp_path / "runs" / "joint" / "checkpoints").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "runs" / "joint")
    assert method_name(".") == "joint"
    assert method_name("./checkpoints/best.pt") == "joint"
    monkeypatch.chdir(tmp_path / "runs" / "joint" / "checkpoints")
    assert method_name("..") == "joint"
    assert method_name("best.pt") == "joint"
    assert method_name("last.pt") == "joint"


def png_chunks(data: bytes) -> list[str]:
    """The chunk types of a PNG file, in order."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = [], 8
    while at < len(data):
        length = int.from_bytes(data[at : at + 4], "big")
        chunks.append(data[at + 4 : at + 8].decode("ascii"))
        at += 12 + length
    return chunks


def test_ready_made_images_lose_their_metadata_so_no_picture_names_its_method(shards, tmp_path):
    """Other methods' outputs often say what made them (PNG text chunks, a JPEG comment or
    EXIF): the study's pictures are plain RGB PNGs (IHDR, IDAT, IEND) whatever came in."""
    from PIL import PngImagePlugin

    probe = make(["--include-real", "--shards", shards, "--n", 2, "--out", tmp_path / "probe"])
    assert probe.exit_code == 0, probe.output
    samples = load_study(tmp_path / "probe").samples
    pixels = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    for method, ext in (("DoveNetRun", ".png"), ("XueMethod", ".jpg")):
        (tmp_path / "other" / method).mkdir(parents=True)
        for sample in samples:
            path = tmp_path / "other" / method / f"{sample}{ext}"
            if ext == ".png":
                info = PngImagePlugin.PngInfo()
                info.add_text("Software", f"{method} for {sample}")
                info.add_itxt("Comment", f"method={method} sample={sample}")
                Image.fromarray(pixels).save(path, pnginfo=info)
            else:
                exif = Image.Exif()
                exif[0x0131] = f"{method} {sample}"  # Software
                Image.fromarray(pixels).save(
                    path, quality=95, exif=exif, comment=f"{method} {sample}".encode()
                )
            assert method.encode() in path.read_bytes() and sample.encode() in path.read_bytes()
    result = make(
        [
            "--images",
            tmp_path / "other",
            "--include-real",
            "--shards",
            shards,
            "--n",
            2,
            "--out",
            tmp_path / "study",
        ]
    )
    assert result.exit_code == 0, result.output
    study = load_study(tmp_path / "study")
    secrets = [name.encode() for name in study.methods + study.samples if len(name) > 1]
    for item in study.items:
        data = (tmp_path / "study" / "images" / f"{item}.png").read_bytes()
        assert png_chunks(data) == ["IHDR", "IDAT", "IEND"], item
        assert not [s for s in secrets if s in data], item


def test_item_ids_cannot_be_recomputed_from_the_seed(shards, runs, tmp_path):
    """A rater knows the toolkit and may guess the seed (most studies keep the default 0). Ids
    drawn from the seed alone, in (sample, method) order, would tell them which picture is which
    method: the ids also depend on the pictures, so another study with the same seed and shape
    shares none of them, and the seed's own draws are not the ids."""
    from hmh_train.study.folder import draw_item_ids

    save_tiny_checkpoint(tmp_path / "other" / "joint", seed=9)
    for out, ckpt in (("a", runs / "joint"), ("b", tmp_path / "other" / "joint")):
        result = make(
            ["--ckpt", ckpt, "--shards", shards, "--n", 2, "--include-real", "--out", tmp_path / out]
        )
        assert result.exit_code == 0, result.output
    a, b = (set(load_study(tmp_path / out).items) for out in ("a", "b"))
    assert len(a) == len(b) == 6 and a.isdisjoint(b)
    for stream in range(4):
        assert a.isdisjoint(draw_item_ids(np.random.default_rng([0, stream]), 6))
