import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from hmh_builder import schema
from hmh_builder.cli import main
from hmh_builder.kernels.adjust import PAPER_ADJUST
from hmh_builder.kernels.composite import composite
from hmh_builder.pipeline.config import ConfigError, resolve_config
from tests.builder import jsonschema_lite
from tests.builder.helpers import build_args, files_under, kaggle_source, manifest, plain_source, run_cli

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "manifests/manifest.schema.json").read_text())


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return kaggle_source(tmp_path_factory.mktemp("cli"), n=10)


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _read_all(out):
    rows = {}
    for entry in manifest(out)["shards"]:
        with h5py.File(Path(out) / entry["path"], "r") as h5:
            assert schema.check_shard(h5, entry["split"]) == []
            attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in h5.attrs.items()}
            for i, sample_id in enumerate(v.decode() for v in h5["id"][()]):
                rows[sample_id] = {
                    "attrs": attrs,
                    "split": entry["split"],
                    **{n: h5[n][i] for n in ("I", "A", "F", "B", "I_d")},
                    **{n: h5[n][i].decode() for n in ("transform", "params")},
                    "B_t": h5["B_t"][i] if "B_t" in h5 else None,
                    "chunks": h5["I"].chunks,
                }
    return rows


def test_build_writes_every_format_field(source, tmp_path):
    out = tmp_path / "out"
    result = invoke(*build_args(source, out, "--workers", 1, "--shard-size", 3, "--test-fraction", 0.3))
    assert result.exit_code == 0, result.output
    assert "discovered 10, written 10, failed 0" in result.output and "content-digest:" in result.output
    m = manifest(out)
    assert jsonschema_lite.errors(m, SCHEMA) == []
    assert m["config_hash"] == schema.config_hash(m["config"])
    assert m["config"]["size"] == [64, 64] and m["config"]["shard_size"] == 3
    assert m["counts"]["discovered"] == 10 and m["counts"]["written"] == 10 and m["counts"]["failed"] == 0
    assert m["counts"]["train"] + m["counts"]["test"] == 10 and m["counts"]["test"] > 0
    assert (out / "failures.jsonl").read_text() == ""
    assert files_under(out) == sorted(["manifest.json", "failures.jsonl"] + [s["path"] for s in m["shards"]])
    for entry in m["shards"]:
        path = out / entry["path"]
        assert entry["bytes"] == path.stat().st_size and entry["sha256"] == schema.file_sha256(path)
    rows = _read_all(out)
    assert len(rows) == 10
    digests = []
    for sample_id, row in rows.items():
        assert row["split"] == schema.split_of(sample_id, 0.3)
        assert row["attrs"]["format"] == "hmh-shard" and row["attrs"]["channel_order"] == "RGB"
        assert list(row["attrs"]["size"]) == [64, 64] and row["attrs"]["config_hash"] == m["config_hash"]
        assert row["I"].shape == (64, 64, 3) and row["A"].shape == (64, 64) and row["chunks"][0] == 1
        assert all(row[n].dtype == np.uint8 for n in ("I", "A", "F", "B", "I_d"))
        expected_f = np.rint(row["I"] * (row["A"].astype(np.float32) / 255)[..., None])
        assert np.abs(expected_f - row["F"]).max() <= 1
        opaque = row["A"] == 255
        assert opaque.any() and np.array_equal(row["I_d"][opaque], row["I"][opaque])
        assert row["transform"] in schema.TRANSFORMS
        params = json.loads(row["params"])
        if row["transform"] == "reinhard":
            assert params["target"] in rows and params["target"] != sample_id
        digests.append((sample_id, schema.sample_digest(sample_id, row["transform"], row["params"], row)))
    assert schema.content_digest(digests) == m["content_digest"]
    assert f"content-digest: {m['content_digest']}" in result.output


