"""Peak memory of ``hmh-build`` as the dataset grows (issue 3: memory must stay flat).

For each N in --counts, writes N synthetic portraits (Kaggle layout, seeded), runs the real
``hmh-build`` console script in a subprocess and samples the resident set size (RSS) of the
whole process tree (the build and every worker process) every 20 ms with psutil. Reports the
peak of the tree's total RSS, the peak of the main process alone, wall time and samples/s.

    python benchmarks/memory.py --counts 50 500 --height 400 --width 300 --workers 2

Shards hold ``--shard-size`` samples, so 500 portraits make 10× as many shards as 50; a
builder whose memory grows with N (keeping arrays, results or file handles) shows it here.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from hmh_builder.ingest.synthetic import write_kaggle_layout


def tree_rss(process: psutil.Process) -> tuple[int, int]:
    """(RSS of the process and all its descendants, RSS of the process alone), bytes."""
    try:
        own = process.memory_info().rss
        children = process.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0, 0
    total = own
    for child in children:
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total, own


def measure(src: Path, out: Path, args: argparse.Namespace) -> dict:
    command = [str(Path(sys.executable).with_name("hmh-build")), "--src", str(src), "--out", str(out),
               "--size", str(args.size), "--workers", str(args.workers),
               "--shard-size", str(args.shard_size), "--no-progress"]
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process = psutil.Process(child.pid)
    peak_tree = peak_main = 0
    while child.poll() is None:
        total, own = tree_rss(process)
        peak_tree, peak_main = max(peak_tree, total), max(peak_main, own)
        time.sleep(0.02)
    seconds = time.perf_counter() - start
    _, stderr = child.communicate()
    if child.returncode != 0:
        raise SystemExit(f"hmh-build failed ({child.returncode}): {stderr.strip()}")
    return {"peak_tree_mb": peak_tree / 2**20, "peak_main_mb": peak_main / 2**20,
            "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[50, 500])
    parser.add_argument("--height", type=int, default=400, help="source portrait height (px)")
    parser.add_argument("--width", type=int, default=300, help="source portrait width (px)")
    parser.add_argument("--size", default="256")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shard-size", type=int, default=50)
    parser.add_argument("--keep", help="folder to keep sources and outputs in (default: temporary)")
    args = parser.parse_args()
    root = Path(args.keep or tempfile.mkdtemp(prefix="hmh-memory-"))
    print(f"sources {args.width}×{args.height}, --size {args.size}, --workers {args.workers}, "
          f"--shard-size {args.shard_size}")
    print(f"{'portraits':>9} {'peak RSS tree':>14} {'peak RSS main':>14} {'wall s':>8} {'samples/s':>10}")
    try:
        for n in args.counts:
            src = root / f"src{n}"
            if not src.exists():
                write_kaggle_layout(src, n, seed=0, height=args.height, width=args.width, with_truth=False)
            out = root / f"out{n}"
            shutil.rmtree(out, ignore_errors=True)
            r = measure(src, out, args)
            print(f"{n:>9} {r['peak_tree_mb']:>11.0f} MB {r['peak_main_mb']:>11.0f} MB "
                  f"{r['seconds']:>8.1f} {n / r['seconds']:>10.1f}", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
