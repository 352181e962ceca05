"""Shared pytest fixtures (others may append their own below)."""

from __future__ import annotations

import numpy as np
import pytest

from hmh_builder.ingest.synthetic import synthetic_portrait, write_kaggle_layout


@pytest.fixture
def synthetic_source(tmp_path_factory):
    """Factory: ``make(n=4, seed=0, height=160, width=120, with_truth=True) -> (root, ids)``.

    Writes ``n`` seeded synthetic portraits in the Kaggle layout (clip_img/… .jpg,
    matting/… RGBA .png, and _truth/<id>.png true backgrounds) into a fresh temporary folder.
    """

    def make(n: int = 4, seed: int = 0, height: int = 160, width: int = 120, with_truth: bool = True):
        root = tmp_path_factory.mktemp("kaggle_src")
        ids = write_kaggle_layout(root, n, seed=seed, height=height, width=width, with_truth=with_truth)
        return root, ids

    return make


@pytest.fixture(scope="session")
def small_portrait():
    """One seeded synthetic portrait (image, alpha, true_background), 200×150, uint8 RGB."""
    return synthetic_portrait(np.random.default_rng(12345), height=200, width=150)
