"""Every Python block of ``docs/api.md`` runs, in a folder holding the anchors' checkpoints under
the released files' names and the anchors' real photograph with its trimap."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .test_official import ANCHORS, BEACH, DOVENET, INDEXNET, needs_anchors

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text("utf-8"), flags=re.S)


@pytest.fixture
def user_folder(tmp_path, monkeypatch):
    (tmp_path / "indexnet_matting.pth.tar").symlink_to(INDEXNET)
    (tmp_path / "latest_net_G.pth").symlink_to(DOVENET)
    (tmp_path / "portrait.png").symlink_to(f"{BEACH}.png")
    (tmp_path / "trimap.png").symlink_to(f"{BEACH}_trimap.png")
    trimap = np.asarray(Image.open(f"{BEACH}_trimap.png"))
    Image.fromarray(np.where(trimap >= 128, 255, 0).astype(np.uint8)).save(tmp_path / "mask.png")
    Image.open(ANCHORS / "dovenet" / "composite.png").convert("RGB").save(tmp_path / "background.jpg")
    (tmp_path / "notes.txt").write_text("meeting notes\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_doc_has_its_examples():
    assert len(BLOCKS) >= 4
    assert any('hmh.load("indexnet_matting.pth.tar", "latest_net_G.pth")' in block for block in BLOCKS)


@needs_anchors
@pytest.mark.parametrize("number", range(len(BLOCKS)))
def test_every_python_block_of_the_api_doc_runs(user_folder, number):
    exec(compile(BLOCKS[number], f"docs/api.md block {number + 1}", "exec"), {"__name__": "docs_api"})
