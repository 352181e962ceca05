"""hmh-build verify: a clean build passes; every listed corruption is reported by file."""

import json
import os
import shutil

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from hmh_builder import schema
from hmh_builder.cli import main
from hmh_builder.inspect import checks as verify_checks
from hmh_builder.inspect.verify import inspect_build, verify_build
from tests.builder.buildfixture import make_build


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return make_build(tmp_path_factory.mktemp("verify-template"))


@pytest.fixture
def build(template, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(template, out)
    return out


def _manifest(out):
    return json.loads((out / "manifest.json").read_text())


def _save_manifest(out, manifest):
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))


def _first_shard(out):
    return _manifest(out)["shards"][0]["path"]


def _texts(out):
    return [str(p) for p in verify_build(out)]


def test_clean_build_passes_and_cli_prints_digest(build):
    report = inspect_build(build)
    assert report.problems == []
    assert report.content_digest == _manifest(build)["content_digest"]
    assert report.samples == _manifest(build)["counts"]["written"] > 0
    result = CliRunner().invoke(main, ["verify", str(build)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == f"content-digest: {report.content_digest}"


def test_missing_shard(build):
    rel = _first_shard(build)
    os.remove(build / rel)
    texts = _texts(build)
    assert any(t.startswith(f"{rel}: is missing") for t in texts), texts


def test_truncated_shard(build):
    rel = _first_shard(build)
    path = build / rel
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    texts = [t for t in _texts(build) if t.startswith(rel)]
    assert any("bytes, the manifest says" in t for t in texts), texts
    assert any("sha256" in t for t in texts), texts


def test_flipped_byte_inside_shard(build):
    rel = _first_shard(build)
    path = build / rel
    with h5py.File(path, "r") as h5:  # flip a pixel byte of I of the first sample
        offset = h5["I"].id.get_chunk_info(0).byte_offset + 5
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    texts = _texts(build)
    assert any(t.startswith(f"{rel}: sha256 is") for t in texts), texts
    assert any(t.startswith("manifest.json: content_digest is") for t in texts), texts


@pytest.mark.parametrize("extra", ["train/train-00099.h5", "notes.txt", "test/x.h5.tmp"])
def test_extra_file_not_in_manifest(build, extra):
    shutil.copy(build / _first_shard(build), build / extra)
    texts = _texts(build)
    assert [t for t in texts if t.startswith(extra + ":")], texts
    assert all(t.startswith(extra + ":") for t in texts), texts


def _edit_written(m):
    m["counts"]["written"] += 1


def _edit_split_count(m):
    m["counts"]["train"] -= 1


def _edit_sha(m):
    m["shards"][0]["sha256"] = "0" * 64


def _edit_samples(m):
    m["shards"][0]["samples"] += 1


def _edit_digest(m):
    m["content_digest"] = "f" * 64


def _edit_config(m):
    m["config"]["seed"] = 12345


def _drop_shard(m):
    m["shards"].pop()


def _edit_discovered(m):
    m["counts"]["discovered"] += 2


def _edit_builder_version(m):
    m["builder_version"] = "9.9.9"


def _edit_bytes(m):
    m["shards"][-1]["bytes"] -= 1


@pytest.mark.parametrize(
    "edit",
    [
        _edit_written,
        _edit_split_count,
        _edit_sha,
        _edit_samples,
        _edit_digest,
        _edit_config,
        _drop_shard,
        _edit_discovered,
        _edit_builder_version,
        _edit_bytes,
    ],
)
def test_hand_edited_manifest(build, edit):
    manifest = _manifest(build)
    edit(manifest)
    _save_manifest(build, manifest)
    assert verify_build(build), f"{edit.__name__} was not caught"


def _rewrite_consistently(out, rel, change):
    """Apply ``change(h5)`` to a shard and re-record its checksum and the digest (a buggy
    builder, not a corruption): only the invariant check can catch it."""
    with h5py.File(out / rel, "r+") as h5:
        change(h5)
    manifest = _manifest(out)
    entry = next(e for e in manifest["shards"] if e["path"] == rel)
    entry["sha256"] = schema.file_sha256(out / rel)
    entry["bytes"] = os.path.getsize(out / rel)
    manifest["content_digest"] = inspect_build(out).content_digest
    _save_manifest(out, manifest)


def test_foreground_invariant(build):
    rel = _first_shard(build)

    def brighten_f(h5):
        h5["F"][0] = np.clip(h5["F"][0].astype(int) + 3, 0, 255).astype(np.uint8)

    _rewrite_consistently(build, rel, brighten_f)
    texts = _texts(build)
    assert len(texts) == 1 and texts[0].startswith(f"{rel}: F differs"), texts


def test_composite_invariant(build):
    rel = _first_shard(build)

    def paint_composite(h5):
        h5["I_d"][0] = 255 - h5["I"][0]

    _rewrite_consistently(build, rel, paint_composite)
    texts = _texts(build)
    assert len(texts) == 1 and texts[0].startswith(f"{rel}: I_d differs"), texts


def test_failure_count_mismatch(build):
    with open(build / "failures.jsonl", "a") as handle:
        handle.write(
            json.dumps({"id": "x", "path": "x.jpg", "stage": "decode", "reason": "The file is not an image."})
            + "\n"
        )
    texts = _texts(build)
    assert any("counts.failed" in t for t in texts), texts


def test_missing_manifest_and_cli_exit_code(build):
    os.remove(build / "manifest.json")
    result = CliRunner().invoke(main, ["verify", str(build)])
    assert result.exit_code == 1
    assert result.output.startswith("manifest.json: no manifest.json")
    assert "content-digest" not in result.output


def test_cli_names_file_and_fails(build):
    rel = _first_shard(build)
    os.remove(build / rel)
    result = CliRunner().invoke(main, ["verify", str(build)])
    assert result.exit_code == 1
    assert f"{rel}: is missing" in result.output
    assert "Traceback" not in result.output


def test_invariant_oracles():
    image = np.array([[[200, 100, 1]]], np.uint8)
    alpha = np.array([[128]], np.uint8)
    exact = np.array([[[100, 50, 1]]], np.uint8)  # round(200*128/255)=100.4→100 etc.
    assert verify_checks.f_matches_premultiplied(image, alpha, exact)
    assert verify_checks.f_matches_premultiplied(image, alpha, exact + 1)
    assert not verify_checks.f_matches_premultiplied(image, alpha, exact + 2)
    full = np.array([[255]], np.uint8)
    assert verify_checks.composite_keeps_foreground(image, full, image.copy())
    assert not verify_checks.composite_keeps_foreground(image, full, image + 1)
    assert verify_checks.composite_keeps_foreground(image, alpha, image + 1)


def test_unfinished_build_says_to_rerun_the_build(build):
    """An interrupted build has no manifest yet, only its .hmh-build/ state folder."""
    os.remove(build / "manifest.json")
    os.makedirs(build / ".hmh-build" / "records")
    result = CliRunner().invoke(main, ["verify", str(build)])
    assert result.exit_code == 1
    assert result.output.startswith("manifest.json: no manifest.json: the build is unfinished")
    assert "rerun the same hmh-build command" in result.output
