"""Fixtures of the user-study tests: a study made by ``study make`` from the tiny shards and two
tiny checkpoints, hand-made studies of any size, a live server on loopback, a headless Chromium."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from tests.train.tiny_ckpt import save_tiny_checkpoint


@pytest.fixture(scope="session")
def made_study(shards, tmp_path_factory):
    """A study folder (2 test samples × I_d, runA, runB) made by ``make_study``; copy it before
    writing ratings into it (see ``fresh_study``)."""
    from hmh_train.study.make import MakeConfig, make_study

    tmp = tmp_path_factory.mktemp("made_study")
    save_tiny_checkpoint(tmp / "runA", names=("harmonization",), seed=1)
    save_tiny_checkpoint(tmp / "runB", seed=2)
    make_study(
        MakeConfig(
            out=str(tmp / "study"),
            shards=str(shards),
            ckpts=(str(tmp / "runA"), str(tmp / "runB")),
            n=2,
            progress=False,
        )
    )
    return tmp / "study"


@pytest.fixture
def fresh_study(made_study, tmp_path):
    """A private copy of ``made_study`` (no ratings yet)."""
    return Path(shutil.copytree(made_study, tmp_path / "study"))


def write_hand_study(root: Path, samples: int, methods=("I_d", "ours"), seed: int = 0) -> dict:
    """A study folder written by hand (study.json + 8×8 RGB PNGs), ``samples`` × ``methods``
    items; returns study.json's dict."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    sample_ids = [f"s{k:03d}" for k in range(samples)]
    items = {}
    for k, (sample, method) in enumerate((s, m) for s in sample_ids for m in methods):
        item = f"{k:04x}{int(rng.integers(0, 2**32)):08x}"
        items[item] = {"sample": sample, "method": method}
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), "RGB").save(
            root / "images" / f"{item}.png"
        )
    study = {
        "format": "hmh-study",
        "version": 1,
        "seed": seed,
        "methods": list(methods),
        "samples": sample_ids,
        "items": items,
    }
    (root / "study.json").write_text(json.dumps(study), encoding="utf-8")
    return study


class LiveServer:
    """``open_server`` on 127.0.0.1 (free port) serving in a thread; ``url``, ``logs``."""

    def __init__(self, study_dir):
        from hmh_train.study.server import open_server

        self.logs = []
        self.server = open_server(study_dir, "127.0.0.1", 0, log=self.logs.append)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.server.store.close()
        self.thread.join()


@pytest.fixture
def live_server():
    """Factory: ``start(study_dir) -> LiveServer``; every server started is stopped afterwards."""
    started = []

    def start(study_dir):
        started.append(LiveServer(study_dir))
        return started[-1]

    yield start
    for server in started:
        server.close()


CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1000,900",
)


@pytest.fixture
def browser(tmp_path):
    """A headless Chromium driven by selenium (fresh profile); skipped when either is absent."""
    selenium = pytest.importorskip("selenium", reason="selenium is not installed (pip install -e '.[test]')")
    del selenium
    from tests.train.study.browser import chromium_paths, start_chromium

    paths = chromium_paths()
    if paths is None:
        pytest.skip(
            "chromium/chromedriver not installed (apt-get install -y chromium chromium-driver; .ci/run does it)"
        )
    driver = start_chromium(*paths, tmp_path / "profile", CHROMIUM_FLAGS)
    yield driver
    driver.quit()
