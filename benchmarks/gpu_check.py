"""GPU readiness: one command that exercises, times and checks the training code on a device.

    python benchmarks/gpu_check.py                        # on a CUDA machine: < 5 minutes
    python benchmarks/gpu_check.py --quick --device cpu   # tiny CPU smoke of every code path

Prints, with the device name:

1. joint step time (critic step + both generators, ``steps.joint_step``) at ``--size``²
   (256), ``--batch`` (16), width ``--width`` (1.0), fp32 vs bf16 autocast, each without and
   with ``torch.compile`` (every network, after DDP as ``engine.wrap_nets`` does; the first
   compiled step, which compiles, is reported apart), plus the device-side batch preparation;
2. shard-loader samples/s (``make_loader``: pinned memory on CUDA, 4 batches prefetched per
   worker, batches copied to the device) for each ``--workers`` count, against what the
   fastest step consumes: does the data path starve the GPU?
3. a 2-process DDP joint step (NCCL when two GPUs are present; gloo on CPU) and whether both
   ranks hold identical parameters after it;
4. exact resume: losses of a run stopped mid-epoch and resumed (``engine.train``) against an
   uninterrupted run, and on CUDA against a second uninterrupted run (run-to-run noise).

Exit status 1 when a check (DDP parameters, resume) fails; 2 (one line) when the device cannot
be used, e.g. ``--device cuda`` (the default) on a machine without CUDA. ``--quick`` shrinks everything
(64², batch 2, width 0.25, workers 0 and 2, ``torch.compile`` with the eager backend) so a
test can run it on a CPU and keep it from rotting.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS (resume)

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from hmh_builder import schema  # noqa: E402
from hmh_builder.fsio import EXIT_USAGE, first_line  # noqa: E402
from hmh_train.data.augment import Batch, make_batch  # noqa: E402
from hmh_train.data.shards import ShardDataset, make_loader  # noqa: E402
from hmh_train.nets.forward import NET_NAMES, unwrap  # noqa: E402
from hmh_train.train import distributed as dist_utils  # noqa: E402
from hmh_train.train.checkpoint import build_nets  # noqa: E402
from hmh_train.train.config import load_config  # noqa: E402
from hmh_train.train.engine import step_config  # noqa: E402
from hmh_train.train.optim import build_optimizers  # noqa: E402
from hmh_train.train.steps import joint_step  # noqa: E402

#: The one line (exit status 2) on a machine without CUDA, unless --device cpu is given.
NO_CUDA = "CUDA is not available here; run with --device cpu for a smoke run (add --quick for tiny sizes)"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu [default: cuda]")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for a CPU smoke run")
    parser.add_argument("--size", type=int, help="square input side [256; quick 64]")
    parser.add_argument("--batch", type=int, help="batch per process [16; quick 2]")
    parser.add_argument("--width", type=float, help="network width [1.0; quick 0.25]")
    parser.add_argument("--steps", type=int, help="timed steps per configuration [10; quick 2]")
    parser.add_argument("--workers", type=int, nargs="+", help="loader workers [4 8 16; quick 0 2]")
    parser.add_argument("--compile-backend", help="torch.compile backend [inductor; quick eager]")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    args = parser.parse_args(argv)
    quick = args.quick
    for key, full, small in (
        ("size", 256, 64),
        ("batch", 16, 2),
        ("width", 1.0, 0.25),
        ("steps", 10, 2),
        ("workers", [4, 8, 16], [0, 2]),
        ("compile_backend", "inductor", "eager"),
    ):
        if getattr(args, key) is None:
            setattr(args, key, small if quick else full)
    args.num_downs = 6 if quick else 8
    return args


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return (
            f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda}, "
            f"{torch.cuda.device_count()} device(s), torch {torch.__version__})"
        )
    return f"CPU ({torch.get_num_threads()} threads, torch {torch.__version__})"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def synthetic_batch(device, batch: int, size: int, seed: int) -> Batch:
    """A device Batch of random images and a blocky matte (float32, [0, 1])."""
    g = torch.Generator().manual_seed(seed)
    alpha = (torch.rand(batch, 1, size // 8, size // 8, generator=g) > 0.5).float()
    alpha = torch.nn.functional.interpolate(alpha, size=(size, size), mode="bilinear")
    rgb = [torch.rand(batch, 3, size, size, generator=g) for _ in range(3)]
    trimap = torch.where((alpha > 0) & (alpha < 1), 0.5, alpha)
    return Batch(*(t.to(device) for t in (rgb[0], alpha, rgb[1], rgb[2], trimap)))


def step_nets(args, device, runtime, compiled: bool, seed: int = 0):
    """Seeded nets (DDP-wrapped when distributed, then compiled if asked) and optimizers."""
    cfg = load_config("joint", None, {"width": args.width, "num_downs": args.num_downs})
    torch.manual_seed(seed)
    nets = build_nets(NET_NAMES, args.width, args.num_downs)
    for name in NET_NAMES:
        module = dist_utils.wrap(getattr(nets, name).to(device), runtime)
        setattr(nets, name, torch.compile(module, backend=args.compile_backend) if compiled else module)
    return nets, build_optimizers(nets, cfg), cfg


def time_step(args, device, amp, compiled: bool) -> tuple[float, float]:
    """(first step seconds, mean seconds of the next ``args.steps`` steps) of joint_step."""
    runtime = dist_utils.Runtime(device, 0, 1, 0)
    nets, optims, cfg = step_nets(args, device, runtime, compiled)
    scfg = dataclasses.replace(step_config(cfg, device), amp_dtype=amp)
    data = synthetic_batch(device, args.batch, args.size, 0)
    start = time.perf_counter()
    joint_step(nets, optims, data, scfg)
    _sync(device)
    first = time.perf_counter() - start
    joint_step(nets, optims, data, scfg)  # a second warm-up (allocator, autotuning)
    _sync(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        joint_step(nets, optims, data, scfg)
    _sync(device)
    return first, (time.perf_counter() - start) / args.steps


def batch_prep_time(args, device) -> float:
    """Seconds per device-side make_batch (crop/flip, random trimap, online adjustment)."""
    g = torch.Generator().manual_seed(0)
    raw = {
        k: torch.randint(0, 256, (args.batch, c, args.size, args.size), generator=g, dtype=torch.uint8)
        for k, c in (("I", 3), ("A", 1), ("B", 3), ("I_d", 3))
    }
    make_batch(raw, device, g, crop_min=0.75, online=True)
    _sync(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        make_batch(raw, device, g, crop_min=0.75, online=True)
    _sync(device)
    return (time.perf_counter() - start) / args.steps


def write_loader_shards(folder: Path, n: int, size: int, per_shard: int = 64) -> None:
    """``folder/train/`` shards of n constant-content samples (FORMAT.md schema)."""
    (folder / "train").mkdir(parents=True, exist_ok=True)
    image = np.full((size, size, 3), 127, np.uint8)
    for index, start in enumerate(range(0, n, per_shard)):
        rows = min(per_shard, n - start)
        with h5py.File(folder / schema.shard_filename("train", index), "w") as h5:
            schema.create_shard_datasets(h5, rows, size, size)
            h5.attrs.update(schema.shard_attrs("train", size, size, "gpu-check", "gpu-check"))
            for row in range(rows):
                for key in ("I", "F", "B", "I_d"):
                    h5[key][row] = image
                h5["A"][row] = image[..., 0]
                h5["id"][row], h5["transform"][row], h5["params"][row] = f"{start + row}", "saturation", "{}"


def loader_rate(folder: Path, workers: int, args, device) -> float:
    """Samples/s of the training loader (batches copied to the device), after the first batch."""
    loader = make_loader(
        ShardDataset(folder, "train"), args.batch, workers=workers, pin_memory=device.type == "cuda"
    )
    batches = iter(loader)
    next(batches)  # worker start-up
    start, count = time.perf_counter(), 0
    for raw in batches:
        count += raw["I"].to(device, non_blocking=True).shape[0]
        raw["A"].to(device, non_blocking=True)
    _sync(device)
    return count / (time.perf_counter() - start)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ddp_rank(rank: int, port: int, args, out: str) -> None:
    """One of two ranks: different initial weights and data per rank, two DDP joint steps;
    rank 0 writes (seconds of the second step, max parameter difference between ranks)."""
    import torch.distributed as dist

    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank)
    )
    if args.device == "cpu":
        torch.set_num_threads(1)
    runtime = dist_utils.setup("cpu" if args.device == "cpu" else "cuda")
    device = runtime.device
    nets, optims, cfg = step_nets(args, device, runtime, compiled=False, seed=100 + rank)
    amp = torch.bfloat16 if device.type == "cuda" else None
    scfg = dataclasses.replace(step_config(cfg, device), amp_dtype=amp)
    data = synthetic_batch(device, args.batch, args.size, seed=rank)
    joint_step(nets, optims, data, scfg)
    _sync(device)
    start = time.perf_counter()
    joint_step(nets, optims, data, scfg)
    _sync(device)
    seconds = time.perf_counter() - start
    flat = torch.cat(
        [p.detach().float().flatten() for name in NET_NAMES for p in unwrap(getattr(nets, name)).parameters()]
    )
    reference = flat.clone()
    dist.broadcast(reference, src=0)
    diff = (flat - reference).abs().max()
    dist.all_reduce(diff, op=dist.ReduceOp.MAX)
    if rank == 0:
        Path(out).write_text(f"{seconds} {diff.item()}")
    dist_utils.teardown(runtime)


def ddp_check(args, tmp: Path) -> tuple[str, float, float]:
    """(backend, seconds per DDP joint step, max parameter difference between the ranks)."""
    import torch.multiprocessing as mp

    out = tmp / "ddp.txt"
    mp.spawn(_ddp_rank, args=(_free_port(), args, str(out)), nprocs=2, join=True)
    seconds, diff = (float(v) for v in out.read_text().split())
    return ("gloo" if args.device == "cpu" else "nccl"), seconds, diff


def _losses(run: Path) -> dict:
    from hmh_train.train.logs import read_csv

    keys = ("loss_gm", "loss_gh", "loss_d", "total")
    return {int(r["step"]): np.array([float(r[k]) for k in keys]) for r in read_csv(run / "metrics.csv")}


def _max_diff(a: dict, b: dict) -> float:
    assert sorted(a) == sorted(b), (sorted(a), sorted(b))
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)


def resume_check(args, device, tmp: Path) -> dict:
    """Uninterrupted run vs one stopped mid-epoch and resumed (and on CUDA a second
    uninterrupted run): 64², width 0.25, every random draw on (crop, online adjustment)."""
    from hmh_builder.ingest.synthetic import write_kaggle_layout
    from hmh_builder.pipeline.config import RunOptions, resolve_config
    from hmh_builder.pipeline.run import run_build
    from hmh_train.train.engine import train

    write_kaggle_layout(tmp / "src", 8, seed=0, height=96, width=80, with_truth=False)
    run_build(
        resolve_config(tmp / "src", size="64", test_fraction=0.3, shard_size="3"),
        RunOptions(out=str(tmp / "shards")),
        echo=lambda message: None,
    )
    values = {
        "shards": str(tmp / "shards"),
        "width": 0.25,
        "num_downs": 6,
        "batch_size": 2,
        "workers": 0 if args.quick else 2,
        "progress": False,
        "log_every": 1,
        "val_batches": 1,
        "device": str(device),
        "seed": 3,
        "crop_min": 0.8,
        "online_adjust": True,
    }
    per_epoch = len(ShardDataset(tmp / "shards", "train")) // 2
    total, cut = 2 * per_epoch + 1, per_epoch + 1
    deterministic = torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic = True
    try:
        runs = ["straight", "again"] if device.type == "cuda" else ["straight"]
        for name in runs:
            train(load_config("joint", None, {**values, "out": str(tmp / name), "max_steps": total}))
        train(load_config("joint", None, {**values, "out": str(tmp / "split"), "max_steps": cut}))
        train(
            load_config("joint", None, {"resume": str(tmp / "split"), "max_steps": total, "progress": False})
        )
    finally:
        torch.use_deterministic_algorithms(deterministic[0])
        torch.backends.cudnn.deterministic = deterministic[1]
    straight = _losses(tmp / "straight")
    noise = _max_diff(straight, _losses(tmp / "again")) if len(runs) > 1 else None
    scale = max(float(np.abs(v).max()) for v in straight.values())
    return {
        "cut": cut,
        "total": total,
        "diff": _max_diff(straight, _losses(tmp / "split")),
        "noise": noise,
        "tolerance": 1e-6 * max(1.0, scale),
    }


def report_steps(args, device) -> float:
    """Print the step table; returns the samples/s the fastest configuration consumes."""
    print(
        f"joint step {args.size}², batch {args.batch}, width {args.width} ({args.steps} timed "
        f"steps after 2 warm-up; torch.compile backend {args.compile_backend}):",
        flush=True,
    )
    prep = batch_prep_time(args, device)
    best = None
    for compiled in (False,) if args.no_compile else (False, True):
        for label, amp in (("fp32", None), ("bf16", torch.bfloat16)):
            first, seconds = time_step(args, device, amp, compiled)
            name = label + (" + compile" if compiled else "")
            print(
                f"  {name:<15} {seconds:.4f} s/step = {args.batch / seconds:9.1f} samples/s "
                f"(first step{', compiling' if compiled else ''}: {first:.1f} s)",
                flush=True,
            )
            if best is None or seconds < best[1]:
                best = (name, seconds)
    consumes = args.batch / (best[1] + prep)
    print(
        f"  device-side batch preparation (crop/flip, trimap, online adjust): {prep * 1e3:.1f} ms/batch",
        flush=True,
    )
    print(f"fastest: {best[0]}; with batch preparation it consumes {consumes:.1f} samples/s", flush=True)
    return consumes


def report_loader(args, device, consumes: float, tmp: Path) -> None:
    n = max(4 * args.batch * max(max(args.workers), 1), 8 * args.batch)
    write_loader_shards(tmp / "loader", n, args.size)
    print(
        f"loader ({n} samples of {args.size}², batch {args.batch}, "
        f"{'pinned memory, ' if device.type == 'cuda' else ''}4 batches prefetched per worker, "
        f"copied to {device.type}):",
        flush=True,
    )
    for workers in args.workers:
        rate = loader_rate(tmp / "loader", workers, args, device)
        verdict = "keeps up" if rate >= consumes else "STARVES the step"
        print(
            f"  {workers:>2} workers: {rate:9.1f} samples/s = {rate / consumes:6.2f}x what the "
            f"step consumes -> {verdict}",
            flush=True,
        )


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(NO_CUDA, file=sys.stderr)
        return EXIT_USAGE
    try:
        device = dist_utils.pick_device(args.device)
    except ValueError as exc:  # not a device name, or no such CUDA device
        print(first_line(exc), file=sys.stderr)
        return EXIT_USAGE
    print(f"device: {device_name(device)}", flush=True)
    failed = []
    with tempfile.TemporaryDirectory(prefix="hmh-gpu-check-") as name:
        tmp = Path(name)
        report_loader(args, device, report_steps(args, device), tmp)
        if device.type == "cpu" or torch.cuda.device_count() >= 2:
            backend, seconds, diff = ddp_check(args, tmp)
            ok = diff <= 1e-5
            failed += [] if ok else ["DDP"]
            print(
                f"DDP, 2 processes ({backend}): joint step {seconds:.4f} s; parameters of the "
                f"ranks differ by at most {diff:.2e} -> {'ok' if ok else 'FAIL'}",
                flush=True,
            )
        else:
            print(f"DDP: skipped ({torch.cuda.device_count()} CUDA device; needs 2)", flush=True)
        r = resume_check(args, device, tmp / "resume")
        noise = "" if r["noise"] is None else f" (two uninterrupted runs: {r['noise']:.2e})"
        ok = r["diff"] <= r["tolerance"] or (r["noise"] is not None and r["diff"] <= 2 * r["noise"])
        failed += [] if ok else ["resume"]
        print(
            f"resume (stopped at step {r['cut']} of {r['total']}, mid-epoch): max |Δloss| vs "
            f"the uninterrupted run {r['diff']:.2e}{noise} -> "
            f"{'exact' if r['diff'] == 0 else 'ok' if ok else 'FAIL'}",
            flush=True,
        )
    print("all checks passed" if not failed else f"FAILED: {', '.join(failed)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
