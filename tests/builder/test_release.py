"""hmh-build package: a release others can check with standard tools and read without us."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from hmh_builder.cli import main
from hmh_builder.inspect.verify import inspect_build
from tests.builder.buildfixture import make_build

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ["--name", "hmh-mini", "--version", "1.0.0", "--license", "CC-BY-NC-4.0"]

# Runs in a separate interpreter with no project import: only h5py, numpy, json.
READER = r"""
import json, sys, h5py, numpy as np
release = sys.argv[1]
manifest = json.load(open(f"{release}/manifest.json"))
checked = 0
for split in ("train", "test"):
    shards = sorted(e["path"] for e in manifest["shards"] if e["split"] == split)
    if not shards:
        continue
    with h5py.File(f"{release}/{split}.h5", "r") as vds:
        row = 0
        for path in shards:
            with h5py.File(f"{release}/{path}", "r") as shard:
                n = shard["id"].shape[0]
                for name in ("I", "A", "F", "B", "I_d"):
                    assert np.array_equal(vds[name][row:row + n], shard[name][()]), (split, name)
                for name in ("id", "transform", "params"):
                    assert list(vds[name].asstr()[row:row + n]) == list(shard[name].asstr()[()])
                row += n
        assert row == vds["I"].shape[0] and vds.attrs["split"] == split
        checked += row
