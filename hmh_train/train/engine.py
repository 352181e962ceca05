"""The training loop shared by ``hmh-train matting``, ``harmonization`` and ``joint``.

``train(cfg)`` builds the networks of the mode, loads shards, runs the mode's step function
(``hmh_train.train.steps``) until ``max_steps`` or ``epochs``, and writes
``RUN/{config.yaml, metrics.csv, val.csv, tb/, checkpoints/last.pt, checkpoints/best.pt}``.
Exact resume: the data order is a function of (seed, epoch), consumed batches are skipped, and
every RNG, optimizer and scheduler is restored. SIGTERM/SIGINT finish the current step, save
``last.pt`` and return; a non-finite loss stops the run without overwriting the last good
checkpoint (``TrainingError``).
"""

from __future__ import annotations

import math
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import torch

from hmh_builder import schema
from hmh_train.data.augment import make_batch
from hmh_train.data.shards import ShardDataset, make_loader, split_files
from hmh_train.train import checkpoint as ckpt_io
from hmh_train.train import distributed as dist_utils
from hmh_train.train.config import TrainConfig, check_image_size, config_dict, resume_config, save_config
from hmh_train.train.logs import RunLogger
from hmh_train.train.optim import build_optimizers, build_schedulers, current_lrs
from hmh_train.train.preview import preview_columns, validation_loss

if TYPE_CHECKING:
    from hmh_train.train.steps import StepConfig

MODE_NETS = {
    "matting": ("matting",),
    "harmonization": ("harmonization",),
    "joint": ("matting", "harmonization", "discriminator"),
}


class TrainingError(RuntimeError):
    """The run cannot go on (non-finite loss, unusable checkpoint); one line for the user."""


@dataclass
class LoopState:
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best: float | None = None
    sums: dict = field(default_factory=dict)
    count: int = 0
    tick: float = field(default_factory=time.perf_counter)


class StopFlag:
    """Set by SIGTERM/SIGINT; the loop checks it between steps (a second SIGINT interrupts at
    once, without saving). Restores the previous handlers on exit."""

    def __init__(self):
        self.signal = None
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: no signal handling
                pass
        return self

    def _handle(self, signum, frame):
        if self.signal is not None and signum == signal.SIGINT:  # second Ctrl-C: stop right now
            raise KeyboardInterrupt
        self.signal = signal.Signals(signum).name

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def step_config(cfg: TrainConfig, device: torch.device):
    from hmh_train.train.steps import StepConfig

    amp = torch.bfloat16 if cfg.amp and device.type == "cuda" else None
    return StepConfig(
        lambda1=cfg.lambda1,
        lambda2=cfg.lambda2,
        gan_loss=cfg.gan_loss,
        gp_weight=cfg.gp_weight,
        alpha_loss_weight=cfg.alpha_loss_weight,
        comp_loss_weight=cfg.comp_loss_weight,
        harmonization_l1_weight=cfg.harmonization_l1_weight,
        amp_dtype=amp,
    )


def build_nets(cfg: TrainConfig, runtime, saved: dict | None = None, size: int = 256):
    """Networks of the mode on the device, seeded.

    ``saved`` (a checkpoint being resumed): built with the architectures it records. Otherwise
    from ``cfg`` (width, num_downs, matting_net, matting_head, unet_norm, harmonizer; DIH at the
    shards' side ``size``), except a network given by
    ``--matting-ckpt``/``--harmonization-ckpt``, which keeps the architecture of its file (e.g.
    the released DoveNet's batch norm, or the shared anchor's width 0.25), and optional
    ImageNet backbone weights for a fresh IndexNet. The harmonizer's output form is
    ``cfg.harmonizer_output`` (a started-from U-Net must read its output the same way).
    """
    torch.manual_seed(cfg.seed)
    names = MODE_NETS[cfg.mode]
    if saved is not None:
        nets = ckpt_io.nets_from_arch({n: a for n, a in ckpt_io.saved_arch(saved).items() if n in names})
    else:
        nets = ckpt_io.build_nets(
            names,
            cfg.width,
            cfg.num_downs,
            cfg.matting_head,
            cfg.unet_norm,
            cfg.matting_net,
            cfg.harmonizer,
            size,
        )
        for name, path in (("matting", cfg.matting_ckpt), ("harmonization", cfg.harmonization_ckpt)):
            if path and name in names:
                net, line = ckpt_io.pretrained(path, name, cfg.num_downs, cfg.harmonizer_output)
                setattr(nets, name, net)
                if runtime.is_main:  # e.g. "….pth.tar: IndexNet .pth.tar -> matting (…): 549 …"
                    print(line, file=sys.stderr)
        if cfg.backbone_weights and nets.matting is not None and not cfg.matting_ckpt:
            from hmh_train.nets import load_backbone_weights

            report = load_backbone_weights(nets.matting, cfg.backbone_weights)
            if runtime.is_main:  # e.g. "backbone (timm): 306 tensors loaded, 0 missing, ..."
                print(f"{cfg.backbone_weights}: {report.summary()}", file=sys.stderr)
    nets.harmonizer_output = cfg.harmonizer_output
    fixed = getattr(nets.harmonization, "input_size", size)  # DIH runs at its own side only
    if fixed != size:
        raise TrainingError(
            f"the harmonizer (DIH) takes {fixed}×{fixed} images, the shards hold {size}×{size}"
        )
    for name in names:
        if getattr(nets, name) is None:
            raise TrainingError(f"{cfg.resume}: the checkpoint holds no {name} network")
        getattr(nets, name).to(runtime.device).train()
    return nets


