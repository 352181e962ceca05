"""Peak memory of ``hmh-build`` as the dataset grows (issue 3: memory must stay flat).

For each N in --counts, writes N synthetic portraits (Kaggle layout, seeded), runs the real
``hmh-build`` console script in a subprocess and samples the resident set size (RSS) of the
whole process tree (the build and every worker process) every 20 ms with psutil. Reports the
peak of the tree's total RSS, the peak of the main process alone, wall time and samples/s.

    python benchmarks/memory.py --counts 50 500 --height 400 --width 300 --workers 2

Shards hold ``--shard-size`` samples, so 500 portraits make 10× as many shards as 50; a
builder whose memory grows with N (keeping arrays, results or file handles) shows it here.

``--hostile`` adds, for the first count, a build whose first matte is replaced by a valid
~1.5 MB RGBA PNG whose header says ``--hostile-side``² (20000×20000: 1.6 GB of pixels once
decoded), and beside it the peak RSS of a process that decodes that file as the builder did
before it read headers first (``cv2.imdecode`` of the whole file). The builder now fails the
pair from the headers alone (stage "validate": the sizes differ) without decoding it.

    python benchmarks/memory.py --counts 50 --hostile
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
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


def peak_rss(command: list) -> tuple:
    """Run ``command``; (peak RSS of its process tree, of its main process, seconds, exit
    status, stderr), sampled every 20 ms."""
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
    return peak_tree, peak_main, seconds, child.returncode, stderr


def measure(src: Path, out: Path, args: argparse.Namespace, allowed=(0,)) -> dict:
    command = [
        str(Path(sys.executable).with_name("hmh-build")),
        "--src",
        str(src),
        "--out",
        str(out),
        "--size",
        str(args.size),
        "--workers",
        str(args.workers),
        "--shard-size",
        str(args.shard_size),
        "--no-progress",
    ]
    peak_tree, peak_main, seconds, status, stderr = peak_rss(command)
    if status not in allowed:
        raise SystemExit(f"hmh-build failed ({status}): {stderr.strip()}")
    return {"peak_tree_mb": peak_tree / 2**20, "peak_main_mb": peak_main / 2**20, "seconds": seconds}


def write_hostile_png(path: Path, side: int) -> None:
    """A valid RGBA PNG of side×side zero pixels (IDAT streamed through zlib, so nothing of
    that size is ever held in memory): ~1.5 MB on disk for 20000×20000."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    packer, row, idat = zlib.compressobj(9), b"\0" * (1 + 4 * side), []
    for _ in range(side):
        idat.append(packer.compress(row))
    idat.append(packer.flush())
    ihdr = side.to_bytes(4, "big") * 2 + bytes([8, 6, 0, 0, 0])  # 8 bit RGBA
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(idat)) + chunk(b"IEND", b"")
    )


def hostile_rows(root: Path, n: int, args: argparse.Namespace) -> list:
    """(label, peak tree MB, peak main MB, seconds) of a build with one hostile matte, and of
    decoding that matte the way the builder did before it read headers first."""
    src = root / f"hostile{n}"
    if not src.exists():
        write_kaggle_layout(src, n, seed=0, height=args.height, width=args.width, with_truth=False)
        matte = sorted((src / "matting").rglob("*.png"))[0]
        write_hostile_png(matte, args.hostile_side)
    matte = sorted((src / "matting").rglob("*.png"))[0]
    out = root / f"out-hostile{n}"
    shutil.rmtree(out, ignore_errors=True)
    build = measure(src, out, args, allowed=(3,))
    reason = [json.loads(line)["reason"] for line in (out / "failures.jsonl").read_text().splitlines()]
    decode = (
        "import cv2, numpy as np, sys; data = open(sys.argv[1], 'rb').read(); "
        "a = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED); "
        "print(a.shape)"
    )
    tree, own, seconds, status, stderr = peak_rss([sys.executable, "-c", decode, str(matte)])
    if status:
        raise SystemExit(f"decoding {matte} failed: {stderr.strip()[-300:]}")
    mb = matte.stat().st_size / 1e6
    return [
        (
            f"{n} + hostile matte",
            build["peak_tree_mb"],
            build["peak_main_mb"],
            build["seconds"],
            f"build; failure: {reason[0] if reason else 'none'}",
        ),
        (
            "decode that matte",
            tree / 2**20,
            own / 2**20,
            seconds,
            f"cv2.imdecode of the {mb:.2f} MB file ({args.hostile_side}² RGBA), as before",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[50, 500])
    parser.add_argument("--height", type=int, default=400, help="source portrait height (px)")
    parser.add_argument("--width", type=int, default=300, help="source portrait width (px)")
    parser.add_argument("--size", default="256")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shard-size", type=int, default=50)
    parser.add_argument("--keep", help="folder to keep sources and outputs in (default: temporary)")
    parser.add_argument(
        "--hostile",
        action="store_true",
        help="also build the first count with "
        "one hostile matte, and decode that matte the old way (see above)",
    )
    parser.add_argument(
        "--hostile-side",
        type=int,
        default=20000,
        help="width = height the hostile matte's header claims (and holds)",
    )
    args = parser.parse_args()
    root = Path(args.keep or tempfile.mkdtemp(prefix="hmh-memory-"))
    print(
        f"sources {args.width}×{args.height}, --size {args.size}, --workers {args.workers}, "
        f"--shard-size {args.shard_size}"
    )
    print(f"{'portraits':>9} {'peak RSS tree':>14} {'peak RSS main':>14} {'wall s':>8} {'samples/s':>10}")
    try:
        for n in args.counts:
            src = root / f"src{n}"
            if not src.exists():
                write_kaggle_layout(src, n, seed=0, height=args.height, width=args.width, with_truth=False)
            out = root / f"out{n}"
            shutil.rmtree(out, ignore_errors=True)
            r = measure(src, out, args)
            print(
                f"{n:>9} {r['peak_tree_mb']:>11.0f} MB {r['peak_main_mb']:>11.0f} MB "
                f"{r['seconds']:>8.1f} {n / r['seconds']:>10.1f}",
                flush=True,
            )
        for label, tree, own, seconds, note in (
            hostile_rows(root, args.counts[0], args) if args.hostile else []
        ):
            print(
                f"{label:>9}: peak RSS tree {tree:.0f} MB, main {own:.0f} MB, {seconds:.1f} s ({note})",
                flush=True,
            )
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
