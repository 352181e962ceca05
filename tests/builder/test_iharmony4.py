"""``hmh-build iharmony4`` on a tiny stand-in written in iHarmony4's exact layout: DoveNet's
naming rule and reading, per-sample failures, reproducibility, resume, verify and package."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from hmh_builder import schema
from hmh_builder.fsio import iharmony4_partners as partner_paths
from hmh_builder.inspect.verify import verify_build
from tests.builder.helpers import failures, files_under, manifest
from tests.standins import write_iharmony4

ROOT = Path(__file__).resolve().parents[2]
HMH_BUILD = str(Path(sys.executable).with_name("hmh-build"))


def run(*args, timeout=300):
    return subprocess.run([HMH_BUILD, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def ingest(src, out, *extra):
    return run("iharmony4", "--src", src, "--out", out, "--size", 32, "--no-progress", *extra)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("ihd") / "IHD"
    lists = write_iharmony4(root)
    return root, lists


@pytest.fixture(scope="module")
def build(source, tmp_path_factory):
    out = tmp_path_factory.mktemp("ih_out") / "out"
    result = ingest(source[0], out, "--workers", 2, "--shard-size", 3)
    assert result.returncode == 0, result.stderr
    return out, result


def rows(out) -> dict:
    found = {}
    for entry in manifest(out)["shards"]:
        with h5py.File(Path(out) / entry["path"], "r") as h5:
            assert schema.check_shard(h5, entry["split"]) == []
            for k, sample_id in enumerate(h5["id"].asstr()[()]):
                found[sample_id] = {
                    "split": entry["split"],
                    "subset": h5["subset"].asstr()[k],
                    **{n: h5[n][k] for n in ("I", "I_d", "M")},
                }
    return found


def test_doveNet_naming_rule():
    assert partner_paths("HCOCO/composite_images/c1_1_1.jpg") == (
        "HCOCO/masks/c1_1.png",
        "HCOCO/real_images/c1.jpg",
    )
    assert partner_paths("HAdobe5k/composite_images/a0001_1_2.jpg") == (
        "HAdobe5k/masks/a0001_1.png",
        "HAdobe5k/real_images/a0001.jpg",
    )
    assert partner_paths("Hday2night/composite_images/d90000001-1_1_3.jpg") == (
        "Hday2night/masks/d90000001-1_1.png",
        "Hday2night/real_images/d90000001-1.jpg",
    )
    assert partner_paths("HFlickr/composite_images/x_y_2_1.jpg") == (
        "HFlickr/masks/x_y_2.png",
        "HFlickr/real_images/x_y.jpg",
    )
    with pytest.raises(ValueError, match="naming"):
        partner_paths("HCOCO/composite_images/c1.jpg")


def test_build_writes_pairs_as_doveNet_reads_them(source, build):
    root, lists = source
    out, result = build
    assert "discovered 12, written 12, failed 0" in result.stdout
    assert "subsets: HCOCO 4/2, HFlickr 4/2 (train/test)" in result.stdout
    m = manifest(out)
    assert m["kind"] == "harmonization" and m["format"] == "hmh-manifest"
    assert m["counts"]["train"] == 8 and m["counts"]["test"] == 4
    assert m["counts"]["subsets"] == {"HCOCO": {"train": 4, "test": 2}, "HFlickr": {"train": 4, "test": 2}}
    assert files_under(out) == sorted(["manifest.json", "failures.jsonl"] + [s["path"] for s in m["shards"]])
    found = rows(out)
    for split, lines in lists.items():
        for line in lines:
            sample = found[line]
            assert sample["split"] == split and sample["subset"] == line.split("/")[0]
            mask_rel, real_rel = partner_paths(line)
            # independent computation: PIL reads, bilinear to 32×32 for the photos
            for name, rel in (("I_d", line), ("I", real_rel)):
                want = np.asarray(
                    Image.open(root / rel).convert("RGB").resize((32, 32), Image.Resampling.BILINEAR)
                )
                assert np.array_equal(sample[name], want), (line, name)
            # the mask: 1-bit, nearest pixel centre (Pillow's rule for mode "1"), 0/255
            bits = np.asarray(Image.open(root / mask_rel).convert("1"))
            h, w = bits.shape
            ys = np.floor((np.arange(32) + 0.5) * h / 32).astype(int)
            xs = np.floor((np.arange(32) + 0.5) * w / 32).astype(int)
            assert np.array_equal(sample["M"], bits[ys][:, xs].astype(np.uint8) * 255), line
            assert set(np.unique(sample["M"])) <= {0, 255} and sample["M"].max() == 255
    with h5py.File(out / "test" / "test-00000.h5", "r") as h5:  # list order within a split
        assert list(h5["id"].asstr()[()]) == lists["test"][:3]
        assert h5.attrs["kind"] == "harmonization" and h5["M"].chunks == (1, 32, 32)


def test_digest_is_the_same_for_any_worker_count_and_shard_size(source, build, tmp_path):
    out, _ = build
    other = tmp_path / "one"
    result = ingest(source[0], other, "--workers", 1, "--shard-size", 5)
    assert result.returncode == 0, result.stderr
    assert manifest(other)["content_digest"] == manifest(out)["content_digest"]
    assert rows(other).keys() == rows(out).keys()


def test_missing_and_broken_files_are_one_line_each_and_the_rest_goes_on(source, tmp_path):
    root = tmp_path / "IHD"
    shutil.copytree(source[0], root)
    lines = source[1]["train"]
    (root / partner_paths(lines[0])[0]).unlink()  # mask of lines 0 and 1 missing
    (root / partner_paths(lines[4])[1]).unlink()  # real image of lines 4 and 5 missing
    (root / lines[2]).write_bytes(b"not a jpeg at all")  # a composite that does not decode
    (root / "IHD_train.txt").write_text(
        "\n".join(lines + ["HCOCO/composite_images/bad.jpg", lines[3], ""]) + "\n"
    )
    out = tmp_path / "out"
    result = ingest(root, out, "--workers", 2, "--shard-size", 2)
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "discovered 14, written 7, failed 7" in result.stdout
    records = failures(out)
    assert len(records) == 7
    by_id = {r["id"]: r for r in records}
    assert by_id[lines[0]]["stage"] == "pair" and "masks" in by_id[lines[0]]["reason"]
    assert "is missing" in by_id[lines[4]]["reason"] and "real_images" in by_id[lines[4]]["path"]
    assert by_id[lines[2]]["stage"] == "decode" and by_id[lines[2]]["path"] == lines[2]
    assert "naming" in by_id["IHD_train.txt:9"]["reason"]
    assert "repeats" in by_id["IHD_train.txt:10"]["reason"]
    assert all("\n" not in r["reason"] for r in records)
    assert verify_build(out) == []
    assert manifest(out)["counts"]["train"] == 3 and manifest(out)["counts"]["test"] == 4


def test_missing_list_file_is_one_line(tmp_path):
    (tmp_path / "IHD").mkdir()
    result = ingest(tmp_path / "IHD", tmp_path / "out", "--split", "test")
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error:") and "IHD_test.txt" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_rerun_resumes_and_keeps_intact_shards(source, tmp_path):
    out = tmp_path / "out"
    assert ingest(source[0], out, "--workers", 1, "--shard-size", 3).returncode == 0
    digest = manifest(out)["content_digest"]
    again = ingest(source[0], out, "--workers", 1, "--shard-size", 3)
    assert again.returncode == 0 and "5 shard(s) kept" in again.stdout
    (out / "train" / "train-00001.h5").unlink()
    resumed = ingest(source[0], out, "--workers", 1, "--shard-size", 3)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming: 4 of 5 shard(s)" in resumed.stderr
    assert manifest(out)["content_digest"] == digest and verify_build(out) == []
    refused = ingest(source[0], out, "--workers", 1, "--shard-size", 4)
    assert refused.returncode == 1 and "different config" in refused.stderr


def test_train_split_only(source, tmp_path):
    out = tmp_path / "out"
    result = ingest(source[0], out, "--split", "train", "--workers", 1)
    assert result.returncode == 0, result.stderr
    assert manifest(out)["counts"]["test"] == 0 and not (out / "test").exists()
    assert verify_build(out) == []


def _edit_first_shard(out, edit):
    path = out / manifest(out)["shards"][0]["path"]
    with h5py.File(path, "r+") as h5:
        edit(h5)
    data = json.loads((out / "manifest.json").read_text())
    data["shards"][0].update(bytes=path.stat().st_size, sha256=schema.file_sha256(path))
    (out / "manifest.json").write_text(json.dumps(data))


def test_verify_checks_the_mask_and_the_subsets(build, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(build[0], out)
    _edit_first_shard(out, lambda h5: h5["M"].__setitem__((0, 0, 0), 7))
    text = " ".join(str(p) for p in verify_build(out))
    assert "not binary" in text and "content_digest" in text
    shutil.rmtree(out)
    shutil.copytree(build[0], out)
    data = json.loads((out / "manifest.json").read_text())
    data["counts"]["subsets"]["HCOCO"]["train"] = 5
    (out / "manifest.json").write_text(json.dumps(data))
    assert any("counts.subsets" in str(p) for p in verify_build(out))
    shutil.rmtree(out)
    shutil.copytree(build[0], out)
    _edit_first_shard(out, lambda h5: h5.attrs.__delitem__("kind"))
    assert any("kind" in str(p) or "missing" in str(p) for p in verify_build(out))


def test_package_release_verifies_and_describes_the_pairs(build, tmp_path):
    release = tmp_path / "release"
    result = run(
        "package",
        build[0],
        "--release",
        release,
        "--name",
        "ihd-pairs",
        "--version",
        "1.0.0",
        "--license",
        "CC-BY-NC-4.0",
    )
    assert result.returncode == 0, result.stderr
    assert verify_build(release) == []
    card = (release / "README.md").read_text()
    assert "iHarmony4" in card and "| `M` | uint8 |" in card and "nearest" in card
    assert "| train | 8 | 4 | 4 |" in card and "`A`" not in card
    meta = json.loads((release / "croissant.json").read_text())
    assert "iHarmony4" in meta["isBasedOn"] and "image matting" not in meta["keywords"]
    with h5py.File(release / "test.h5", "r") as h5:
        assert h5.attrs["kind"] == "harmonization" and h5["M"].is_virtual
        assert h5["I_d"].shape == (4, 32, 32, 3) and list(h5["subset"].asstr()[()]) == [
            "HCOCO",
            "HCOCO",
            "HFlickr",
            "HFlickr",
        ]
    tool = ROOT / ".venv" / "bin" / "mlcroissant"
    tool = str(tool) if tool.exists() else shutil.which("mlcroissant")
    assert tool, "mlcroissant (the 'release' extra) is needed for this test"
    checked = subprocess.run(
        [tool, "validate", "--jsonld", "croissant.json"],
        cwd=release,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert checked.returncode == 0 and "WARNING" not in checked.stderr, checked.stderr


def test_stats_refuses_pairs_in_one_line(build):
    result = run("stats", build[0])
    assert result.returncode == 1 and "harmonization pairs" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_file_the_system_cannot_read_stops_its_shard_and_a_rerun_resumes(source, tmp_path, monkeypatch):
    """As in hmh-build: an OSError other than 'missing' is a fault of the environment, not of
    the sample: its shard is not written (no file left), the others are, and a rerun finishes."""
    from hmh_builder.ingest import iharmony4_shard
    from hmh_builder.ingest.iharmony4 import IHarmony4Config
    from hmh_builder.ingest.iharmony4_run import ingest_iharmony4
    from hmh_builder.pipeline.config import RunOptions

    real = iharmony4_shard.decode_pil_resized
    blocked = source[1]["test"][0]

    def deny(path, mode, size=None):
        if path.endswith(blocked):
            raise PermissionError(13, "Permission denied", path)
        return real(path, mode, size)

    config = IHarmony4Config(str(source[0]), (32, 32), ("train", "test"), 3)
    options = RunOptions(out=str(tmp_path / "out"), workers=1)
    monkeypatch.setattr(iharmony4_shard, "decode_pil_resized", deny)
    outcome = ingest_iharmony4(config, options, echo=lambda m: None)
    assert len(outcome.faults) == 1 and "Permission denied" in outcome.faults[0]
    assert blocked in outcome.faults[0] and outcome.manifest is None
    assert not (tmp_path / "out" / "test" / "test-00000.h5").exists()
    assert not list((tmp_path / "out").rglob("*.tmp"))
    monkeypatch.setattr(iharmony4_shard, "decode_pil_resized", real)
    lines = []
    again = ingest_iharmony4(config, options, echo=lines.append)
    assert again.faults == [] and again.kept_shards == 4 and again.built == 3
    assert lines == ["resuming: 4 of 5 shard(s) already complete, building 1"]
    assert verify_build(tmp_path / "out") == []
