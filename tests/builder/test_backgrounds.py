"""hmh-build backgrounds: nested jpg/png folder → verified shards, same digest for any workers."""

import json
import os
import shutil

import cv2
import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from hmh_builder import schema
from hmh_builder.cli import main
from hmh_builder.ingest.backgrounds import fit_background
from hmh_builder.inspect.verify import inspect_build


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """7 readable scenes (nested, jpg/png/JPG, various sizes) and 1 broken file."""
    src = tmp_path_factory.mktemp("scenes")
    rng = np.random.default_rng(0)
    names = ["a/b/x.png", "a/y.jpg", "z.JPG", "k/l/m/n.png", "w.png", "v.jpeg", "u.png"]
    for k, name in enumerate(names):
        path = src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        image = rng.integers(0, 256, (20 + 3 * k, 30 - 2 * k, 3), dtype=np.uint8)
        cv2.imwrite(str(path), image[..., ::-1])
    (src / "broken.png").write_bytes(b"not an image")
    (src / "notes.txt").write_text("ignored")
    return src


def _build(src, out, *extra):
    return CliRunner().invoke(
        main,
        ["backgrounds", "--src", str(src), "--out", str(out), "--size", "16x12", "--shard-size", "3", *extra],
    )


def test_build_verifies_and_records_failures(scenes, tmp_path):
    out = tmp_path / "bg"
    result = _build(scenes, out)
    assert result.exit_code == 3, result.output
    report = inspect_build(out)
    assert report.problems == []
    manifest = json.loads((out / "manifest.json").read_text())
    assert result.output.splitlines()[-1] == f"content-digest: {manifest['content_digest']}"
    assert manifest["counts"] == {"discovered": 8, "written": 7, "failed": 1, "backgrounds": 7}
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert [(f["path"], f["stage"]) for f in failures] == [("broken.png", "decode")]
    assert result.output.splitlines()[-2] == f"  decode: {failures[0]['reason']}"  # as hmh-build lists them
    ids = []
    for entry in manifest["shards"]:
        with h5py.File(out / entry["path"]) as h5:
            assert schema.check_background_shard(h5) == []
            assert h5["image"].shape[1:] == (16, 12, 3)
            ids += list(h5["id"].asstr()[()])
    assert sorted(ids) == sorted(["a/b/x.png", "a/y.jpg", "z.JPG", "k/l/m/n.png", "w.png", "v.jpeg", "u.png"])
    assert not list(out.rglob("*.tmp"))


def test_pixels_are_rgb_and_fitted(scenes, tmp_path):
    out = tmp_path / "bg"
    assert _build(scenes, out).exit_code == 3
    source = cv2.imread(str(scenes / "u.png"))[..., ::-1]
    for path in out.glob("backgrounds/*.h5"):
        with h5py.File(path) as h5:
            ids = list(h5["id"].asstr()[()])
            if "u.png" in ids:
                stored = h5["image"][ids.index("u.png")]
    np.testing.assert_array_equal(stored, fit_background(source, 16, 12))


def test_same_digest_with_more_workers_and_verify_catches_damage(scenes, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    assert _build(scenes, one).exit_code == 3
    assert _build(scenes, two, "--workers", "2").exit_code == 3
    digest = lambda p: json.loads((p / "manifest.json").read_text())["content_digest"]  # noqa
    assert digest(one) == digest(two)
    shard = next(two.glob("backgrounds/*.h5"))
    shard.write_bytes(shard.read_bytes()[:-50])
    assert any(str(p).startswith(str(shard.relative_to(two))) for p in inspect_build(two).problems)


def test_fit_background_oracle():
    image = np.arange(4 * 8 * 3, dtype=np.uint8).reshape(4, 8, 3)
    fitted = fit_background(image, 4, 4)  # wide → keep the centre 4 columns, no resize
    np.testing.assert_array_equal(fitted, image[:, 2:6])
    tall = np.zeros((10, 2, 3), np.uint8)
    tall[4:6] = 200
    np.testing.assert_array_equal(fit_background(tall, 2, 2), tall[4:6])


def test_refuses_non_empty_out_and_empty_source(scenes, tmp_path):
    out = tmp_path / "bg"
    out.mkdir()
    (out / "x").write_text("x")
    result = _build(scenes, out)
    assert result.exit_code == 1 and "not empty" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _build(empty, tmp_path / "bg2")
    assert result.exit_code == 1 and "no .jpg/.jpeg/.png images" in result.output
    assert _build(scenes, out, "--overwrite").exit_code == 3
    shutil.rmtree(out)


def test_dask_cluster_gives_the_local_digest(scenes, tmp_path):
    from dask.distributed import LocalCluster

    local, remote = tmp_path / "local", tmp_path / "remote"
    assert _build(scenes, local).exit_code == 3
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        result = _build(scenes, remote, "--backend", "dask", "--scheduler", cluster.scheduler_address)
    assert result.exit_code == 3, result.output
    digest = lambda p: json.loads((p / "manifest.json").read_text())["content_digest"]  # noqa
    assert digest(local) == digest(remote)
    assert inspect_build(remote).problems == []


def test_symlinked_folder_is_followed_and_partial_failure_exits_3(scenes, tmp_path):
    linked = tmp_path / "linked"
    linked.mkdir()
    os.symlink(scenes, linked / "elsewhere")
    out = tmp_path / "bg_linked"
    result = _build(linked, out)
    assert result.exit_code == 3, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["written"] == 7 and manifest["counts"]["failed"] == 1
    assert all(
        line.startswith("elsewhere/")
        for line in [json.loads(x)["path"] for x in (out / "failures.jsonl").read_text().splitlines()]
    )


def test_scenes_in_other_formats_are_decode_failures_naming_the_format(tmp_path):
    src = tmp_path / "scenes"
    src.mkdir()
    image = np.random.default_rng(1).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    for name in ("ok.jpg", "s.webp", "t.bmp"):
        cv2.imwrite(str(src / name), image)
    result = _build(src, tmp_path / "bg")
    assert result.exit_code == 3, result.output
    failures = [json.loads(line) for line in (tmp_path / "bg" / "failures.jsonl").read_text().splitlines()]
    assert [(f["path"], f["stage"]) for f in failures] == [("s.webp", "decode"), ("t.bmp", "decode")]
    assert "s.webp is in WebP format" in failures[0]["reason"]
    assert failures[1]["reason"].startswith("t.bmp is in BMP format")  # relative, like the id
