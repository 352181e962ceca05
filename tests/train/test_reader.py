"""The one checkpoint reader: what it says about files that are not checkpoints, the refused
pickle, and the ``module.`` stripper."""

from __future__ import annotations

import zipfile

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from hmh_train.nets.reader import CheckpointError, describe_file, read_checkpoint, strip_prefix

from .cli_helpers import invoke, one_line_error


def test_files_that_are_not_checkpoints_say_what_they_are(tmp_path):
    torch.save({"w": torch.ones(2)}, tmp_path / "good.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "notes.pt").write_text("epoch 3: loss 0.1\n")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "photo.pt", format="PNG")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "photo.jpg.pt", format="JPEG")
    with h5py.File(tmp_path / "shard.pt", "w") as h5:
        h5["x"] = np.zeros(3)
    with zipfile.ZipFile(tmp_path / "other.pt", "w") as archive:
        archive.writestr("readme.txt", "hi")
    (tmp_path / "cut.pt").write_bytes((tmp_path / "good.pt").read_bytes()[:300])
    expected = {
        "empty.pt": "an empty file",
        "notes.pt": "a text file",
        "photo.pt": "a PNG image",
        "photo.jpg.pt": "a JPEG image",
        "shard.pt": "an HDF5 file",
        "other.pt": "a zip archive that torch.save did not write",
        "cut.pt": "a truncated or damaged zip file",
    }
    for name, what in expected.items():
        assert describe_file(str(tmp_path / name)).startswith(what), name
        with pytest.raises(CheckpointError) as info:
            read_checkpoint(tmp_path / name)
        assert str(info.value).startswith(f"{tmp_path / name}: not a PyTorch checkpoint ({what}"), name
        assert "\n" not in str(info.value)
    assert torch.equal(read_checkpoint(tmp_path / "good.pt")["w"], torch.ones(2))


def test_eval_names_what_a_wrong_checkpoint_is(tmp_path, shards):
    (tmp_path / "notackpt.pt").write_text("not a checkpoint\n")
    line = one_line_error(invoke("eval", "--ckpt", tmp_path / "notackpt.pt", "--shards", shards))
    assert line.endswith("notackpt.pt: not a PyTorch checkpoint (a text file)"), line


def test_strip_prefix_removes_only_the_leading_prefix():
    state = {"module.a.weight": 1, "b.module.c": 2, "module.module.d": 3}
    assert strip_prefix(state) == {"a.weight": 1, "b.module.c": 2, "module.d": 3}
