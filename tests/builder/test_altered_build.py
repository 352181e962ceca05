"""hmh-build --altered foreground end to end: shards, manifest, verify, resume, workers,
stats, preview and release follow the side; older files without it read as background."""

import json
import os
import shutil

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from hmh_builder import schema
from hmh_builder.cli import main
from hmh_builder.inspect import folder as folder_io
from hmh_builder.inspect.preview import Layout, column_labels, scale_for, write_preview
from hmh_builder.inspect.stats import colour_shift, compute_stats
from hmh_builder.inspect.verify import inspect_build, verify_build
from hmh_builder.kernels.colour import lab_mean_std, reinhard_transfer
from hmh_builder.pipeline.config import ConfigError, resolve_config
from hmh_train.data.shards import ShardDataset
from tests.builder.buildfixture import make_build
from tests.builder.helpers import build_args, manifest, run_cli

# make_build's command line, for reruns on the same source
SAME = ("--shard-size", 3, "--test-fraction", 0.3)


@pytest.fixture(scope="module")
def fg(tmp_path_factory):
    return make_build(tmp_path_factory.mktemp("fg"), altered="foreground")


@pytest.fixture(scope="module")
def bg(tmp_path_factory):
    return make_build(tmp_path_factory.mktemp("bg"))


def _samples(out):
    """{id: sample dict} with every image dataset and the shard's side."""
    refs = folder_io.sample_refs(out)
    samples = {}
    for ref, sample in zip(refs, folder_io.read_samples(out, refs), strict=False):
        with h5py.File(out / ref.shard, "r") as h5:
            sample["altered"] = schema.altered_of(h5.attrs)
        samples[ref.sample_id] = sample
    return samples


def _changes_colours(sample) -> bool:
    """Whether the drawn transform is far enough from the identity to change the person."""
    params = json.loads(sample["params"])
    if sample["transform"] == "illumination":
        return abs(params["stops"]) > 0.1
    if sample["transform"] == "saturation":
        return abs(np.log(params["factor"])) > 0.1
    return True


def test_foreground_build_records_the_side_and_keeps_its_invariants(fg, bg):
    assert manifest(fg)["config"]["altered"] == "foreground"
    assert manifest(bg)["config"]["altered"] == "background"
    fgs, bgs = _samples(fg), _samples(bg)
    assert sorted(fgs) == sorted(bgs) and len(fgs) == 10
    changed = 0
    for sample_id, s in fgs.items():
        assert s["altered"] == "foreground"
        clear, opaque = s["A"] == 0, s["A"] == 255
        assert np.array_equal(s["I_d"][clear], s["I"][clear]), sample_id
        if _changes_colours(s):
            assert (s["I_d"][opaque] != s["I"][opaque]).any(), sample_id
            changed += 1
        other = bgs[sample_id]  # same draws; I, A, F, B have the same definitions
        for key in ("I", "A", "F", "B", "transform", "params"):
            assert np.array_equal(s[key], other[key]), (sample_id, key)
        assert not np.array_equal(s["I_d"], other["I_d"])
    assert changed >= 5
    assert manifest(fg)["content_digest"] != manifest(bg)["content_digest"]
    assert manifest(fg)["config_hash"] != manifest(bg)["config_hash"]
    report = inspect_build(fg)
    assert report.problems == [] and report.content_digest == manifest(fg)["content_digest"]


def test_reinhard_matches_the_person_to_the_target_persons_statistics(fg):
    """Oracle from the stored arrays: the target is another sample of the build, so its I and
    A are the resized target image and matte the builder measured."""
    samples = _samples(fg)
    checked = 0
    for s in samples.values():
        if s["transform"] != "reinhard":
            continue
        target = samples[json.loads(s["params"])["target"]]
        stats = lab_mean_std(target["I"], weights=target["A"])
        expected = reinhard_transfer(s["I"], *stats, source_weights=s["A"])
        opaque = s["A"] == 255
        assert np.array_equal(s["I_d"][opaque], expected[opaque])
        whole_image = reinhard_transfer(s["I"], *lab_mean_std(target["I"]), source_weights=s["A"])
        assert not np.array_equal(s["I_d"][opaque], whole_image[opaque])
        checked += 1
    assert checked >= 2


