"""Benchmark the automatic mask and bounded-memory matting (``docs/inference-auto.md``).

Three measurements, each optional:

``--quality IMAGE:TRIMAP ...``  the price of the capped working size: for each photo and its
    trimap, IndexNet's demo at full resolution (``--max-side 0 --tile 0``) against
    ``infer.bounded`` at each ``--max-sides`` value, with the guided filter (``--eps`` values)
    and with bilinear only ("none"); SAD, MSE, Grad (``evaluate.metrics``, unknown region of the
    full-size trimap) and the mean |Δα| in that region in % of full scale.
``--oracle IMAGE:MATTE ...``  the price of the cap for a perfect network (the known matte,
    shrunk by each of ``--scales``, brought back by ``bounded.upsample_alpha``), same figures.
``--automask IMAGE:MATTE ...``  IoU of the automatic mask with α > 0.5 of a known matte, and
    the SAD (whole image, vs that matte) of IndexNet's alpha from the automatic trimap and from
    the matte's own trimap (unknown = 0 < α < 255 dilated by ``--band`` px).
``--tiled IMAGE:TRIMAP ...``  tiles (``--tiles`` sides, ``--margin`` context) at full
    resolution against the whole image: the same figures, the crops' total area and time.
``--agree IMAGE:TRIMAP ...``  share of a true trimap's known pixels that the automatic mask
    puts on the same side, and whether a person is found.
``--footprint IMAGE``  peak RSS and wall time of ``hmh-train matte --auto-mask`` and
    ``composite --auto-mask`` (a separate process each, the whole command: decode, mask,
    matting, harmonization, encode) on IMAGE upscaled to ``--megapixels`` (cubic).

    python benchmarks/infer_memory.py --ckpt C [--dovenet D] [--quality I:T ...]
        [--oracle I:M ...] [--automask I:M ...] [--footprint I --megapixels 12] [--max-sides 1024 1280 1536]
        [--threads 2] [--json]

SAD figures of IndexNet need the released weights to mean anything about matting quality; with
the seeded random anchor they measure how far each procedure moves the network's output.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np
import torch

from hmh_train.evaluate import metrics
from hmh_train.infer import automask, bounded, protocols
from hmh_train.infer.files import read_gray, read_rgb, write_image
from hmh_train.infer.model import load


def demo_predict(net):
    def predict(crop, crop_trimap):
        return protocols.indexnet_demo_alpha(net, crop, crop_trimap).astype(np.float32)

    return predict


def compare(alpha, reference, trimap) -> dict:
    """SAD, MSE, Grad of ``alpha`` vs ``reference`` (uint8) over the trimap's unknown region."""
    band = trimap == 128
    diff = np.abs(alpha.astype(np.float32) - reference.astype(np.float32))[band]
    return {
        "sad": round(metrics.sad(alpha, reference, trimap), 3),
        "mse": round(metrics.mse(alpha, reference, trimap), 6),
        "grad": round(metrics.gradient_error(alpha, reference, trimap), 3),
        "mean_abs_pct": round(float(diff.mean()) / 255 * 100, 3),
    }


def tiled(net, pairs, tiles, margin) -> list[dict]:
    """Tiles at full resolution against the whole image, same network and procedure."""
    rows = []
    for pair in pairs:
        image_path, trimap_path = pair.split(":")
        image = read_rgb(image_path)
        trimap = read_gray(trimap_path, image.shape[:2], "trimap")
        full = protocols.indexnet_demo_alpha(net, image, trimap)
        for tile in tiles:
            t = time.perf_counter()
            alpha = bounded.tiled_alpha(demo_predict(net), image, trimap, tile, margin)
            seconds = time.perf_counter() - t
            boxes = bounded.tile_boxes(trimap == 128, tile, margin)
            crop_mp = sum((b[1][1] - b[1][0]) * (b[1][3] - b[1][2]) for b in boxes) / 1e6
            alpha = np.clip(alpha, 0, 255).astype(np.uint8)
            row = {"image": os.path.basename(image_path), "tile": tile, "margin": margin, "crops": len(boxes)}
            rows.append(
                row
                | {"crop_mp": round(crop_mp, 2), "seconds": round(seconds, 1)}
                | compare(alpha, full, trimap)
            )
            print(json.dumps(rows[-1]), flush=True)
    return rows


