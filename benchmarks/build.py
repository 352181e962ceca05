"""Benchmark ``hmh-build``: the default pipeline against the paper-faithful one, side by side.

On the same seeded synthetic 600×800 portraits with known background (hmh_builder.ingest.synthetic),
whole ``hmh-build build`` runs at ``--size 256``:

1. samples/s of the default pipeline and of ``--background telea`` with 1 worker, and their
   ratio (per core: the 1-worker runs are pinned to one CPU where the OS allows it);
2. accuracy of the stored background B against the true background resized the same way
   (hmh_builder.pipeline.sample.resize): PSNR weighted by (1 − A) over pixels with A > 0, pooled over
   the portraits both builds contain, for both;
3. samples/s of the default pipeline with 1 and 2 workers (pinned to 1 and 2 CPUs), ratio.

Throughput is the number of samples over the run's wall time minus the command's start-up
time (``hmh-build build --help``, measured once), and also over its CPU time (the build
process and its reaped workers, start-up CPU subtracted): on a shared, loaded machine the
CPU-time figure is the fair per-core comparison; the 1 vs 2 worker ratio needs idle cores.

    python benchmarks/build.py [--n 200] [--n-telea 12] [--json] [--keep DIR]
                               [--height 800 --width 600 --size 256 --seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from hmh_builder.imageio import decode_image
from hmh_builder.ingest.synthetic import write_kaggle_layout
from hmh_builder.pipeline.sample import resize
from hmh_builder.schema import load_manifest

SIZE = 256  # --size of the builds (the paper's)
#: Small shards so that 2 workers have several shards to share even with a few hundred samples.
SHARD_SIZE = 16


def hmh_build_path() -> str:
    beside = Path(sys.executable).with_name("hmh-build")
    found = str(beside) if beside.exists() else shutil.which("hmh-build")
    if not found:
        sys.exit("benchmarks/build.py: cannot find the hmh-build command (install the project first)")
    return found


def _pin(cpus):
    """preexec_fn that pins the child (and its worker processes) to ``cpus``, if possible."""
    if not cpus or not hasattr(os, "sched_setaffinity"):
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_run(cmd: list, cpus=None) -> tuple[float, float]:
    """Run ``cmd``; return (wall seconds, CPU seconds of it and its reaped worker processes)."""
    cpu0, start = _children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=_pin(cpus))
    seconds, cpu = time.perf_counter() - start, _children_cpu() - cpu0
    if proc.returncode != 0:
        sys.exit(f"benchmarks/build.py: {' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return seconds, cpu


def make_sources(root: Path, n: int, n_telea: int, seed: int, height: int, width: int) -> dict:
    """n portraits with truth in root/src; the first n_telea (and the first one) copied apart."""
    src = root / "src"
    ids = write_kaggle_layout(src, n, seed=seed, height=height, width=width, with_truth=True)
    folders = {"all": src, "telea": root / "src_telea", "one": root / "src_one"}
    for name, keep in (("telea", set(ids[:n_telea])), ("one", {ids[0]})):
        for path in src.rglob("*"):
            if path.is_file() and path.stem in keep:
                dest = folders[name] / path.relative_to(src)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, dest)
    return folders


def background_accuracy(out: Path, truth_dir: Path, ids: set) -> dict:
    """Pooled (1 − A)-weighted PSNR of B over A > 0 for the samples of ``out`` whose id is in ids."""
    manifest = load_manifest(out)
    num = den = 0.0
    per_image = []
    for shard in manifest["shards"]:
        with h5py.File(out / shard["path"], "r") as f:
            names = list(f["id"].asstr()[()])
            for row, sid in enumerate(names):
                if sid not in ids:
                    continue
                alpha, back = f["A"][row], f["B"][row].astype(np.float64)
                truth = decode_image(str(truth_dir / f"{sid}.png"))
                truth = resize(truth, alpha.shape).astype(np.float64)
                weight = (1.0 - alpha / 255.0)[..., None] * (alpha > 0)[..., None]
                e, w = float((weight * (back - truth) ** 2).sum()), float(3 * weight.sum())
                num, den = num + e, den + w
                per_image.append(10 * np.log10(255.0**2 * w / max(e, 1e-12)))
    if not per_image:
        sys.exit(f"benchmarks/build.py: no benchmark samples found in {out}")
    return {
        "psnr_pooled_db": round(10 * np.log10(255.0**2 * den / max(num, 1e-12)), 2),
        "psnr_mean_db": round(float(np.mean(per_image)), 2),
        "samples": len(per_image),
    }


def build(exe, src, out, workers, extra=(), cpus=None) -> tuple[float, float]:
    cmd = [
        exe,
        "build",
        "--src",
        str(src),
        "--out",
        str(out),
        "--workers",
        str(workers),
        "--shard-size",
        str(SHARD_SIZE),
        *extra,
    ]
    return timed_run(cmd, cpus)


def run_builds(exe, root: Path, folders: dict, n: int, n_telea: int, size: int, one, two) -> dict:
    """{name: (samples, (wall s, CPU s), (start-up wall s, start-up CPU s))} of every build.

    Start-up is the same command on a one-portrait source: imports, discovery, worker pool,
    manifest (and one sample, ≈ 1% of the default runs' time).
    """
    sized = ("--size", str(size))
    startup = {
        1: build(exe, folders["one"], root / "out_one_w1", 1, sized, one),
        2: build(exe, folders["one"], root / "out_one_w2", 2, sized, two),
    }
    plan = {
        "default_w1": (folders["all"], n, 1, (), one),
        "default_w2": (folders["all"], n, 2, (), two),
        "telea_w1": (folders["telea"], n_telea, 1, ("--background", "telea"), one),
        "multilevel_source_w1": (folders["all"], n, 1, ("--background-resolution", "source"), one),
        "multilevel_output_w1": (folders["all"], n, 1, ("--background-resolution", "output"), one),
    }
    return {
        name: (count, build(exe, src, root / f"out_{name}", w, sized + extra, cpus), startup[w])
        for name, (src, count, w, extra, cpus) in plan.items()
    }


def summarise(runs: dict, root: Path, folders: dict) -> dict:
    """Rates, ratios and background accuracy of the builds."""
    rate = {k: round(n / max(s - s0, 1e-9), 2) for k, (n, (s, _), (s0, _)) in runs.items()}
    cpu_rate = {k: round(n / max(c - c0, 1e-9), 2) for k, (n, (_, c), (_, c0)) in runs.items()}
    truth = folders["all"] / "_truth"
    shared = {p.stem for p in (folders["telea"] / "_truth").glob("*.png")}
    accuracy = {
        k: background_accuracy(root / f"out_{k}_w1", truth, shared)
        for k in ("default", "telea", "multilevel_source", "multilevel_output")
    }
    accuracy["default_all_n"] = background_accuracy(
        root / "out_default_w1", truth, {p.stem for p in truth.glob("*.png")}
    )
    return {
        "startup_s": {
            f"workers_{w}": [round(v, 2) for v in runs[k][2]]
            for w, k in ((1, "default_w1"), (2, "default_w2"))
        },
        "wall_s": {k: round(s, 2) for k, (_, (s, _), _) in runs.items()},
        "cpu_s": {k: round(c, 2) for k, (_, (_, c), _) in runs.items()},
        "samples_per_s": rate,
        "samples_per_cpu_s": cpu_rate,
        "speedup_default_vs_telea_per_core": round(rate["default_w1"] / rate["telea_w1"], 1),
        "speedup_default_vs_telea_per_cpu_s": round(cpu_rate["default_w1"] / cpu_rate["telea_w1"], 1),
        "speedup_2_workers_vs_1": round(rate["default_w2"] / rate["default_w1"], 2),
        "background_accuracy": accuracy,
        "accuracy_gain_db": round(
            accuracy["default"]["psnr_pooled_db"] - accuracy["telea"]["psnr_pooled_db"], 2
        ),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--n", type=int, default=200, help="portraits for the default-pipeline runs (default 200)"
    )
    parser.add_argument(
        "--n-telea",
        type=int,
        default=12,
        help="portraits (the first of the n) for the slow --background telea run (default 12)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic portraits (default 0)")
    parser.add_argument("--height", type=int, default=800, help="portrait height in pixels (default 800)")
    parser.add_argument("--width", type=int, default=600, help="portrait width in pixels (default 600)")
    parser.add_argument("--size", type=int, default=SIZE, help=f"hmh-build --size (default {SIZE})")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument(
        "--keep", metavar="DIR", help="work in DIR and keep sources and builds (default: temp)"
    )
    args = parser.parse_args(argv)
    if args.n < 2 or not 1 <= args.n_telea <= args.n:
        parser.error("need --n >= 2 and 1 <= --n-telea <= --n")
    if min(args.height, args.width) < 16 or args.size < 1:
        parser.error("need --height, --width >= 16 and --size >= 1")
    exe = hmh_build_path()
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    one, two = (cpus[:1], cpus[:2]) if len(cpus) >= 2 else (None, None)
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="hmh-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        load_before = round(os.getloadavg()[0], 2)
        t0 = time.perf_counter()
        folders = make_sources(root, args.n, args.n_telea, args.seed, args.height, args.width)
        generate_s = time.perf_counter() - t0
        runs = run_builds(exe, root, folders, args.n, args.n_telea, args.size, one, two)
        result = {
            "command": "python benchmarks/build.py " + " ".join(sys.argv[1:] if argv is None else argv),
            "machine": {
                "cpus_available": len(cpus),
                "python": platform.python_version(),
                "processor": platform.processor() or platform.machine(),
            },
            "portraits": {
                "n": args.n,
                "n_telea": args.n_telea,
                "source_size": [args.height, args.width],
                "size": args.size,
                "shard_size": SHARD_SIZE,
                "generate_s": round(generate_s, 1),
            },
            "load_average_1min": {"before": load_before, "after": round(os.getloadavg()[0], 2)},
            **summarise(runs, root, folders),
        }
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(result, indent=2) if args.json else report(result))
    return result


def report(r: dict) -> str:
    s, c, a = r["samples_per_s"], r["samples_per_cpu_s"], r["background_accuracy"]
    (h, w), size = r["portraits"]["source_size"], r["portraits"]["size"]
    return "\n".join(
        [
            f"hmh-build benchmark: {r['portraits']['n']} synthetic {h}×{w} portraits → {size}×{size} "
            f"({r['portraits']['n_telea']} for telea); start-up (1-portrait build) "
            f"{r['startup_s']['workers_1'][0]} s / {r['startup_s']['workers_2'][0]} s subtracted; "
            f"load average {r['load_average_1min']['before']} → {r['load_average_1min']['after']} "
            f"on {r['machine']['cpus_available']} CPUs",
            "                       samples/s (wall)   samples per CPU-second",
            f"  default   1 worker : {s['default_w1']:8.2f}           {c['default_w1']:8.2f}",
            f"  telea     1 worker : {s['telea_w1']:8.2f}           {c['telea_w1']:8.2f}",
            f"  default / telea    : {r['speedup_default_vs_telea_per_core']:7.1f}×           "
            f"{r['speedup_default_vs_telea_per_cpu_s']:7.1f}×   (target ≥ 50× per core)",
            f"  default   2 workers: {s['default_w2']:8.2f}",
            f"  2 workers / 1      : {r['speedup_2_workers_vs_1']:8.2f}×   (target ≥ 1.8×; needs 2 idle cores)",
            f"  B accuracy, (1−A)-weighted PSNR over A>0 on the {a['telea']['samples']} shared portraits:",
            f"    default {a['default']['psnr_pooled_db']:.2f} dB, telea {a['telea']['psnr_pooled_db']:.2f} dB, "
            f"gain {r['accuracy_gain_db']:+.2f} dB (target ≥ +3 dB); default over all {a['default_all_n']['samples']}: "
            f"{a['default_all_n']['psnr_pooled_db']:.2f} dB",
            "  multilevel by --background-resolution (1 worker): "
            + ", ".join(
                f"{res} {s[f'multilevel_{res}_w1']:.2f} samples/s ({c[f'multilevel_{res}_w1']:.2f}/CPU-s), "
                f"{a[f'multilevel_{res}']['psnr_pooled_db']:.2f} dB"
                for res in ("source", "output")
            ),
        ]
    )


if __name__ == "__main__":
    main()
