import h5py
import numpy as np
import pytest

from hmh_builder import schema
from hmh_builder.fsio import atomic_write_text
from hmh_builder.pipeline.writer import ShardWriter


def _arrays(value, h=4, w=6):
    rgb = np.full((h, w, 3), value, np.uint8)
    return {"I": rgb, "A": np.full((h, w), value, np.uint8), "F": rgb, "B": rgb, "I_d": rgb, "B_t": rgb}


def test_shard_is_written_under_its_final_name_only_when_closed(tmp_path):
    writer = ShardWriter(str(tmp_path), "train/train-00000.h5", "train", 3, 4, 6, "0.1.0", "abc")
    digest = writer.add("s1", "saturation", "{}", _arrays(5))
    writer.add("s2", "reinhard", '{"target": "s1"}', _arrays(9))
    assert sorted(p.name for p in (tmp_path / "train").iterdir()) == ["train-00000.h5.tmp"]
    entry = writer.close()
    assert sorted(p.name for p in (tmp_path / "train").iterdir()) == ["train-00000.h5"]
    path = tmp_path / "train/train-00000.h5"
    assert entry == {
        "path": "train/train-00000.h5",
        "split": "train",
        "samples": 2,
        "bytes": path.stat().st_size,
        "sha256": schema.file_sha256(path),
    }
    with h5py.File(path, "r") as h5:
        assert schema.check_shard(h5, "train") == []
        assert h5["I"].shape == (2, 4, 6, 3) and "B_t" not in h5
        assert [v.decode() for v in h5["id"][()]] == ["s1", "s2"]
        assert h5["params"][1].decode() == '{"target": "s1"}'
        assert schema.read_sample_digests(h5)[0] == ("s1", digest)


def test_error_inside_the_writer_leaves_no_file(tmp_path):
    with pytest.raises(RuntimeError):
        with ShardWriter(str(tmp_path), "test/test-00000.h5", "test", 2, 4, 6, "0.1.0", "abc") as writer:
            writer.add("s1", "saturation", "{}", _arrays(1))
            raise RuntimeError("boom")
    assert list((tmp_path / "test").iterdir()) == []


def test_empty_shard_writes_nothing_and_b_t_is_stored_on_request(tmp_path):
    assert ShardWriter(str(tmp_path), "train/train-00001.h5", "train", 2, 4, 6, "v", "h").close() is None
    assert list((tmp_path / "train").iterdir()) == []
    writer = ShardWriter(str(tmp_path), "train/train-00002.h5", "train", 2, 4, 6, "v", "h", store_b_t=True)
    writer.add("s", "saturation", "{}", _arrays(3))
    writer.close()
    with h5py.File(tmp_path / "train/train-00002.h5", "r") as h5:
        assert h5["B_t"].shape == (1, 4, 6, 3) and int(h5["B_t"][0, 0, 0, 0]) == 3


def test_atomic_write_text_replaces_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "m.json"
    atomic_write_text(str(path), "one")
    atomic_write_text(str(path), "two")
    assert path.read_text() == "two" and [p.name for p in tmp_path.iterdir()] == ["m.json"]


def _attr_type(h5, name):
    return h5.attrs.get_id(name).get_type()


def test_attribute_and_string_types_as_plain_h5py_sees_them(tmp_path):
    """FORMAT.md field by field: format_version an integer, size an integer [H, W], every
    string attribute and string dataset UTF-8, image datasets one sample per chunk."""
    writer = ShardWriter(str(tmp_path), "test/test-00000.h5", "test", 2, 4, 6, "0.1.0", "abc")
    writer.add("é-1", "saturation", '{"factor": 1.5}', _arrays(5))
    writer.close()
    with h5py.File(tmp_path / "test/test-00000.h5", "r") as h5:
        version, size = h5.attrs["format_version"], h5.attrs["size"]
        assert isinstance(version, np.integer) and version == 1
        assert size.dtype.kind in "iu" and size.tolist() == [4, 6]
        for name, value in (
            ("format", "hmh-shard"),
            ("channel_order", "RGB"),
            ("split", "test"),
            ("builder_version", "0.1.0"),
            ("config_hash", "abc"),
        ):
            assert h5.attrs[name] == value
            assert _attr_type(h5, name).get_cset() == h5py.h5t.CSET_UTF8, name
        for name in schema.STRING_DATASETS:
            assert h5py.check_string_dtype(h5[name].dtype).encoding == "utf-8", name
        assert h5["id"].asstr()[0] == "é-1"
        for name in schema.IMAGE_DATASETS:
            assert h5[name].dtype == np.uint8 and h5[name].chunks == (1,) + h5[name].shape[1:]
        assert h5["I"].shape == (1, 4, 6, 3) and h5["A"].shape == (1, 4, 6)