def _copy(build, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(build, out)
    return out


def _rewrite(out, rel, change, digest=True):
    """Apply ``change(h5)`` to a shard and re-record its checksum (and the content digest):
    a buggy builder, not a corruption."""
    with h5py.File(out / rel, "r+") as h5:
        change(h5)
    data = manifest(out)
    entry = next(e for e in data["shards"] if e["path"] == rel)
    entry["sha256"], entry["bytes"] = schema.file_sha256(out / rel), os.path.getsize(out / rel)
    if digest:
        data["content_digest"] = inspect_build(out).content_digest
    (out / "manifest.json").write_text(json.dumps(data, indent=2))


def _first(out):
    return manifest(out)["shards"][0]["path"]


def test_verify_catches_a_foreground_shard_that_changed_the_background(fg, tmp_path):
    out = _copy(fg, tmp_path)
    rel = _first(out)

    def paint_background(h5):
        row = h5["I_d"][0]
        row[h5["A"][0] == 0] = 255 - h5["I"][0][h5["A"][0] == 0]
        h5["I_d"][0] = row

    _rewrite(out, rel, paint_background)
    texts = [str(p) for p in verify_build(out)]
    assert len(texts) == 1 and texts[0].startswith(f"{rel}: I_d differs from I where A is 0"), texts


def test_a_foreground_shard_may_change_the_person(fg, tmp_path):
    """The background side's invariant (I_d = I where A = 255) is not one of the foreground's."""
    out = _copy(fg, tmp_path)
    rel = _first(out)

    def repaint_person(h5):
        row = h5["I_d"][0]
        row[h5["A"][0] == 255] = 7
        h5["I_d"][0] = row

    _rewrite(out, rel, repaint_person)
    assert verify_build(out) == []


def test_verify_catches_a_side_attribute_that_disagrees_with_the_manifest(fg, tmp_path):
    out = _copy(fg, tmp_path)
    rel = _first(out)
    _rewrite(out, rel, lambda h5: h5.attrs.__setitem__("altered", "background"), digest=False)
    texts = [str(p) for p in verify_build(out)]
    assert f"{rel}: altered attribute is 'background', the manifest config says 'foreground'" in texts
    assert any(t.startswith(f"{rel}: I_d differs from I where A is 255") for t in texts), texts
    assert any(t.startswith("manifest.json: content_digest is") for t in texts), texts


def test_a_bad_side_value_is_a_schema_problem(fg, tmp_path):
    out = _copy(fg, tmp_path)
    rel = _first(out)
    _rewrite(out, rel, lambda h5: h5.attrs.__setitem__("altered", "sideways"), digest=False)
    texts = [str(p) for p in verify_build(out)]
    assert any(t.startswith(f"{rel}: attribute altered is 'sideways'") for t in texts), texts


def test_older_files_without_the_side_read_as_background(bg, tmp_path):
    """A build written before the field existed: no shard attribute, no config key, and a
    config hash over the config without it. It verifies, keeps its digest, reads as
    background everywhere."""
    out = _copy(bg, tmp_path)
    data = manifest(out)
    del data["config"]["altered"]
    data["config_hash"] = schema.config_hash(data["config"])
    for entry in data["shards"]:
        with h5py.File(out / entry["path"], "r+") as h5:
            del h5.attrs["altered"]
            h5.attrs["config_hash"] = data["config_hash"]
        entry["sha256"] = schema.file_sha256(out / entry["path"])
        entry["bytes"] = os.path.getsize(out / entry["path"])
    (out / "manifest.json").write_text(json.dumps(data, indent=2))
    report = inspect_build(out)
    assert report.problems == []
    assert report.content_digest == manifest(bg)["content_digest"]
    assert ShardDataset(out, "train").altered == "background"
    assert compute_stats(out)["pixels"]["altered"] == "background"


def test_one_and_two_workers_give_the_same_foreground_digest(fg, tmp_path):
    src = fg.parent / "src"
    result = run_cli(src, tmp_path / "two", "--workers", 2, "--altered", "foreground", *SAME)
    assert result.returncode == 0, result.stderr
    assert manifest(tmp_path / "two")["content_digest"] == manifest(fg)["content_digest"]
    assert manifest(tmp_path / "two")["run"]["workers"] == 2


def test_a_foreground_build_resumes_to_the_same_digest(fg, tmp_path):
    out = _copy(fg, tmp_path)
    shards = [s["path"] for s in manifest(out)["shards"]]
    (out / shards[1]).unlink()
    args = build_args(fg.parent / "src", out, "--workers", 1, "--altered", "foreground", *SAME)
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert "building 1" in result.output
    assert manifest(out)["content_digest"] == manifest(fg)["content_digest"]
    assert verify_build(out) == []
    # the other side into the same OUT is another config
    other = CliRunner().invoke(
        main, [str(a) for a in build_args(fg.parent / "src", out, "--workers", 1, *SAME)]
    )
    assert other.exit_code == 1 and "altered" in other.output


def test_stats_measure_the_shift_over_the_altered_region(fg, bg):
    image = np.array([[[10, 10, 10], [200, 200, 200]]], np.uint8)
    alpha = np.array([[0, 255]], np.uint8)
    composite = np.array([[[10, 10, 10], [100, 200, 200]]], np.uint8)  # only the person changed
    assert colour_shift(image, alpha, composite, "background")[3] == 0
    assert colour_shift(image, alpha, composite, "foreground")[3] > 10
    fg_stats, bg_stats = compute_stats(fg), compute_stats(bg)
    assert (fg_stats["pixels"]["altered"], fg_stats["pixels"]["shift_region"]) == ("foreground", "A = 255")
    assert (bg_stats["pixels"]["altered"], bg_stats["pixels"]["shift_region"]) == ("background", "A = 0")
    assert fg_stats["pixels"]["shift_lab"]["all"]["delta_E76"]["mean"] > 1
    result = CliRunner().invoke(main, ["stats", str(fg)])
    assert result.exit_code == 0 and "foreground shift I→I_d (CIELAB, A = 255)" in result.output


def test_preview_labels_the_side(fg, bg, tmp_path):
    assert column_labels("foreground")[-1] == "I_d (fg altered)"
    assert column_labels("background")[-1] == "I_d (bg altered)"
    ids = [r.sample_id for r in folder_io.sample_refs(fg, "train")[:2]]
    headers = []
    for build, name in ((fg, "fg.png"), (bg, "bg.png")):
        write_preview(build, tmp_path / name, ids=ids)
        grid = np.asarray(Image.open(tmp_path / name).convert("RGB"))
        height, width = folder_io.read_samples(build, folder_io.sample_refs(build)[:1])[0]["A"].shape
        scale = scale_for(height, width)
        layout = Layout(2, height * scale, width * scale)
        x0 = layout.panel_box(0, 4)[0]
        headers.append((grid[: layout.band, :x0], grid[: layout.band, x0:]))
        assert headers[-1][1].std() > 0
    assert np.array_equal(headers[0][0], headers[1][0]), "the other column labels changed"
    assert not np.array_equal(headers[0][1], headers[1][1]), "the I_d header does not name the side"


def test_release_card_croissant_and_virtual_files_follow_the_side(fg, tmp_path):
    release = tmp_path / "rel"
    result = CliRunner().invoke(
        main,
        [
            "package",
            str(fg),
            "--release",
            str(release),
            "--name",
            "hmh-fg",
            "--version",
            "1.0.0",
            "--license",
            "CC-BY-4.0",
        ],
    )
    assert result.exit_code == 0, result.output
    card = (release / "README.md").read_text()
    assert "| altered side | foreground" in card
    assert "A·F_t + (1−A)·B" in card and "A·I + (1−A)·B_t" not in card
    assert "person (CIELAB mean and standard deviation of I weighted by A)" in card
    croissant = json.loads((release / "croissant.json").read_text())
    assert "whose foreground was altered" in croissant["description"]
    with h5py.File(release / "train.h5", "r") as h5:
        assert schema.altered_of(h5.attrs) == "foreground"
    assert ShardDataset(release, "train", virtual=True).altered == "foreground"
    assert ShardDataset(release, "test").altered == "foreground"
    assert inspect_build(release).problems == []


def test_side_from_recipe_and_command_line(tmp_path):
    recipe = tmp_path / "fg.json"
    recipe.write_text(json.dumps({"altered": "foreground"}))
    assert resolve_config(tmp_path, str(recipe)).altered == "foreground"
    assert resolve_config(tmp_path, str(recipe), altered="background").altered == "background"
    assert resolve_config(tmp_path, "paper").altered == "background"
    with pytest.raises(ConfigError, match="altered must be one of background, foreground"):
        resolve_config(tmp_path, altered="person")
    with pytest.raises(ConfigError, match="does not have"):
        resolve_config(tmp_path, altered="foreground", store_b_t=True)
    src = tmp_path / "src"
    src.mkdir()
    result = CliRunner().invoke(
        main, ["--src", str(src), "--out", str(tmp_path / "o"), "--altered", "foreground", "--store-b-t"]
    )
    assert result.exit_code == 2 and "B_t" in result.output and "Traceback" not in result.output
