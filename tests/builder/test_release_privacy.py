"""A release carries no local path and no host name; ``hmh-build verify`` flags one that does.

The build runs in-process with a distinctive host name (``socket.gethostname`` patched), from
a source with failures (so failures.jsonl has records), in temporary folders. Every released
file is then searched, as raw bytes and (HDF5) through every attribute and string dataset,
for the source, output, release and temporary folders, the home folder, the working folder
and both host names.
"""

import json
import os
import socket
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from hmh_builder import schema
from hmh_builder.cli import main
from hmh_builder.inspect.privacy import REDACTED
from tests.builder.helpers import build_args, kaggle_source, manifest

HOST = "buildhost-7f3a9c.cluster.example"
PACKAGE = ["--name", "hmh-mini", "--version", "1.0.0", "--license", "CC-BY-NC-4.0"]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("private")
    src = kaggle_source(root, n=12)
    matte = next((src / "matting").rglob("*00000002.png"))
    matte.write_bytes(matte.read_bytes()[:200])  # a decode failure
    image = next((src / "clip_img").rglob("*00000003.jpg"))
    image.rename(image.with_suffix(".webp"))  # a JPEG named .webp: read by its content
    next((src / "clip_img").rglob("*00000004.jpg")).unlink()  # a pair failure
    out, release = root / "out", root / "release" / "hmh-mini"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "gethostname", lambda: HOST)
        built = CliRunner().invoke(
            main, build_args(src, out, "--workers", 1, "--shard-size", 3, "--test-fraction", 0.3)
        )
        assert built.exit_code == 3, built.output
        packaged = CliRunner().invoke(main, ["package", str(out), "--release", str(release), *PACKAGE])
    assert packaged.exit_code == 0, packaged.output
    return root, src, out, release


def _private_strings(root: Path, src: Path, out: Path, release: Path) -> set:
    """Every local fact of the build machine a release could leak."""
    places = {root, src, out, release, Path(tempfile.gettempdir()) / "pytest-of-", Path.home(), Path.cwd()}
    found = set()
    for place in places:
        found |= {str(place), os.path.realpath(place)}
    found |= {HOST, HOST.split(".")[0]}
    if len(socket.gethostname()) >= 6:  # shorter names match random bytes by chance
        found.add(socket.gethostname())
    return {s for s in found if s not in ("/", "/tmp", "")}


def _hdf5_strings(path: Path) -> list[str]:
    texts = []

    def visit(name, obj):
        texts.append(name)
        texts.extend(f"{k}={v}" for k, v in obj.attrs.items())
        if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "OSU":
            texts.extend(v.decode() if isinstance(v, bytes) else str(v) for v in np.ravel(obj[()]))
        if isinstance(obj, h5py.Dataset) and obj.is_virtual:
            texts.extend(m.file_name for m in obj.virtual_sources())

    with h5py.File(path, "r") as h5:
        visit("/", h5)
        h5.visititems(visit)
    return texts


def test_no_released_file_holds_a_local_path_or_host_name(made):
    root, src, out, release = made
    secrets = _private_strings(root, src, out, release)
    files = sorted(p for p in release.rglob("*") if p.is_file())
    assert {p.name for p in files} >= {
        "manifest.json",
        "failures.jsonl",
        "README.md",
        "croissant.json",
        "SHA256SUMS",
        "preview.png",
        "train.h5",
        "test.h5",
    }
    for path in files:
        data = path.read_bytes()
        texts = _hdf5_strings(path) if path.suffix == ".h5" else []
        for secret in secrets:
            assert secret.encode() not in data, (path.name, secret)
            assert not any(secret in t for t in texts), (path.name, secret)


