"""Benchmark the training data path and the joint step.

1. Loader samples/s from HMH shards (256×256, one chunk per sample) against reading the same
   samples from the image-folder layout the reference repositories train from (I and I_d as
   JPEG, A as PNG, B as PNG at 800×600, decoded with OpenCV, BGR→RGB, resized to 256×256 with
   cv2.resize), in one run, with ``num_workers`` 0 (main process only) and 1 (one worker
   process): both are one core's throughput. Passes alternate between the two and the best of
   three is reported, so both see the same machine load.
2. Device-side batch preparation time (crop/flip, trimap, online adjustment) and joint step
   time per batch at 256×256 (width 1.0) on CPU, and on CUDA when available (bf16
   autocast), with the device name; the ratio of data time to step time says whether one
   loader core could starve the step.

    python benchmarks/train.py [--samples 64] [--batch 2] [--steps 3] [--skip-step] [--width 1.0]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import cv2
import h5py
import numpy as np
import torch

from hmh_builder import schema
from hmh_builder.ingest.synthetic import synthetic_portrait
from hmh_train.data.shards import ShardDataset

SIZE = 256


def write_sources(root: str, n: int, height: int = 800, width: int = 600) -> list[dict]:
    """Reference-style folders (I/, A/, B/, I_d/) of n portraits; returns arrays resized to SIZE."""
    for sub in ("I", "A", "B", "I_d"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    samples = []
    for k in range(n):
        image, alpha, background = synthetic_portrait(np.random.default_rng(k), height=height, width=width)
        a = alpha.astype(np.float32)[..., None] / 255
        composite = np.round(a * image + (1 - a) * (background * 0.6 + 40)).astype(np.uint8)
        name = f"{k:06d}"
        cv2.imwrite(os.path.join(root, "I", name + ".jpg"), image[..., ::-1])
        cv2.imwrite(os.path.join(root, "A", name + ".png"), alpha)
        cv2.imwrite(os.path.join(root, "B", name + ".png"), background[..., ::-1])
        cv2.imwrite(os.path.join(root, "I_d", name + ".jpg"), composite[..., ::-1])
        resize = lambda x: cv2.resize(x, (SIZE, SIZE), interpolation=cv2.INTER_AREA)  # noqa: E731
        samples.append(
            {
                "id": name,
                "I": resize(image),
                "A": resize(alpha),
                "B": resize(background),
                "I_d": resize(composite),
            }
        )
    return samples


def write_shards(out: str, samples: list[dict], shard_size: int = 32) -> None:
    """The same samples as FORMAT.md shards under out/train/."""
    os.makedirs(os.path.join(out, "train"), exist_ok=True)
    for index, start in enumerate(range(0, len(samples), shard_size)):
        chunk = samples[start : start + shard_size]
        with h5py.File(os.path.join(out, schema.shard_filename("train", index)), "w") as h5:
            schema.create_shard_datasets(h5, len(chunk), SIZE, SIZE)
            h5.attrs.update(schema.shard_attrs("train", SIZE, SIZE, "bench", "bench"))
            for row, s in enumerate(chunk):
                for key in ("I", "A", "B", "I_d"):
                    h5[key][row] = s[key]
                h5["F"][row] = (s["I"] * (s["A"][..., None] / 255.0)).astype(np.uint8)
                h5["id"][row], h5["transform"][row], h5["params"][row] = s["id"], "illumination", "{}"


class FolderDataset(torch.utils.data.Dataset):
    """The reference repos' way: decode I/A/B/I_d files, BGR→RGB, resize to SIZE, to tensors."""

    def __init__(self, root: str):
        self.root = root
        self.names = sorted(f[:-4] for f in os.listdir(os.path.join(root, "I")))

    def __len__(self):
        return len(self.names)

    def _read(self, sub, ext, flags=cv2.IMREAD_COLOR):
        x = cv2.imread(os.path.join(self.root, sub, self.names[self._i] + ext), flags)
        x = cv2.resize(x, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
        return torch.from_numpy(
            np.ascontiguousarray(x[..., ::-1].transpose(2, 0, 1)) if x.ndim == 3 else x[None]
        )

    def __getitem__(self, i):
        self._i = i
        return {
            "I": self._read("I", ".jpg"),
            "A": self._read("A", ".png", cv2.IMREAD_GRAYSCALE),
            "B": self._read("B", ".png"),
            "I_d": self._read("I_d", ".jpg"),
            "id": self.names[i],
        }


def loader_pass(loader) -> float:
    """Samples/s of one pass over ``loader``."""
    start, count = time.perf_counter(), 0
    for b in loader:
        count += b["I"].shape[0]
    return count / (time.perf_counter() - start)


def compare_loaders(datasets: dict, workers: int, rounds: int = 3, batch: int = 8) -> dict:
    """Best samples/s of each dataset over ``rounds`` alternating passes (after a warm-up pass
    each), so both see the same machine load; the best pass estimates one core's capacity."""
    loaders = {
        name: torch.utils.data.DataLoader(
            d, batch_size=batch, shuffle=True, num_workers=workers, persistent_workers=workers > 0
        )
        for name, d in datasets.items()
    }
    for loader in loaders.values():
        loader_pass(loader)
    best = dict.fromkeys(loaders, 0.0)
    for _ in range(rounds):
        for name, loader in loaders.items():
            best[name] = max(best[name], loader_pass(loader))
    return best


def step_time(device: torch.device, batch: int, steps: int, width: float = 1.0) -> float:
    """Seconds per joint step (256×256, networks at ``width``; 1.0 = the paper's) after one
    warm-up step."""
    from hmh_train.data.augment import Batch
    from hmh_train.train.checkpoint import build_nets
    from hmh_train.train.config import load_config
    from hmh_train.train.engine import step_config
    from hmh_train.train.optim import build_optimizers
    from hmh_train.train.steps import joint_step

    cfg = load_config("joint")
    nets = build_nets(("matting", "harmonization", "discriminator"), width, 8)
    for name in ("matting", "harmonization", "discriminator"):
        getattr(nets, name).to(device).train()
    optims, scfg = build_optimizers(nets, cfg), step_config(cfg, device)
    g = torch.Generator().manual_seed(0)
    alpha = (torch.rand(batch, 1, SIZE, SIZE, generator=g) > 0.5).float().to(device)
    rgb = lambda: torch.rand(batch, 3, SIZE, SIZE, generator=g).to(device)  # noqa: E731
    data = Batch(rgb(), alpha, rgb(), rgb(), alpha * 0.5 + 0.25)
    joint_step(nets, optims, data, scfg)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        joint_step(nets, optims, data, scfg)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def augment_time(device: torch.device, batch: int = 8, repeats: int = 5) -> float:
    """Seconds per ``make_batch`` (crop/flip, random-radius trimap, online adjust) at 256×256."""
    from hmh_train.data.augment import make_batch

    g = torch.Generator().manual_seed(0)
    raw = {
        k: torch.randint(0, 256, (batch, c, SIZE, SIZE), generator=g, dtype=torch.uint8)
        for k, c in (("I", 3), ("A", 1), ("B", 3), ("I_d", 3))
    }
    make_batch(raw, device, g, crop_min=0.75, online=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        make_batch(raw, device, g, crop_min=0.75, online=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--skip-step", action="store_true")
    parser.add_argument(
        "--width",
        type=float,
        default=1.0,
        help="network width of the step timing (1.0 = the paper's; smaller for smoke runs)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        samples = write_sources(os.path.join(tmp, "folder"), args.samples)
        write_shards(os.path.join(tmp, "shards"), samples)
        shard_set, folder_set = (
            ShardDataset(os.path.join(tmp, "shards")),
            FolderDataset(os.path.join(tmp, "folder")),
        )
        rates = {}
        for workers in (0, 1):
            best = compare_loaders({"shards": shard_set, "folder": folder_set}, workers)
            rates[workers] = (best["shards"], best["folder"])
            s, f = rates[workers]
            print(
                f"loader num_workers={workers}: shards {s:8.1f} samples/s | image folder (800x600 "
                f"JPEG/PNG + cv2.resize) {f:7.1f} samples/s | ratio {s / f:5.1f}x",
                flush=True,
            )
    if args.skip_step:
        return
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for device in devices:
        name = (
            torch.cuda.get_device_name(device)
            if device.type == "cuda"
            else f"CPU ({torch.get_num_threads()} threads)"
        )
        aug = augment_time(device)
        print(
            f"device-side batch preparation (crop/flip, trimap, --online-adjust), batch 8 on {name}: "
            f"{aug * 1e3:.1f} ms = {8 / aug:.0f} samples/s",
            flush=True,
        )
        seconds = step_time(device, args.batch, args.steps, args.width)
        need = args.batch / seconds
        print(
            f"joint step 256x256 width {args.width} batch {args.batch} on {name}: {seconds:.3f} s/step = "
            f"{need:.1f} samples/s; one shard-loader core gives {rates[1][0] / need:.1f}x that, "
            f"one image-folder core {rates[1][1] / need:.2f}x"
        )


if __name__ == "__main__":
    main()
