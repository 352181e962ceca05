"""hmh-build preview: layout, panels equal the stored samples, captions drawn."""

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from hmh_builder.cli import main
from hmh_builder.inspect import folder as folder_io
from hmh_builder.inspect.preview import COLUMNS, Layout, scale_for, write_preview
from tests.builder.buildfixture import make_build


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    return make_build(tmp_path_factory.mktemp("preview"))


def _sample_size(build):
    refs = folder_io.sample_refs(build)
    return folder_io.read_samples(build, refs[:1])[0]["A"].shape


def test_grid_layout_and_panels_show_the_samples(build, tmp_path):
    out = tmp_path / "grid.png"
    refs = folder_io.sample_refs(build, "train")[:3]
    ids = [r.sample_id for r in refs]
    assert write_preview(build, out, ids=ids) == 3
    grid = np.asarray(Image.open(out).convert("RGB"))
    height, width = _sample_size(build)
    scale = scale_for(height, width)
    layout = Layout(3, height * scale, width * scale)
    assert grid.shape[1::-1] == layout.size
    samples = folder_io.read_samples(build, refs)
    for row, sample in enumerate(samples):
        x0, y0, _, _ = layout.panel_box(row, 0)
        caption = grid[y0 - layout.band : y0, x0 : x0 + 60]
        assert caption.std() > 0, f"row {row} has no caption"
        for col, name in enumerate(COLUMNS):
            x0, y0, x1, y1 = layout.panel_box(row, col)
            panel = grid[y0:y1, x0:x1]
            expected = sample[name] if sample[name].ndim == 3 else np.stack([sample[name]] * 3, -1)
            expected = np.repeat(np.repeat(expected, scale, 0), scale, 1)
            np.testing.assert_array_equal(panel, expected, err_msg=f"row {row} column {name}")
            assert panel.std() > 0
    header = grid[: layout.band, :]
    assert header.std() > 0, "no column labels"


def test_random_choice_is_seeded_and_bounded(build, tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    n_train = len(folder_io.sample_refs(build, "train"))
    assert write_preview(build, a, n=100, split="train", seed=3) == n_train
    write_preview(build, b, n=2, split="train", seed=3)
    assert Image.open(b).size[1] < Image.open(a).size[1]


def test_cli_writes_png_and_rejects_unknown_id(build, tmp_path):
    out = tmp_path / "g.png"
    result = CliRunner().invoke(main, ["preview", str(build), "-o", str(out), "--n", "2", "--split", "train"])
    assert result.exit_code == 0, result.output
    assert (
        Image.open(out).size
        == Layout(2, *[s * scale_for(*_sample_size(build)) for s in _sample_size(build)]).size
    )
    result = CliRunner().invoke(main, ["preview", str(build), "-o", str(out), "--ids", "nope"])
    assert result.exit_code == 1
    assert "no sample with id nope" in result.output
    assert "Traceback" not in result.output


def test_damaged_or_missing_shard_is_one_line_naming_it(build, tmp_path):
    import shutil

    for damage in ("truncate", "remove"):
        copy = tmp_path / damage
        shutil.copytree(build, copy)
        shard = sorted(copy.glob("test/*.h5"))[0]
        if damage == "truncate":
            shard.write_bytes(shard.read_bytes()[:2000])
        else:
            shard.unlink()
        for command in (["preview", str(copy), "-o", str(tmp_path / "g.png")], ["stats", str(copy)]):
            result = CliRunner().invoke(main, command)
            assert result.exit_code == 1, result.output
            lines = result.output.strip().splitlines()
            assert len(lines) == 1 and str(shard) in lines[0] and "hmh-build verify" in lines[0], lines


def test_ids_repeated_or_comma_separated_give_the_same_rows(build, tmp_path):
    ids = [ref.sample_id for ref in folder_io.sample_refs(build)][:2]
    outputs = []
    for args in (["--ids", ids[0], "--ids", ids[1]], ["--ids", f"{ids[0]},{ids[1]}"]):
        out = tmp_path / f"g{len(outputs)}.png"
        result = CliRunner().invoke(main, ["preview", str(build), "-o", str(out), *args])
        assert result.exit_code == 0 and "(2 samples)" in result.output, result.output
        outputs.append(np.asarray(Image.open(out)))
    np.testing.assert_array_equal(outputs[0], outputs[1])