def quality(net, pairs, max_sides, eps_values) -> list[dict]:
    rows = []
    for pair in pairs:
        image_path, trimap_path = pair.split(":")
        image = read_rgb(image_path)
        trimap = read_gray(trimap_path, image.shape[:2], "trimap")
        t = time.perf_counter()
        full = protocols.indexnet_demo_alpha(net, image, trimap)
        rows.append(
            {
                "image": os.path.basename(image_path),
                "max_side": 0,
                "seconds": round(time.perf_counter() - t, 1),
            }
        )
        for side in max_sides:
            small_image, small_trimap, scale = bounded.shrink(image, trimap, side)
            t = time.perf_counter()
            small = bounded.tiled_alpha(demo_predict(net), small_image, small_trimap, side, 0)
            seconds = time.perf_counter() - t
            for eps in eps_values:
                up = bounded.upsample_alpha(small, image, trimap, scale, bounded.DEFAULT_TILE, eps)
                alpha = np.clip(up, 0, 255).astype(np.uint8)
                row = {
                    "image": os.path.basename(image_path),
                    "max_side": side,
                    "eps": eps,
                    "seconds": round(seconds, 1),
                }
                rows.append(row | compare(alpha, full, trimap))
                print(json.dumps(rows[-1]), flush=True)
    return rows


def true_trimap(matte: np.ndarray, band: int) -> np.ndarray:
    """Trimap of a known matte: 255 where α = 255, unknown where 0 < α < 255 dilated by ``band``."""
    trimap = np.where(matte == 255, 255, 0).astype(np.uint8)
    unknown = cv2.dilate(
        ((matte > 0) & (matte < 255)).astype(np.uint8), np.ones((2 * band + 1,) * 2, np.uint8)
    )
    trimap[unknown > 0] = 128
    return trimap