def wrap_nets(nets, cfg: TrainConfig, runtime):
    """DDP and/or torch.compile wrappers (checkpoints always hold the plain modules)."""
    for name in MODE_NETS[cfg.mode]:
        module = dist_utils.wrap(getattr(nets, name), runtime)
        if cfg.compile:
            module = torch.compile(module)
        setattr(nets, name, module)
    return nets


def check_shard_kind(cfg: TrainConfig, kind: str) -> None:
    """Harmonization-pair shards (no alpha, no background) train only the harmonizer."""
    if kind != schema.KIND_PAIRS:
        return
    if cfg.mode != "harmonization":
        raise TrainingError(
            f"{cfg.shards} holds harmonization pairs (real image, composite, "
            f"mask; no alpha): hmh-train {cfg.mode} needs HMH shards; train the "
            f"harmonizer with hmh-train harmonization --shards {cfg.shards}, then "
            "pass it to joint --harmonization-ckpt RUN on HMH shards"
        )
    if cfg.online_adjust:
        raise TrainingError(
            f"{cfg.shards} holds harmonization pairs (no alpha or background): "
            "--online-adjust needs HMH shards; drop it"
        )


def resolve_side(cfg: TrainConfig, train_set, val_set=None) -> TrainConfig:
    """``cfg`` with ``altered`` = the side the shards alter (recorded in config.yaml and every
    checkpoint; the harmonizer's mask follows it). Harmonization pairs carry their own mask:
    ``altered`` stays None. TrainingError (one line) when the config names the other side (a
    resumed run on other shards, or ``--set altered=...``) or the test split alters another."""
    if train_set.kind == schema.KIND_PAIRS:
        if cfg.altered is not None:
            raise TrainingError(
                f"{cfg.shards} holds harmonization pairs, whose stored mask marks "
                f"the region to adjust; altered={cfg.altered} does not apply: drop it"
            )
        return cfg
    side = train_set.altered
    if val_set is not None and val_set.altered != side:
        raise TrainingError(
            f"{cfg.shards}: the train shards alter the {side}, the test shards the {val_set.altered}"
        )
    if cfg.altered not in (None, side):
        raise TrainingError(
            f"{cfg.shards}: the shards alter the {side}, but this run is set to "
            f"altered={cfg.altered} (its config.yaml or --set); train on shards "
            f"built with hmh-build --altered {cfg.altered}, or drop the setting"
        )
    return replace(cfg, altered=side)


