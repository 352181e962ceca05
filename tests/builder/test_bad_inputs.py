"""Every kind of broken input becomes one failures.jsonl line with a clear reason; exit 3."""

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from hmh_builder.cli import main
from tests.builder.helpers import build_args, failures, kaggle_source, manifest

GROUP = "1803151818"


def _image(src, k):
    return src / "clip_img" / GROUP / "clip_00000000" / f"{GROUP}-{k:08d}.jpg"


def _matte(src, k):
    return src / "matting" / GROUP / "matting_00000000" / f"{GROUP}-{k:08d}.png"


def _rewrite_png(path, transform):
    rgba = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    ok, buf = cv2.imencode(".png", transform(rgba))
    path.write_bytes(buf.tobytes())


def _break(src):
    """Damage samples 1..9 of a 16-sample source; returns {id: (stage, words in the reason)}."""
    data = _image(src, 1).read_bytes()
    _image(src, 1).write_bytes(data[: len(data) // 2])
    _image(src, 2).write_bytes(b"")
    _image(src, 3).write_bytes(b"<html>not a photo</html>")
    data = _matte(src, 4).read_bytes()
    _matte(src, 4).write_bytes(data[: len(data) // 2])
    _rewrite_png(_matte(src, 5), lambda a: a[:, :, :3])
    _rewrite_png(_matte(src, 6), lambda a: cv2.resize(a, (60, 80)))
    _rewrite_png(_matte(src, 7), lambda a: np.dstack([a[:, :, :3], np.zeros_like(a[:, :, 3])]))
    _matte(src, 8).unlink()
    _image(src, 9).unlink()
    return {
        f"{GROUP}-{k:08d}": expected
        for k, expected in {
            1: ("decode", ["truncated JPEG", "00000001.jpg"]),
            2: ("decode", ["is empty", "00000002.jpg"]),
            3: ("decode", ["not a readable JPEG or PNG", "00000003.jpg"]),
            4: ("decode", ["truncated PNG", "00000004.png"]),
            5: ("decode", ["no alpha channel", "00000005.png"]),
            6: ("validate", ["120×160", "60×80", "same size"]),
            7: ("validate", ["zero everywhere", "00000007.png"]),
            8: ("pair", ["has no matte", "00000008.jpg"]),
            9: ("pair", ["has no image", "00000009.png"]),
        }.items()
    }


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    src = kaggle_source(root, n=16)
    expected = _break(src)
    out = root / "out"
    result = CliRunner().invoke(main, build_args(src, out, "--workers", 1, "--shard-size", 5))
    return src, out, expected, result


def test_each_broken_input_is_listed_with_its_stage_and_reason(broken):
    _, out, expected, _ = broken
    records = {f["id"]: f for f in failures(out)}
    assert set(records) == set(expected)
    for sample_id, (stage, words) in expected.items():
        record = records[sample_id]
        assert record["stage"] == stage, record
        assert all(w in record["reason"] for w in words), record
        assert "\n" not in record["reason"] and record["path"]


def test_other_samples_are_written_and_the_exit_status_is_3(broken):
    _, out, expected, result = broken
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    m = manifest(out)
    assert m["counts"] == {**m["counts"], "discovered": 16, "written": 7, "failed": 9}
    assert "failed by stage: decode 5, pair 2, validate 2" in result.output


@pytest.mark.parametrize("allowed, status", [(9, 0), (8, 3)])
def test_max_failures_allows_up_to_n_failures(broken, tmp_path, allowed, status):
    src = broken[0]
    result = CliRunner().invoke(
        main, build_args(src, tmp_path / "o", "--workers", 1, "--max-failures", allowed)
    )
    assert result.exit_code == status, result.output


def test_failure_lines_have_exactly_the_format_keys(broken):
    """FORMAT.md: {"id", "path", "stage", "reason"}, path relative to SRC, a known stage;
    every discovered input is either written or one line."""
    src, out, _, _ = broken
    lines = (out / "failures.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    for record in records:
        assert set(record) == {"id", "path", "stage", "reason"}, record
        assert record["stage"] in ("decode", "pair", "validate", "process")
        assert not record["path"].startswith("/") and (src / record["path"]).is_file(), record
        assert str(src) not in record["reason"], record  # the same on every machine
    counts = manifest(out)["counts"]
    assert counts["discovered"] == counts["written"] + len(lines) == counts["written"] + counts["failed"]
