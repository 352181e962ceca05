"""benchmarks/infer.py runs the official demo and our paths side by side in child processes and
reports time, peak RSS and the difference from the official alpha."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from .test_official import BEACH, DOVENET, INDEXNET, needs_anchors

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "infer.py"
sys.path.insert(0, str(SCRIPT.parent))
import infer as bench  # noqa: E402


@needs_anchors
def test_the_reproduced_official_demo_equals_the_protocol():
    from PIL import Image

    import hmh_train as hmh

    model = hmh.load(INDEXNET)
    image, trimap = (
        np.array(Image.open(f"{BEACH}.png").convert("RGB")),
        np.array(Image.open(f"{BEACH}_trimap.png")),
    )
    official = np.array(Image.open(f"{BEACH}_alpha_official_demo.png"))
    ours = bench.official_demo(model.network("matting"), image, trimap)
    assert np.array_equal(ours, model.matte(image, trimap, exact=True))
    assert (np.abs(ours.astype(int) - official.astype(int)) <= 1).mean() >= 0.999
    assert torch.is_grad_enabled()  # the demo's no_grad block is closed again


@needs_anchors
def test_infer_benchmark_reports_every_method_side_by_side(tmp_path):
    out = tmp_path / "rows.json"
    command = [sys.executable, str(SCRIPT), "--ckpt", str(INDEXNET), "--harmonizer", str(DOVENET)]
    command += ["--image", f"{BEACH}.png", "--trimap", f"{BEACH}_trimap.png", "--sizes", "0.03"]
    command += [
        "--methods",
        "official",
        "exact",
        "matte-torch",
        "composite",
        "--threads",
        "1",
        "--json",
        str(out),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    rows = {row["method"]: row for row in json.loads(out.read_text())}
    assert set(rows) == {"official", "exact", "matte-torch", "composite"}
    assert rows["official"]["max_gray_diff"] == 0 and rows["official"]["speedup_cpu"] == 1.0
    assert rows["exact"]["max_gray_diff"] == 0 and rows["matte-torch"]["max_gray_diff"] <= 1
    assert "max_gray_diff" not in rows["composite"]  # a picture, not an alpha
    assert all(
        row["peak_rss_gb"] > 0.05 and row["call_s"] > 0 and row["speedup_wall"] > 0 for row in rows.values()
    )
    assert "| 0.03 MP" in result.stdout and "| matte-torch |" in result.stdout