def test_one_two_and_four_workers_give_the_same_digest(source, tmp_path):
    one = invoke(*build_args(source, tmp_path / "one", "--workers", 1, "--shard-size", 4))
    assert one.exit_code == 0, one.output
    two = run_cli(source, tmp_path / "two", "--workers", 2, "--shard-size", 4)
    assert two.returncode == 0, two.stderr
    four = run_cli(source, tmp_path / "four", "--workers", 4, "--shard-size", 4)
    assert four.returncode == 0, four.stderr
    assert manifest(tmp_path / "two")["run"]["workers"] == 2
    assert manifest(tmp_path / "one")["content_digest"] == manifest(tmp_path / "two")["content_digest"]
    assert manifest(tmp_path / "four")["content_digest"] == manifest(tmp_path / "one")["content_digest"]
    # shard boundaries do not enter the digest either
    three = invoke(*build_args(source, tmp_path / "three", "--workers", 1, "--shard-size", 7))
    assert three.exit_code == 0
    assert manifest(tmp_path / "three")["content_digest"] == manifest(tmp_path / "one")["content_digest"]


def test_build_alias_verify_subcommand_and_plain_layout(tmp_path):
    src = plain_source(tmp_path, n=3)
    result = invoke("build", *build_args(src, tmp_path / "out", "--workers", 1))
    assert result.exit_code == 0, result.output
    assert manifest(tmp_path / "out")["counts"]["written"] == 3
    checked = invoke("verify", tmp_path / "out")
    assert checked.exit_code == 0 and manifest(tmp_path / "out")["content_digest"] in checked.output


def test_store_b_t_holds_the_background_composited_into_i_d(source, tmp_path):
    result = invoke(*build_args(source, tmp_path / "o", "--workers", 1, "--store-b-t", "--size", "48x32"))
    assert result.exit_code == 0, result.output
    for row in _read_all(tmp_path / "o").values():
        assert row["B_t"].shape == (48, 32, 3) and list(row["attrs"]["size"]) == [48, 32]
        assert np.array_equal(row["I_d"], composite(row["I"], row["A"], row["B_t"]))


def test_native_size_keeps_the_source_size(source, tmp_path):
    result = invoke(
        *build_args(source, tmp_path / "n", "--workers", 1)[:-3],
        "--no-progress",
        "--size",
        "native",
        "--shard-size",
        20,
    )
    assert result.exit_code == 0, result.output
    assert manifest(tmp_path / "n")["config"]["size"] == [160, 120]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--src", "."], "--src and --out are required"),
        (["--size", "big"], "size must be N, HxW or native"),
        (["--recipe", "nonexistent"], "recipe 'nonexistent'"),
        (["--background", "magic"], "Invalid value for '--background'"),
        (["--backend", "dask"], "needs --scheduler"),
    ],
)
def test_usage_errors_exit_2_without_traceback(source, tmp_path, args, message):
    base = [] if args[0] == "--src" else ["--src", str(source), "--out", str(tmp_path / "u")]
    result = CliRunner().invoke(main, base + args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_recipe_overrides_defaults_and_command_line_overrides_recipe(source, tmp_path):
    paper = resolve_config(source, "paper")
    assert paper.background == "telea" and paper.adjust == PAPER_ADJUST and paper.size == (256, 256)
    mixed = resolve_config(source, "paper", background="multilevel", size="64")
    assert mixed.background == "multilevel" and mixed.adjust == PAPER_ADJUST and mixed.size == (64, 64)
    assert resolve_config(source, "default") == resolve_config(source)
    recipe = tmp_path / "r.json"
    recipe.write_text(json.dumps({"seed": 5, "colour": "blue"}))
    with pytest.raises(ConfigError, match="unknown setting"):
        resolve_config(source, str(recipe))
    result = invoke(*build_args(source, tmp_path / "p", "--workers", 1, "--recipe", "paper", "--seed", 2))
    assert result.exit_code == 0, result.output
    config = manifest(tmp_path / "p")["config"]
    assert config["background"] == "telea" and config["seed"] == 2 and config["size"] == [64, 64]
    assert config["adjust"]["saturation_style"] == "msrcr"
