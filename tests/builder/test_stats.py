"""hmh-build stats: counts vs the shards, literal pixel statistics, plot layout."""

import json
import sys

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from hmh_builder import schema
from hmh_builder.cli import main
from hmh_builder.inspect.stats import alpha_shares, colour_shift, compute_stats, numeric_params, plot_stats
from tests.builder.buildfixture import make_build


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    return make_build(tmp_path_factory.mktemp("stats"))


@pytest.fixture(scope="module")
def stats(build):
    return compute_stats(build)


def test_counts_match_the_shards(build, stats):
    expected = {}
    for entry in schema.load_manifest(build)["shards"]:
        with h5py.File(build / entry["path"]) as h5:
            for t in h5["transform"].asstr()[()]:
                per = expected.setdefault(entry["split"], {})
                per[t] = per.get(t, 0) + 1
    assert stats["counts"]["splits"] == expected
    assert stats["counts"]["total"] == schema.load_manifest(build)["counts"]["written"]
    assert stats["pixels"]["samples"] == stats["counts"]["total"]
    json.dumps(stats)


def test_literal_pixel_statistics():
    alpha = np.array([[0, 0], [128, 255]], np.uint8)
    assert alpha_shares(alpha) == (0.25, 0.25)
    black = np.zeros((2, 2, 3), np.uint8)
    white = np.full((2, 2, 3), 255, np.uint8)
    d_l, d_a, d_b, d_e = colour_shift(black, alpha, white, "background")
    assert d_l == pytest.approx(100, abs=0.01) and d_e == pytest.approx(100, abs=0.01)
    assert abs(d_a) < 0.01 and abs(d_b) < 0.01
    assert colour_shift(black, np.full((2, 2), 255, np.uint8), white, "background") is None
    assert numeric_params('{"gain": 1.5, "offset": -3, "method": "msrcr", "stretch": true}') == {
        "gain": 1.5,
        "offset": -3.0,
    }


def test_plot_has_one_non_empty_panel_per_histogram(stats, tmp_path):
    path = tmp_path / "s.png"
    panels = plot_stats(stats, path)
    n_params = sum(len(keys) for keys in stats["params"].values())
    assert panels == 1 + n_params + 2
    image = np.asarray(Image.open(path).convert("L"), dtype=float)
    rows = -(-panels // 3)
    assert image.shape == (240 * rows, 960)
    cell_h, cell_w = image.shape[0] // rows, image.shape[1] // 3
    for index in range(panels):
        r, c = divmod(index, 3)
        assert image[r * cell_h : (r + 1) * cell_h, c * cell_w : (c + 1) * cell_w].std() > 0


def test_cli_json_and_missing_matplotlib(build, tmp_path, monkeypatch):
    result = CliRunner().invoke(main, ["stats", str(build), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["counts"]["total"] > 0
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = CliRunner().invoke(main, ["stats", str(build), "--plot", str(tmp_path / "p.png")])
    assert result.exit_code == 1
    assert "pip install 'hmh-toolkit[plot]'" in result.output


def test_text_parameters_match_the_shards(build, stats):
    targets, own = [], 0
    for entry in schema.load_manifest(build)["shards"]:
        with h5py.File(build / entry["path"]) as h5:
            for sample_id, t, p in zip(
                *(h5[k].asstr()[()] for k in ("id", "transform", "params")), strict=False
            ):
                if t == "reinhard":
                    targets.append(json.loads(p)["target"])
                    own += targets[-1] == sample_id
    summary = stats["text_params"]["reinhard"]["target"]
    assert summary["count"] == len(targets) > 0
    assert summary["distinct"] == len(set(targets))
    assert summary["equal_to_own_id"] == own == 0
