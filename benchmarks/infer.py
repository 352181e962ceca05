"""Inference speed and memory: ``matte`` and ``composite`` against IndexNet's official demo,
side by side, on the same photograph and checkpoint (issue 19, item 3).

For every size in --sizes (megapixels: the photograph and its trimap resized, cubic / nearest),
every method runs in its own child process (this script with --child), which loads the
checkpoint, runs the method once on a 64×64 crop (timed apart as "prepare": one-time set-up
such as the fast path's ONNX export), then makes one alpha matte or composite of the whole
image (timed: wall and CPU seconds of the call). The parent samples the
child's resident set size every 20 ms with psutil (peak RSS) and compares every alpha with the
official demo's (largest difference in gray levels, share within one).

Methods: ``official`` (IndexNet's ``scripts/demo.py`` ``inference()``, reproduced step by step
below on our IndexNet, which loads the released file key for key), ``exact`` (``hmh-train matte
--exact``: ``protocols.indexnet_demo_alpha``), ``matte`` (the default: engine ``auto``),
``matte-torch`` and ``matte-onnxruntime`` (the fast path's two engines), ``composite``
(``Model.composite`` with the trimap: matting + composite + harmonization when --harmonizer
is given; the background is the photograph mirrored).

    python benchmarks/infer.py --ckpt indexnet_matting.pth.tar --image boy.png --trimap boy_trimap.png \\
        --sizes 1 2.5 --threads 2 --json infer.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np
import psutil
import torch
from PIL import Image

METHODS = ("official", "exact", "matte", "matte-torch", "matte-onnxruntime", "composite")
IMG_SCALE = 1.0 / 255
IMG_MEAN = np.array([0.485, 0.456, 0.406, 0]).reshape((1, 1, 4))
IMG_STD = np.array([0.229, 0.224, 0.225, 1]).reshape((1, 1, 4))
STRIDE = 32


def official_demo(net, image: np.ndarray, trimap: np.ndarray) -> np.ndarray:
    """IndexNet's ``scripts/demo.py`` ``inference()`` (poppinace/indexnet_matting, 4beb06a)
    statement for statement, arrays in instead of file names: uint8 RGB (H, W, 3) and trimap
    (H, W) → uint8 alpha (H, W)."""
    with torch.no_grad():
        trimap = np.expand_dims(trimap, axis=2)
        image = np.concatenate((image, trimap), axis=2)
        h, w = image.shape[:2]
        image = image.astype("float32")
        image = (IMG_SCALE * image - IMG_MEAN) / IMG_STD
        image = image.astype("float32")
        new_h, new_w = (int(np.ceil(s / STRIDE) * STRIDE) for s in (h, w))  # image_alignment
        x1 = cv2.resize(image[:, :, 0:3], dsize=(new_w, new_h), interpolation=cv2.INTER_CUBIC)
        x2 = cv2.resize(image[:, :, 3], dsize=(new_w, new_h), interpolation=cv2.INTER_NEAREST)
        image = np.concatenate((x1, np.expand_dims(x2, axis=2)), axis=2)
        inputs = torch.from_numpy(np.expand_dims(image.transpose(2, 0, 1), axis=0))
        outputs = net(inputs)
        outputs = outputs.squeeze().cpu().numpy()
        alpha = cv2.resize(outputs, dsize=(w, h), interpolation=cv2.INTER_CUBIC)
        alpha = np.clip(alpha, 0, 1) * 255.0
        trimap = trimap.squeeze()
        mask = np.equal(trimap, 128).astype(np.float32)
        alpha = (1 - mask) * trimap + mask * alpha
        return alpha.astype(np.uint8)


def run_child(args: argparse.Namespace) -> dict:
    """One method once, in this process: {"prepare_s", "call_s", "cpu_s"}; writes the alpha
    (or composite) to ``args.result`` as .npy."""
    import hmh_train as hmh

    torch.set_num_threads(args.threads)
    image = np.array(Image.open(args.image).convert("RGB"))
    trimap = np.array(Image.open(args.trimap).convert("L"))
    model = hmh.load(args.ckpt, *([args.harmonizer] if args.harmonizer else []))
    net = model.network("matting").eval()
    engine = {"matte": "auto", "matte-torch": "torch", "matte-onnxruntime": "onnxruntime"}.get(args.child)

    def call(image, trimap):
        if args.child == "official":
            return official_demo(net, image, trimap)
        if args.child == "composite":
            return model.composite(image, image[:, ::-1], trimap=trimap)
        return model.matte(image, trimap, exact=args.child == "exact", engine=engine or "auto")

    start = time.perf_counter()  # every method once on a 64×64 crop first: one-time set-up (the
    call(image[:64, :64], trimap[:64, :64])  # fast path's fold and export, oneDNN's first run) apart
    prepare = time.perf_counter() - start
    start, cpu = time.perf_counter(), time.process_time()
    result = call(image, trimap)
    row = {"prepare_s": prepare, "call_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu}
    np.save(args.result, result)
    return row


def peak_rss_run(command: list[str]) -> tuple[dict, float]:
    """Run a child; (its JSON line, peak RSS in GB sampled every 20 ms)."""
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process, peak = psutil.Process(child.pid), 0
    while child.poll() is None:
        try:
            peak = max(peak, process.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.02)
    out, err = child.communicate()
    if child.returncode != 0:
        raise SystemExit(f"{command[3]} failed: {(err.strip().splitlines() or ['?'])[-1]}")
    return json.loads(out.strip().splitlines()[-1]), peak / 1e9


def resized_inputs(args: argparse.Namespace, megapixels: float, folder: str) -> tuple[str, str, str]:
    """The photograph and trimap at ``megapixels`` (aspect kept) as PNG files in ``folder``."""
    image = np.array(Image.open(args.image).convert("RGB"))
    trimap = np.array(Image.open(args.trimap).convert("L"))
    scale = (megapixels * 1e6 / (image.shape[0] * image.shape[1])) ** 0.5
    w, h = round(image.shape[1] * scale), round(image.shape[0] * scale)
    image = cv2.resize(image, (w, h), interpolation=cv2.INTER_CUBIC)
    trimap = cv2.resize(trimap, (w, h), interpolation=cv2.INTER_NEAREST)
    paths = (
        os.path.join(folder, f"image-{megapixels}.png"),
        os.path.join(folder, f"trimap-{megapixels}.png"),
    )
    Image.fromarray(image).save(paths[0])
    Image.fromarray(trimap).save(paths[1])
    return *paths, f"{w}×{h}"


def measure_size(args: argparse.Namespace, megapixels: float, folder: str) -> list[dict]:
    """Every method at one size; rows with ratios against ``official``."""
    image, trimap, size = resized_inputs(args, megapixels, folder)
    rows, results = [], {}
    for method in args.methods:
        result = os.path.join(folder, f"{method}-{megapixels}.npy")
        command = [sys.executable, os.path.abspath(__file__), "--child", method, "--image", image]
        command += [
            "--trimap",
            trimap,
            "--ckpt",
            args.ckpt,
            "--threads",
            str(args.threads),
            "--result",
            result,
        ]
        command += ["--harmonizer", args.harmonizer] if args.harmonizer else []
        row, peak = peak_rss_run(command)
        results[method] = np.load(result)
        rows.append({"megapixels": megapixels, "size": size, "method": method, **row, "peak_rss_gb": peak})
    reference = results.get("official")
    base = next((r for r in rows if r["method"] == "official"), None)
    for row in rows:
        if base is not None:
            row["speedup_wall"] = base["call_s"] / row["call_s"]
            row["speedup_cpu"] = base["cpu_s"] / row["cpu_s"]
        out = results[row["method"]]
        if reference is not None and out.shape == reference.shape:
            diff = np.abs(out.astype(int) - reference.astype(int))
            row["max_gray_diff"], row["within_one"] = int(diff.max()), float((diff <= 1).mean())
    return rows


def table(rows: list[dict]) -> str:
    """Markdown table of the rows."""
    lines = [
        "| size | method | prepare s | call s (wall) | call s (CPU) | speed-up (wall / CPU) | peak RSS GB | "
        "max diff vs official |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        speed = f"{r['speedup_wall']:.2f}× / {r['speedup_cpu']:.2f}×" if "speedup_wall" in r else "–"
        diff = f"{r['max_gray_diff']} ({100 * r['within_one']:.3f} % ≤ 1)" if "max_gray_diff" in r else "–"
        lines.append(
            f"| {r['megapixels']} MP {r['size']} | {r['method']} | {r['prepare_s']:.2f} | {r['call_s']:.2f} | "
            f"{r['cpu_s']:.2f} | {speed} | {r['peak_rss_gb']:.2f} | {diff} |"
        )
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ckpt", required=True, help="IndexNet's .pth.tar (or any matting checkpoint)")
    parser.add_argument("--harmonizer", help="a harmonization checkpoint for `composite` (optional)")
    parser.add_argument("--image", required=True, help="a photograph (RGB)")
    parser.add_argument("--trimap", required=True, help="its trimap (0 / 128 / 255)")
    parser.add_argument("--sizes", type=float, nargs="+", default=[1.0, 2.5, 12.0], help="megapixels")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--threads", type=int, default=2, help="torch threads in every child")
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(run_child(args)))
        return []
    rows = []
    with tempfile.TemporaryDirectory(prefix="hmh-infer-bench-") as folder:
        for megapixels in args.sizes:
            rows += measure_size(args, megapixels, folder)
            print(table([r for r in rows if r["megapixels"] == megapixels]), flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=2)
    print(table(rows))
    return rows


if __name__ == "__main__":
    main()