def _loaders(cfg: TrainConfig, runtime):
    train_set = ShardDataset(cfg.shards, "train")
    check_shard_kind(cfg, train_set.kind)
    per_rank = -(-len(train_set) // runtime.world_size)
    # full batches only, unless the split is smaller than one batch (tiny example builds)
    pin = runtime.device.type == "cuda"
    loader = make_loader(
        train_set,
        cfg.batch_size,
        True,
        cfg.workers,
        cfg.seed,
        per_rank >= cfg.batch_size,
        runtime.rank,
        runtime.world_size,
        pin_memory=pin,
    )
    if cfg.val_batches <= 0:
        return loader, None
    try:
        split_files(cfg.shards, "test")
    except ValueError:  # no test split: best checkpoint follows the training loss
        return loader, None
    val_set = ShardDataset(cfg.shards, "test")  # a broken test shard is an error, not a skip
    if val_set.kind != train_set.kind:
        raise TrainingError(
            f"{cfg.shards}: the test shards are {val_set.kind}, the train shards {train_set.kind}"
        )
    return loader, make_loader(val_set, cfg.batch_size, False, 0, cfg.seed, False, pin_memory=pin)


def _check_finite(state: LoopState, losses: dict, runtime) -> None:
    """NaN/inf guard, agreed by all ranks so none is left waiting in a collective."""
    bad = [(k, v) for k, v in losses.items() if not math.isfinite(v)]
    if dist_utils.any_flag(bool(bad), runtime):
        what = f"loss {bad[0][0]}={bad[0][1]}" if bad else "loss on another rank"
        raise TrainingError(
            f"non-finite {what} at step {state.step + 1}; stopped. The last good "
            "checkpoint is kept; lower the learning rates or use --gan-loss hinge, "
            "then --resume"
        )


def _accumulate(state: LoopState, losses: dict) -> None:
    for key, value in losses.items():
        state.sums[key] = state.sums.get(key, 0.0) + value
    state.count += 1


def _batches(loader, stop: StopFlag):
    """Iterate ``loader``; if a stop signal also killed its workers, end the epoch quietly."""
    iterator = iter(loader)
    while True:
        try:
            raw = next(iterator)
        except StopIteration:
            return
        except RuntimeError:
            if stop.signal is None:
                raise
            return
        yield raw


def _log_row(state: LoopState, optims, batch_size: int, world: int) -> dict:
    now = time.perf_counter()
    row = {"step": state.step, "epoch": state.epoch}
    row.update({k: v / state.count for k, v in state.sums.items()})
    row["samples_per_s"] = state.count * batch_size * world / max(now - state.tick, 1e-9)
    row.update(current_lrs(optims))
    state.sums, state.count, state.tick = {}, 0, now
    return row


@dataclass(frozen=True)
class RunContext:
    """What a training run holds fixed while it loops (the objects inside change, the fields
    never do): the resolved config, the process's runtime, the loaders, the (wrapped) networks,
    their optimizers and schedulers, the augmentation generator, the logger, the mode's step
    function with its ``StepConfig``, and the step count to stop at."""

    cfg: TrainConfig
    runtime: dist_utils.Runtime
    loader: Any
    val_loader: Any
    nets: dict
    optims: dict
    schedulers: dict
    generator: torch.Generator
    logger: RunLogger
    step_fn: Callable
    scfg: StepConfig
    total: int


def _save(run: RunContext, state: LoopState, last_train: float | None) -> None:
    """Validate, then write last.pt (and best.pt when the validation loss improved); rank 0 only."""
    if not run.runtime.is_main:
        return
    cfg, val_loader = run.cfg, run.val_loader
    score = validation_loss(run.nets, val_loader, run.runtime.device, cfg) if val_loader else last_train
    if val_loader is not None:
        run.logger.scalars(state.step, {"step": state.step, "epoch": state.epoch, "val_loss": score}, "val")
    improved = score is not None and (state.best is None or score < state.best)
    if improved:
        state.best = score
    data = ckpt_io.make_checkpoint(
        run.nets,
        run.optims,
        run.schedulers,
        state.step,
        state.epoch,
        state.batch_in_epoch,
        config_dict(cfg),
        run.generator,
        state.best,
    )
    folder = ckpt_io.checkpoint_dir(cfg.out)
    ckpt_io.atomic_save(data, os.path.join(folder, "last.pt"))
    if improved:
        ckpt_io.atomic_save(data, os.path.join(folder, "best.pt"))


def train(cfg: TrainConfig, explicit=None) -> dict:
    """Run training as configured; returns a summary dict (steps, epoch, final losses, paths).
    With ``cfg.resume``, ``explicit`` names the keys the user set (see ``resume_config``)."""
    if cfg.resume:
        cfg = resume_config(cfg, explicit)
    runtime = dist_utils.setup(cfg.device)
    try:
        return _train(cfg, runtime)
    finally:
        dist_utils.teardown(runtime)


def _prepare(cfg: TrainConfig, runtime: dist_utils.Runtime) -> tuple[RunContext, LoopState]:
    """Loaders, networks, optimizers and generator (restored from ``cfg.resume``), the run folder
    with its config.yaml, and the logger: the context of the loop and its starting state."""
    from hmh_train.train import steps

    loader, val_loader = _loaders(cfg, runtime)
    cfg = resolve_side(cfg, loader.dataset, val_loader.dataset if val_loader is not None else None)
    check_image_size(cfg, loader.dataset.size)
    saved = ckpt_io.load(ckpt_io.resolve_path(cfg.resume, "last")) if cfg.resume else None
    nets = build_nets(cfg, runtime, saved, loader.dataset.size[0])
    optims = build_optimizers(nets, cfg)
    schedulers = build_schedulers(optims, cfg, len(loader))
    generator = torch.Generator().manual_seed(cfg.seed * 7919 + runtime.rank)
    state = LoopState()
    if saved is not None:
        ckpt_io.restore_training(saved, nets, optims, schedulers, generator)
        state.step, state.epoch = saved["step"], saved["epoch"]
        state.batch_in_epoch, state.best = saved["batch_in_epoch"], saved["best"]
        if runtime.rank > 0:  # the file holds rank 0's augmentation stream; others draw anew
            generator.manual_seed(cfg.seed * 7919 + runtime.rank + 104_729 * state.step)
    nets = wrap_nets(nets, cfg, runtime)
    if runtime.is_main:
        os.makedirs(ckpt_io.checkpoint_dir(cfg.out), exist_ok=True)
        save_config(cfg, os.path.join(cfg.out, "config.yaml"))
    total = cfg.max_steps if cfg.max_steps is not None else cfg.epochs * len(loader)
    logger = RunLogger(cfg.out, runtime.is_main, total, state.step, cfg.progress)
    step_fn = {
        "matting": steps.matting_step,
        "harmonization": steps.harmonization_step,
        "joint": steps.joint_step,
    }[cfg.mode]
    run = RunContext(
        cfg=cfg,
        runtime=runtime,
        loader=loader,
        val_loader=val_loader,
        nets=nets,
        optims=optims,
        schedulers=schedulers,
        generator=generator,
        logger=logger,
        step_fn=step_fn,
        scfg=step_config(cfg, runtime.device),
        total=total,
    )
    return run, state


def _train(cfg: TrainConfig, runtime: dist_utils.Runtime) -> dict:
    run, state = _prepare(cfg, runtime)
    cfg, loader = run.cfg, run.loader
    try:
        run.logger.message(
            f"{cfg.mode}: {len(loader.dataset)} training samples, {len(loader)} steps/epoch "
            f"on {runtime.device} x{runtime.world_size}, steps {state.step}->{run.total}; "
            f"logs in {cfg.out} (tensorboard --logdir {os.path.join(cfg.out, 'tb')})"
        )
        with StopFlag() as stop:
            stopped, last = _loop(run, state, stop)
        _save(run, state, _main_loss(last))
        if stopped:
            run.logger.message(
                f"{stopped}: saved step {state.step} to {cfg.out}/checkpoints/last.pt; "
                f"continue with: hmh-train {cfg.mode} --resume {cfg.out}"
            )
    finally:
        run.logger.close()
    return {
        "run": cfg.out,
        "mode": cfg.mode,
        "step": state.step,
        "epoch": state.epoch,
        "best": state.best,
        "interrupted": stopped,
        "last_losses": last,
        "is_main": runtime.is_main,
    }


def _loop(run: RunContext, state: LoopState, stop: StopFlag) -> tuple[str | None, dict | None]:
    """Epochs of steps until ``run.total`` steps, ``cfg.epochs`` or a stop signal; returns
    (the signal's name or None, the last step's losses)."""
    cfg, runtime, loader, logger = run.cfg, run.runtime, run.loader, run.logger
    last, stopped = None, None
    while state.step < run.total and state.epoch < cfg.epochs:
        loader.sampler.set_epoch(state.epoch, state.batch_in_epoch * cfg.batch_size)
        for raw in _batches(loader, stop):
            batch = make_batch(
                raw,
                runtime.device,
                run.generator,
                True,
                crop_min=cfg.crop_min,
                flip=cfg.flip,
                online=cfg.online_adjust,
                altered=cfg.altered,
            )
            last = run.step_fn(run.nets, run.optims, batch, run.scfg)
            _check_finite(state, last, runtime)
            _accumulate(state, last)
            state.step, state.batch_in_epoch = state.step + 1, state.batch_in_epoch + 1
            logger.step()
            if state.step % cfg.log_every == 0 or state.step == run.total:  # lrs used by this step
                logger.scalars(state.step, _log_row(state, run.optims, cfg.batch_size, runtime.world_size))
            for scheduler in run.schedulers.values():
                scheduler.step()
            if runtime.is_main and state.step % cfg.image_every == 0:
                logger.images(state.step, preview_columns(run.nets, batch, cfg.mode))
            if state.step % cfg.ckpt_every == 0 and state.step < run.total:
                _save(run, state, _main_loss(last))
            stopped = stop.signal if dist_utils.any_flag(stop.signal is not None, runtime) else None
            if stopped or state.step >= run.total:
                return stopped, last
        if stop.signal is not None:  # the loader ended early because a signal stopped its workers
            return stop.signal, last
        state.epoch, state.batch_in_epoch = state.epoch + 1, 0
    return stopped, last


def _main_loss(losses: dict | None) -> float | None:
    """The loss that picks the best checkpoint without a test split: ``total`` or the sum of
    the generator losses (``loss_gm``/``loss_gh``/``loss``)."""
    if not losses:
        return None
    if "total" in losses:
        return float(losses["total"])
    keys = [k for k in losses if k in ("loss_gm", "loss_gh", "loss")]
    return float(sum(losses[k] for k in keys)) if keys else None