def test_the_build_folder_keeps_its_paths_and_the_release_redacts_them(made):
    _, src, out, release = made
    built, public = manifest(out), manifest(release)
    assert built["config"]["source"] == str(src) and built["run"]["host"] == HOST
    assert public["config"]["source"] == REDACTED and public["run"]["host"] == REDACTED
    assert public["config_hash"] == built["config_hash"] == schema.config_hash(public["config"])
    records = [json.loads(line) for line in (release / "failures.jsonl").read_text().splitlines()]
    assert len(records) == 2 and all(not r["path"].startswith("/") for r in records)
    assert "```json" in (release / "README.md").read_text()  # the card's config block is there
    verified = CliRunner().invoke(main, ["verify", str(release)])
    assert verified.exit_code == 0, verified.output


def _resum(release: Path, rel: str) -> None:
    sums = release / "SHA256SUMS"
    lines = [
        f"{schema.file_sha256(release / rel)}  {rel}" if line.endswith(f"  {rel}") else line
        for line in sums.read_text().splitlines()
    ]
    sums.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("leak", ["manifest", "failures", "card"])
def test_verify_flags_a_release_that_carries_a_local_path(made, tmp_path, leak):
    import shutil

    _, src, _, release = made
    copy = tmp_path / "rel"
    shutil.copytree(release, copy)
    if leak == "manifest":  # as packaged by an older hmh-build
        data = manifest(copy)
        data["config"]["source"] = str(src)
        (copy / "manifest.json").write_text(json.dumps(data, indent=2) + "\n")
        rel, words = "manifest.json", ["config.source is the build machine's path", str(src)]
    elif leak == "failures":
        text = (copy / "failures.jsonl").read_text()
        first = json.loads(text.splitlines()[0])
        first["reason"] = f"{src}/{first['path']} is broken"
        (copy / "failures.jsonl").write_text("\n".join([json.dumps(first)] + text.splitlines()[1:]) + "\n")
        rel, words = "failures.jsonl", ["holds a local path or host name", str(src)]
    else:
        card = copy / "README.md"
        card.write_text(card.read_text() + "\nBuilt on /home/alice/data.\n")
        rel, words = "README.md", ["holds a local path or host name", "/home/alice"]
    _resum(copy, rel)
    result = CliRunner().invoke(main, ["verify", str(copy)])
    assert result.exit_code == 1, result.output
    flagged = [line for line in result.output.splitlines() if line.startswith(f"{rel}: ")]
    assert len(flagged) == 1 and all(w in flagged[0] for w in words), result.output


def test_the_config_hash_leaves_the_source_path_out(tmp_path):
    """So a release can redact it, and a build whose source folder moved is the same build."""
    config = {"source": "/home/alice/src", "seed": 0, "size": [64, 64]}
    assert schema.config_hash(config) == schema.config_hash({**config, "source": REDACTED})
    assert schema.config_hash(config) != schema.config_hash({**config, "seed": 1})
    src = kaggle_source(tmp_path, n=3)
    out = tmp_path / "out"
    assert CliRunner().invoke(main, build_args(src, out, "--workers", 1)).exit_code == 0
    moved = src.rename(tmp_path / "moved")
    again = CliRunner().invoke(main, build_args(moved, out, "--workers", 1))
    assert again.exit_code == 0, again.output
    assert manifest(out)["config"]["source"] == str(moved)


@pytest.mark.parametrize(
    "text, leaks",
    [
        ("built from /home/alice/portraits", True),
        ("/Users/bob/Desktop/kaggle", True),
        ('"source": "/tmp/tmp.x1/src"', True),
        (r"C:\Users\alice\data", True),
        ("(/root)", True),
        ("/mnt/nas/hmh", True),
        ("/Volumes/T7/matting_human_datasets", True),  # a macOS external drive
        ("/data/alice/src", True),
        ("https://example.org/home/page", False),
        ("docs/tmp/notes", False),
        ("train/train-00000.h5", False),
        ("<redacted>", False),
        ("a/b/Volumes/x", False),
    ],
)
def test_local_path_pattern(text, leaks):
    from hmh_builder.inspect.privacy import LOCAL_PATH, first_leak

    assert (first_leak(text.encode(), [LOCAL_PATH]) is not None) == leaks
