"""Memory of Deep Image Matting (Table 1's DM baseline, 130,545,345 parameters).

Each measurement runs in its own process (so the peak is its own):

1. ``eval``: one ``torch.no_grad()`` forward of a 1×4×SIDE×SIDE input (default 1024: 1 MP) in
   eval mode, after a warm-up forward at 64×64;
2. ``train``: two Adam steps of ``net(x).abs().mean()`` in training mode, batch BATCH at
   TRAIN_SIDE × TRAIN_SIDE (default 1 at 320, DIM's training crop).

On CPU: the process's peak resident set (``ru_maxrss``) before and after. On CUDA: also
``torch.cuda.max_memory_allocated``. Prints one line per measurement (``--json``: a JSON list).

    python benchmarks/dm_memory.py [--side 1024] [--train-side 320 --batch 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(kind: str, side: int, batch: int, device: str) -> dict:
    """One measurement in this process (see the module docstring)."""
    import torch

    from hmh_train.nets import build_matting_net, count_parameters

    net = build_matting_net(net="dim").to(device)
    row = {"kind": kind, "side": side, "batch": batch, "device": device, "params": count_parameters(net)}
    if kind == "eval":
        net.eval()
        with torch.no_grad():
            net(torch.zeros(1, 4, 64, 64, device=device))
    before, start = rss_mib(), time.perf_counter()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
    if kind == "eval":
        with torch.no_grad():
            net(torch.zeros(batch, 4, side, side, device=device))
    else:
        opt = torch.optim.Adam(net.parameters(), lr=1e-5)
        for _ in range(2):
            loss = net.train()(torch.randn(batch, 4, side, side, device=device)).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
        row["cuda_peak_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20)
    row.update(rss_before_mib=round(before), rss_peak_mib=round(rss_mib()))
    row["seconds"] = round(time.perf_counter() - start, 1)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", type=int, default=1024, help="eval input side (multiple of 32)")
    parser.add_argument("--train-side", type=int, default=320, help="training input side (0: skip)")
    parser.add_argument("--batch", type=int, default=1, help="training batch size")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--one", nargs=3, metavar=("KIND", "SIDE", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # the child process
        kind, side, batch = args.one[0], int(args.one[1]), int(args.one[2])
        print(json.dumps(measure(kind, side, batch, args.device)))
        return
    jobs = [("eval", args.side, 1)] + ([("train", args.train_side, args.batch)] if args.train_side else [])
    rows = []
    for kind, side, batch in jobs:
        command = [sys.executable, __file__, "--device", args.device, "--one", kind, str(side), str(batch)]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    for r in rows:
        cuda = f", CUDA peak {r['cuda_peak_mib']} MiB" if "cuda_peak_mib" in r else ""
        print(
            f"{r['kind']} {r['batch']}×{r['side']}×{r['side']} on {r['device']}: {r['params']:,} parameters; "
            f"RSS {r['rss_before_mib']} MiB before, peak {r['rss_peak_mib']} MiB{cuda}; {r['seconds']} s"
        )


if __name__ == "__main__":
    main()