assert not any(name.startswith("hmh") for name in sys.modules), "project code was imported"
print(checked)
"""


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    return make_build(tmp_path_factory.mktemp("release"))


@pytest.fixture(scope="module")
def release(build, tmp_path_factory):
    target = tmp_path_factory.mktemp("rel") / "hmh-mini"
    result = CliRunner().invoke(
        main,
        ["package", str(build), "--release", str(target), *PACKAGE, "--source-license", "AISegment terms X"],
    )
    assert result.exit_code == 0, result.output
    return target


def test_virtual_files_read_the_shards_without_project_code(release, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-I", "-c", READER, str(release)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads((release / "manifest.json").read_text())
    assert int(result.stdout) == manifest["counts"]["written"]


def test_system_sha256sum_accepts_the_release(release):
    sha256sum = shutil.which("sha256sum")
    assert sha256sum, "sha256sum (coreutils) is needed for this test"
    result = subprocess.run(
        [sha256sum, "-c", "--strict", "SHA256SUMS"], cwd=release, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    listed = {line.split("  ", 1)[1] for line in (release / "SHA256SUMS").read_text().splitlines()}
    on_disk = {str(p.relative_to(release)) for p in release.rglob("*") if p.is_file()}
    assert listed == on_disk - {"SHA256SUMS"}


def test_mlcroissant_validates_the_metadata(release):
    tool = ROOT / ".venv" / "bin" / "mlcroissant"
    tool = str(tool) if tool.exists() else shutil.which("mlcroissant")
    assert tool, "mlcroissant (the 'release' extra) is needed for this test"
    result = subprocess.run(
        [tool, "validate", "--jsonld", "croissant.json"],
        cwd=release,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "Done." in result.stderr and "WARNING" not in result.stderr, result.stderr
    metadata = json.loads((release / "croissant.json").read_text())
    assert metadata["conformsTo"] == "http://mlcommons.org/croissant/1.1"
    sets = [d for d in metadata["distribution"] if d["@type"] == "cr:FileSet"]
    assert {d["encodingFormat"] for d in sets} == {"application/x-hdf5"}
    for item in metadata["distribution"]:
        if item["@type"] == "cr:FileObject":
            assert {"encodingFormat", "contentUrl", "sha256"} <= set(item)


def test_card_states_the_facts(release):
    text = (release / "README.md").read_text()
    manifest = json.loads((release / "manifest.json").read_text())
    for section in (
        "Motivation",
        "Composition",
        "Collection process",
        "Preprocessing",
        "Uses",
        "Distribution",
        "Maintenance",
    ):
        assert f"## {section}" in text
    for fact in (
        manifest["content_digest"],
        "CC-BY-NC-4.0",
        "AISegment terms X",
        "AISegment Matting Human Datasets",
        manifest["builder_version"],
        f"| samples | {manifest['counts']['written']} ",
    ):
        assert fact in text, fact
    snippet = text.split("```python\n", 1)[1].split("```", 1)[0]
    assert len(snippet.strip().splitlines()) == 5


def test_shards_are_hard_linked(build, release):
    for shard in build.glob("*/*.h5"):
        assert (release / shard.relative_to(build)).stat().st_ino == shard.stat().st_ino


def test_release_verifies_and_previews(release, tmp_path):
    report = inspect_build(release)
    assert report.problems == []
    assert report.content_digest == json.loads((release / "manifest.json").read_text())["content_digest"]
    assert Image.open(release / "preview.png").size[0] > 0
    result = CliRunner().invoke(
        main, ["preview", str(release), "-o", str(tmp_path / "p.png"), "--split", "train", "--n", "2"]
    )
    assert result.exit_code == 0, result.output


def test_verify_catches_an_edited_release_file(release, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(release, copy)
    (copy / "README.md").write_text("changed\n")
    texts = [str(p) for p in inspect_build(copy).problems]
    assert texts == ["README.md: does not match its SHA256SUMS checksum"]


def test_refuses_a_corrupted_build(build, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(build, broken)
    shard = next(broken.glob("train/*.h5"))
    shard.write_bytes(shard.read_bytes()[:-100])
    result = CliRunner().invoke(main, ["package", str(broken), "--release", str(tmp_path / "r"), *PACKAGE])
    assert result.exit_code == 1
    assert "does not verify" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "r").exists()


def test_refuses_without_licence(build, tmp_path):
    result = CliRunner().invoke(
        main, ["package", str(build), "--release", str(tmp_path / "r"), "--name", "x", "--version", "1.0.0"]
    )
    assert result.exit_code == 1
    assert "no --license given" in result.output
    assert not (tmp_path / "r").exists()


def test_refuses_a_non_empty_target(build, tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "keep.txt").write_text("x")
    result = CliRunner().invoke(main, ["package", str(build), "--release", str(tmp_path / "r"), *PACKAGE])
    assert result.exit_code == 1 and "not empty" in result.output
    assert os.listdir(tmp_path / "r") == ["keep.txt"]


def test_optional_b_t_is_verified_and_joined(tmp_path):
    import h5py
    import numpy as np

    build = make_build(tmp_path, n=6, store_b_t=True)
    assert inspect_build(build).problems == []
    target = tmp_path / "rel"
    result = CliRunner().invoke(main, ["package", str(build), "--release", str(target), *PACKAGE])
    assert result.exit_code == 0, result.output
    shards = sorted(target.glob("train/*.h5"))
    with h5py.File(target / "train.h5") as vds:
        joined = np.concatenate([h5py.File(s)["B_t"][()] for s in shards])
        np.testing.assert_array_equal(vds["B_t"][()], joined)


def test_verify_catches_a_virtual_file_that_maps_the_wrong_shards(release, tmp_path):
    import hashlib

    import h5py

    copy = tmp_path / "copy"
    shutil.copytree(release, copy)
    with h5py.File(copy / "train.h5", "r+") as h5:  # reversed rows: same shape, wrong order
        h5["id"][...] = list(h5["id"].asstr()[()])[::-1]
    sums = (copy / "SHA256SUMS").read_text().splitlines()
    digest = hashlib.sha256((copy / "train.h5").read_bytes()).hexdigest()
    (copy / "SHA256SUMS").write_text(
        "".join((f"{digest}  train.h5" if line.endswith("  train.h5") else line) + "\n" for line in sums)
    )
    texts = [str(p) for p in inspect_build(copy).problems]
    assert texts == ["train.h5: its ids differ from the train shards' ids"]


def test_refuses_a_target_inside_the_build(build):
    result = CliRunner().invoke(main, ["package", str(build), "--release", str(build / "rel"), *PACKAGE])
    assert result.exit_code == 1 and "must be outside" in result.output
    assert not (build / "rel").exists()


def test_card_numbers_equal_the_manifest(release):
    text = (release / "README.md").read_text()
    manifest = json.loads((release / "manifest.json").read_text())
    counts, (height, width) = manifest["counts"], manifest["config"]["size"]
    assert (
        f"| samples | {counts['written']} (train {counts.get('train', 0)}, test {counts.get('test', 0)}) |"
    ) in text
    assert f"| image size | {height} × {width} (H × W), RGB, uint8 |" in text
    assert (
        f"Of {counts['discovered']} source inputs found, {counts['written']} were written and "
        f"{counts['failed']} could not be used" in text
    )
    assert f"build seed ({manifest['config']['seed']})" in text
    assert f"test fraction ({manifest['config']['test_fraction']})" in text
    assert (
        f"({manifest['config']['background']}, at {manifest['config']['background_resolution']} "
        "resolution)" in text
    )
    for split in ("train", "test"):
        if counts.get(split):
            assert f"| {split} | {counts[split]} |" in text


def test_copies_shards_when_hard_links_fail(build, tmp_path, monkeypatch):
    import errno

    from hmh_builder.release import package as release_module

    def no_link(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(release_module.os, "link", no_link)
    target = tmp_path / "copied"
    result = CliRunner().invoke(main, ["package", str(build), "--release", str(target), *PACKAGE])
    assert result.exit_code == 0, result.output
    assert "(0 hard-linked)" in result.output
    for shard in build.glob("*/*.h5"):
        copy = target / shard.relative_to(build)
        assert copy.stat().st_ino != shard.stat().st_ino and copy.read_bytes() == shard.read_bytes()
    assert inspect_build(target).problems == []
    check = subprocess.run(
        ["sha256sum", "-c", "--strict", "SHA256SUMS"], cwd=target, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