def oracle(pairs, scales, eps_values, band: int) -> list[dict]:
    """The price of the cap itself, for a perfect network: the known matte shrunk to the working
    size (area interpolation) stands for the network's output there, and comes back by
    ``bounded.upsample_alpha``; compared with the matte at full size."""
    rows = []
    for pair in pairs:
        image_path, matte_path = pair.split(":")
        image = read_rgb(image_path)
        matte = read_gray(matte_path, image.shape[:2], "matte")
        trimap = true_trimap(matte, band)
        h, w = matte.shape
        for scale in scales:
            small = cv2.resize(matte, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
            for eps in eps_values:
                up = bounded.upsample_alpha(
                    small.astype(np.float32), image, trimap, scale, bounded.DEFAULT_TILE, eps
                )
                alpha = np.clip(up, 0, 255).astype(np.uint8)
                row = {"image": os.path.basename(image_path), "scale": scale, "eps": eps}
                rows.append(row | compare(alpha, matte, trimap))
                print(json.dumps(rows[-1]), flush=True)
    return rows


def automatic(net, pairs, band: int) -> list[dict]:
    rows, segmenter = [], automask.load_segmenter()
    for pair in pairs:
        image_path, matte_path = pair.split(":")
        image = read_rgb(image_path)
        matte = read_gray(matte_path, image.shape[:2], "matte")
        mask = automask.auto_mask(segmenter, image) > 0
        truth = matte > 127
        iou = float((mask & truth).sum() / (mask | truth).sum())
        auto_trimap = automask.auto_trimap(segmenter, image)
        whole = np.full(matte.shape, 128, np.uint8)  # SAD over the whole image
        row = {"image": os.path.basename(image_path), "iou": round(iou, 4)}
        # a perfect network given the automatic trimap: only its known regions can be wrong
        perfect = np.where(auto_trimap == 128, matte, auto_trimap)
        row["sad_perfect_net_auto_trimap"] = round(metrics.sad(perfect, matte, whole), 2)
        for name, trimap in (("true", true_trimap(matte, band)), ("auto", auto_trimap)):
            alpha = protocols.indexnet_demo_alpha(net, image, trimap)
            row[f"sad_{name}_trimap"] = round(metrics.sad(alpha, matte, whole), 2)
            row[f"unknown_{name}_pct"] = round(float((trimap == 128).mean()) * 100, 1)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def agreement(pairs) -> list[dict]:
    """Share of a true trimap's known pixels (0 / 255) on the same side of the automatic mask."""
    rows, segmenter = [], automask.load_segmenter()
    for pair in pairs:
        image_path, trimap_path = pair.split(":")
        image = read_rgb(image_path)
        trimap = read_gray(trimap_path, image.shape[:2], "trimap")
        mask = automask.person_probability(segmenter, image) >= 0.5
        known = trimap != 128
        agree = float((mask[known] == (trimap[known] == 255)).mean())
        row = {"image": os.path.basename(image_path), "known_pixels_agree": round(agree, 4)}
        try:
            automask.auto_mask(segmenter, image)
            row["person_found"] = True
        except automask.NoPersonError:
            row["person_found"] = False
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


#: Runs ``hmh-train ARGS`` and prints the process's own peak RSS (KiB) on stderr as it exits.
PEAK_WRAPPER = """
import resource, sys
from hmh_train.cli import main
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print("PEAK_RSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def run_measured(args: list[str]) -> dict:
    """Wall time, CPU time (user + system: on a loaded machine the fairer figure; with 2 threads
    on 2 idle cores the wall time lies between half of it and all of it) and peak RSS (MB) of
    ``hmh-train ARGS`` in a fresh process (the whole command)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK_WRAPPER, *args], capture_output=True, text=True)
    seconds = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"hmh-train {args[0]} failed: {done.stderr.strip()[-500:]}")
    peak = next(int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("PEAK_RSS_KB"))
    return {"seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1), "peak_rss_mb": round(peak / 1024)}


def footprint(ckpt, dovenet, image_path, megapixels, background, max_side) -> list[dict]:
    image = read_rgb(image_path)
    h, w = image.shape[:2]
    scale = (megapixels * 1e6 / (h * w)) ** 0.5
    big = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)
    del image
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "portrait.png")
        write_image(src, big)
        size = f"{big.shape[1]}x{big.shape[0]}"
        del big
        common = ["--image", src, "--auto-mask", "--max-side", str(max_side)]
        matte = ["matte", "--ckpt", ckpt, *common, "--out", os.path.join(tmp, "a.png")]
        rows.append({"command": "matte", "size": size} | run_measured(matte))
        print(json.dumps(rows[-1]), flush=True)
        ckpts = ["--ckpt", ckpt] + (["--ckpt", dovenet] if dovenet else [])
        comp = ["composite", *ckpts, *common, "--background", background, "--out", os.path.join(tmp, "c.png")]
        rows.append({"command": "composite", "size": size} | run_measured(comp))
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", required=True, help="IndexNet checkpoint (the anchor or the released file)")
    parser.add_argument("--dovenet", help="harmonization checkpoint for the composite footprint")
    parser.add_argument("--quality", nargs="*", default=[], metavar="IMAGE:TRIMAP")
    parser.add_argument("--automask", nargs="*", default=[], metavar="IMAGE:MATTE")
    parser.add_argument("--oracle", nargs="*", default=[], metavar="IMAGE:MATTE")
    parser.add_argument("--agree", nargs="*", default=[], metavar="IMAGE:TRIMAP")
    parser.add_argument("--tiled", nargs="*", default=[], metavar="IMAGE:TRIMAP")
    parser.add_argument("--tiles", type=int, nargs="*", default=[768], help="for --tiled")
    parser.add_argument("--margin", type=int, default=bounded.DEFAULT_MARGIN, help="for --tiled")
    parser.add_argument("--scales", type=float, nargs="*", default=[0.67, 0.5, 0.33], help="for --oracle")
    parser.add_argument("--footprint", metavar="IMAGE")
    parser.add_argument(
        "--background", help="background image for the composite footprint (default: the portrait)"
    )
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--max-sides", type=int, nargs="*", default=[1024, 1280, 1536])
    parser.add_argument("--max-side", type=int, default=bounded.DEFAULT_MAX_SIDE, help="for --footprint")
    parser.add_argument("--eps", nargs="*", default=["none", "1e-4", "1e-3", "1e-2"])
    parser.add_argument("--band", type=int, default=10, help="dilation of the true trimap's unknown region")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print all rows as one JSON object at the end")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    net = load(args.ckpt).network("matting")
    eps_values = [None if e == "none" else float(e) for e in args.eps]
    out = {"load": os.getloadavg()[0], "threads": args.threads}
    if args.quality:
        out["quality"] = quality(net, args.quality, args.max_sides, eps_values)
    if args.oracle:
        out["oracle"] = oracle(args.oracle, args.scales, eps_values, args.band)
    if args.tiled:
        out["tiled"] = tiled(net, args.tiled, args.tiles, args.margin)
    if args.agree:
        out["agree"] = agreement(args.agree)
    if args.automask:
        out["automask"] = automatic(net, args.automask, args.band)
    if args.footprint:
        background = args.background or args.footprint
        out["footprint"] = footprint(
            args.ckpt, args.dovenet, args.footprint, args.megapixels, background, args.max_side
        )
    out["load_after"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
