"""CPU-scale reproduction of the paper's Table 1 (matting alone vs the joint GAN, the U-Net
alone, the do-nothing row) and Table 2 (a λ1 sweep), on synthetic portraits with known truth.

One command builds two synthetic sets with ``hmh-build`` (a *pretraining* set and the
*benchmark* set, different portraits), then, only through ``hmh_train.train.engine.train``
and ``hmh_train.evaluate.run.evaluate``:

1. pretraining, once (seed 0): IndexNet trained from scratch on the pretraining set
   (``matting`` mode) and one U-Net per harmonizer output form (``harmonization`` mode) —
   the stand-ins for "IndexNet pretrained on Adobe" and "the U-Net pretrained on iHarmony4";
2. for every seed, with the same budget (steps, batch, crop, learning rates) on the benchmark
   set's training split: (a) IndexNet fine-tuned alone from the pretrained net (the paper's
   IN†), (b) the U-Net alone, fine-tuned from its pretrained net, once per output form,
   (c)/(d) the joint GAN from both pretrained nets with λ2 = 0.01 and each λ1 of the sweep
   (0.02 is the paper's (c)), in the default output form;
3. evaluation of every final checkpoint (``last.pt``: no checkpoint is picked on the test
   split) on the benchmark's test split, plus the pretrained nets and the identity row.

Writes ``OUT/table.md``, ``table.csv``, ``results.json`` (means, sample std over seeds,
per-seed values, paired joint − matting differences, the targets, timing and machine load)
and ``curves.png`` (ℓ_gm, ℓ_gh, D(real) − D(fake), γ per step from each run's
``metrics.csv``); every run also logs to its own ``tb/`` (``tensorboard --logdir OUT/runs``).

    python benchmarks/quality.py                  # full: about 30 min on 2 shared CPU cores
    python benchmarks/quality.py --quick          # a few minutes, same steps at small scale
    python benchmarks/quality.py --out DIR [--seeds 0 1 2] [--steps 300] [--threads 2] ...

Rerunning with the same settings into the same ``--out`` reuses every evaluated run;
other settings stop with one line unless ``--overwrite``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality_photos  # noqa: E402  (benchmarks/quality_photos.py, beside this file)
import quality_report  # noqa: E402  (benchmarks/quality_report.py, beside this file)

#: Settings of the full benchmark and of --quick (command-line options override either).
PROFILES = {
    "full": {
        "portraits": 300,
        "pretrain_portraits": 200,
        "steps": 400,
        "pretrain_steps": 400,
        "size": 64,
        "source_height": 128,
        "source_width": 96,
        "width": 0.25,
        "batch": 8,
        "seeds": [0, 1, 2],
        "lambda1": [0.0, 0.02, 0.1],
        "forms": ["paper", "keep", "residual"],
    },
    "quick": {
        "portraits": 80,
        "pretrain_portraits": 60,
        "steps": 40,
        "pretrain_steps": 60,
        "size": 64,
        "source_height": 96,
        "source_width": 80,
        "width": 0.25,
        "batch": 8,
        "seeds": [0, 1],
        "lambda1": [0.0, 0.02, 0.1],
        "forms": ["paper", "keep", "residual"],
    },
}
LAMBDA2 = 0.01
TEST_FRACTION = 0.25
BENCH_SEED, PRETRAIN_SEED = 1000, 2000  # generator seeds of the two portrait sets


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="bench-quality", help="output folder [bench-quality]")
    parser.add_argument("--quick", action="store_true", help="small sets and few steps (minutes)")
    parser.add_argument("--portraits", type=int, help="benchmark portraits (train + test)")
    parser.add_argument("--pretrain-portraits", type=int, help="portraits of the pretraining set")
    parser.add_argument("--steps", type=int, help="optimizer steps of every compared run")
    parser.add_argument("--pretrain-steps", type=int, help="optimizer steps of each pretraining run")
    parser.add_argument("--size", type=int, help="shard image side (multiple of 32)")
    parser.add_argument("--source-height", type=int, help="height of the synthetic source portraits")
    parser.add_argument("--source-width", type=int, help="width of the synthetic source portraits")
    parser.add_argument("--width", type=float, help="network width multiplier (0.25 on CPU)")
    parser.add_argument("--batch", type=int, help="batch size of every run")
    parser.add_argument("--seeds", type=int, nargs="+", help="training seeds (>= 2 for a spread)")
    parser.add_argument("--lambda1", type=float, nargs="+", help="λ1 values of the joint sweep")
    parser.add_argument(
        "--forms",
        nargs="+",
        choices=["paper", "keep", "residual"],
        help="harmonizer output forms of the U-Net-alone runs",
    )
    parser.add_argument(
        "--source",
        choices=["synthetic", "photos"],
        default="synthetic",
        help="portraits: synthetic (the toolkit's textures) or photos (real photographs shipped "
        "with scikit-image and matplotlib, with synthetic soft mattes; benchmarks/quality_photos.py)",
    )
    parser.add_argument(
        "--critic-composites",
        nargs="+",
        choices=["paper", "new-background"],
        help="the critic's matting fake of the joint runs, one run per value and λ1 [the joint "
        "default]; 'joint λ1=x' rows use the default, others are labelled '[value]'",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads [1: on a shared 2-core machine more are slower]",
    )
    parser.add_argument("--build-workers", type=int, default=2, help="hmh-build worker processes [2]")
    parser.add_argument("--overwrite", action="store_true", help="start over in an existing --out")
    args = parser.parse_args(argv)
    for key, value in PROFILES["quick" if args.quick else "full"].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.critic_composites is None:
        from hmh_train.train.config import load_config

        args.critic_composites = [load_config("joint").critic_composite]
    if args.size % 32 or args.size < 32:
        parser.error("--size must be a positive multiple of 32 (the critic's and IndexNet's stride)")
    return args


def settings_of(args) -> dict:
    """Everything that decides the results (what a rerun must match to reuse runs)."""
    keys = (
        "portraits",
        "pretrain_portraits",
        "steps",
        "pretrain_steps",
        "size",
        "source_height",
        "source_width",
        "width",
        "batch",
        "seeds",
        "lambda1",
        "forms",
        "source",
        "critic_composites",
    )
    return {k: getattr(args, k) for k in keys}


def prepare_out(args) -> None:
    """Create ``args.out``; refuse one made with other settings unless --overwrite."""
    marker = os.path.join(args.out, "settings.json")
    if os.path.isfile(marker) and not args.overwrite:
        with open(marker, encoding="utf-8") as handle:
            recorded = json.load(handle)
        if recorded != settings_of(args):
            diff = next(k for k in settings_of(args) if recorded.get(k) != settings_of(args)[k])
            sys.exit(
                f"{args.out}: made with {diff} = {recorded.get(diff)!r} (now "
                f"{settings_of(args)[diff]!r}); use another --out or --overwrite"
            )
    elif args.overwrite and os.path.isdir(args.out):
        shutil.rmtree(args.out)
    os.makedirs(args.out, exist_ok=True)
    with open(marker, "w", encoding="utf-8") as handle:
        json.dump(settings_of(args), handle, indent=1)


def build_set(args, name: str, portraits: int, seed: int, test_fraction: float) -> str:
    """Kaggle-layout portraits of ``args.source`` (synthetic, or real photographs with soft
    mattes: ``quality_photos``) → ``hmh-build`` shards; returns the shard folder."""
    from hmh_builder.cli import main as build_main
    from hmh_builder.ingest.synthetic import write_kaggle_layout

    src, out = os.path.join(args.out, "data", f"src-{name}"), os.path.join(args.out, "data", name)
    if os.path.isfile(os.path.join(out, "manifest.json")):
        return out
    if args.source == "photos":
        quality_photos.write_photo_layout(src, portraits, seed, args.source_height, args.source_width)
    else:
        write_kaggle_layout(
            src,
            portraits,
            seed=seed,
            height=args.source_height,
            width=args.source_width,
            with_truth=False,
            matte_rgb="zero",
        )
    try:  # the hmh-build command itself, in this process; it ends with sys.exit(status)
        build_main.main(
            [
                "build",
                "--src",
                src,
                "--out",
                out,
                "--size",
                str(args.size),
                "--seed",
                str(seed),
                "--workers",
                str(args.build_workers),
                "--test-fraction",
                str(test_fraction),
                "--shard-size",
                "64",
                "--no-progress",
            ],
            standalone_mode=False,
        )
    except SystemExit as exc:
        if exc.code not in (0, None):
            sys.exit(f"hmh-build {src} -> {out} failed (exit status {exc.code})")
    return out


def num_downs(size: int) -> int:
    """The deepest U-Net the image side allows (at most DoveNet's 8)."""
    depth = 0
    while size % 2 ** (depth + 1) == 0 and depth < 8:
        depth += 1
    return depth


def common(args, seed: int) -> dict:
    """Config keys shared by every run: one budget, one augmentation, logging for the curves."""
    return {
        "width": args.width,
        "num_downs": num_downs(args.size),
        "batch_size": args.batch,
        "seed": seed,
        "workers": 0,
        "crop_min": 0.75,
        "val_batches": 0,
        "progress": False,
        "log_every": max(1, args.steps // 60),
        "image_every": 10**9,
    }


def train_run(mode: str, out: str, steps: int, overrides: dict) -> str:
    """``train(cfg)`` into a fresh ``out`` (a leftover unfinished folder is removed); returns
    the final checkpoint. A run whose ``done`` marker exists is reused."""
    from hmh_train.train.config import load_config
    from hmh_train.train.engine import train

    last = os.path.join(out, "checkpoints", "last.pt")
    if os.path.isfile(os.path.join(out, "done")):
        print(f"{out}: reused", file=sys.stderr, flush=True)
        return last
    shutil.rmtree(out, ignore_errors=True)
    cfg = load_config(mode, None, {**overrides, "out": out, "max_steps": steps, "ckpt_every": steps})
    start = time.perf_counter()
    train(cfg)
    seconds = time.perf_counter() - start
    with open(os.path.join(out, "done"), "w", encoding="utf-8") as handle:
        json.dump({"seconds": seconds}, handle)
    print(f"{out}: trained {steps} steps in {seconds:.0f} s", file=sys.stderr, flush=True)
    return last


def eval_run(ckpt: str, shards: str, out: str) -> dict:
    """``evaluate`` one checkpoint on the benchmark's test split; its summary dict."""
    from hmh_train.evaluate.run import EvalConfig, evaluate

    summary = os.path.join(out, "summary.json")
    if not os.path.isfile(summary):
        evaluate(EvalConfig(runs=(ckpt,), shards=shards, split="test", out=out, progress=False))
    with open(summary, encoding="utf-8") as handle:
        data = json.load(handle)
    return {
        "summary": next(iter(data["runs"].values())),
        "harmonizer_output": next(iter(data["settings"].get("harmonizer_outputs", {}).values()), None),
    }


def seconds_of(run: str) -> float | None:
    path = os.path.join(run, "done")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)["seconds"]


def pretrain(args, pre: str, bench: str, default_form: str) -> tuple[dict, list]:
    """The pretrained IndexNet and one U-Net per form (seed 0); their checkpoints and rows."""
    base, root, rows = common(args, 0), os.path.join(args.out, "runs", "pretrain"), []
    ckpts = {
        "matting": train_run(
            "matting", os.path.join(root, "matting"), args.pretrain_steps, {**base, "shards": pre}
        )
    }
    forms = list(dict.fromkeys(list(args.forms) + [default_form]))
    for form in forms:
        ckpts[form] = train_run(
            "harmonization",
            os.path.join(root, f"unet-{form}"),
            args.pretrain_steps,
            {**base, "shards": pre, "harmonizer_output": form},
        )
    for key, ckpt in ckpts.items():
        run = os.path.dirname(os.path.dirname(ckpt))
        label = "IN (pretrained)" if key == "matting" else f"U-Net [{key}] (pretrained)"
        rows.append(
            {
                "label": label,
                "kind": "pretrained",
                "form": None if key == "matting" else key,
                "lambda1": None,
                "seed": 0,
                "run": run,
                "seconds": seconds_of(run),
                **eval_run(ckpt, bench, os.path.join(run, "eval")),
            }
        )
    return ckpts, rows


def joint_label(l1: float, critic: str, default_critic: str) -> str:
    """``joint λ1=x`` for the default critic composite, ``joint λ1=x [critic]`` otherwise."""
    return f"joint λ1={l1:g}" + ("" if critic == default_critic else f" [{critic}]")


def compared_runs(args, seed: int, bench: str, pre_ckpts: dict, default_form: str) -> list:
    """(a), (b) per form, (c)/(d) per λ1 and critic composite for one seed: trained,
    evaluated, one row each."""
    from hmh_train.train.config import load_config

    default_critic = load_config("joint").critic_composite
    base, root = {**common(args, seed), "shards": bench}, os.path.join(args.out, "runs", f"seed{seed}")
    plan = [("IN† (matting alone)", "matting", None, None, "matting", {"matting_ckpt": pre_ckpts["matting"]})]
    plan += [
        (
            f"U-Net alone [{form}]",
            "harmonization",
            form,
            None,
            f"unet-{form}",
            {"harmonization_ckpt": pre_ckpts[form], "harmonizer_output": form},
        )
        for form in args.forms
    ]
    plan += [
        (
            joint_label(l1, critic, default_critic),
            "joint",
            default_form,
            l1,
            f"joint-l1={l1:g}" + ("" if critic == "paper" else f"-{critic}"),
            {
                "matting_ckpt": pre_ckpts["matting"],
                "harmonization_ckpt": pre_ckpts[default_form],
                "harmonizer_output": default_form,
                "lambda1": l1,
                "lambda2": LAMBDA2,
                "critic_composite": critic,
            },
        )
        for critic in args.critic_composites
        for l1 in args.lambda1
    ]
    rows = []
    for label, mode, form, l1, name, extra in plan:
        run = os.path.join(root, name)
        ckpt = train_run(mode, run, args.steps, {**base, **extra})
        rows.append(
            {
                "label": label,
                "kind": mode,
                "form": form,
                "lambda1": l1,
                "critic_composite": extra.get("critic_composite"),
                "seed": seed,
                "run": run,
                "seconds": seconds_of(run),
                **eval_run(ckpt, bench, os.path.join(run, "eval")),
            }
        )
    return rows


def main(argv=None) -> dict:
    args = parse_args(argv)
    import torch

    from hmh_train.train.config import load_config

    torch.set_num_threads(args.threads)
    prepare_out(args)
    started, load_before = time.perf_counter(), os.getloadavg()
    default_form = load_config("joint").harmonizer_output
    bench = build_set(args, "bench", args.portraits, BENCH_SEED, TEST_FRACTION)
    pre = build_set(args, "pretrain", args.pretrain_portraits, PRETRAIN_SEED, 0.0)
    pre_ckpts, rows = pretrain(args, pre, bench, default_form)
    for seed in args.seeds:
        rows += compared_runs(args, seed, bench, pre_ckpts, default_form)
    machine = {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "loadavg_before": list(load_before),
        "loadavg_after": list(os.getloadavg()),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "wall_seconds": time.perf_counter() - started,
        "training_seconds": sum(r["seconds"] or 0.0 for r in rows),
    }
    report = quality_report.write_report(
        args.out,
        rows,
        settings_of(args),
        machine,
        {
            "default_form": default_form,
            "default_critic_composite": load_config("joint").critic_composite,
            "lambda2": LAMBDA2,
            "command": " ".join(
                ["python", "benchmarks/quality.py"] + list(argv if argv is not None else sys.argv[1:])
            ),
        },
    )
    print(report["table"])
    print(
        f"wrote {args.out}/table.md, table.csv, results.json, curves.png in "
        f"{machine['wall_seconds'] / 60:.1f} min ({machine['training_seconds'] / 60:.1f} min of "
        f"training, reused runs included; load average {load_before[0]:.1f} -> "
        f"{machine['loadavg_after'][0]:.1f} on {machine['cpu_count']} cores)"
    )
    return report


if __name__ == "__main__":
    main()
