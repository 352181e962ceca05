"""Training configuration: one frozen ``TrainConfig``; defaults < mode YAML < user YAML < command line.

``load_config(mode, yaml_path, overrides)`` starts from the dataclass defaults, applies the
packaged ``hmh_train/configs/{mode}.yaml``, then the user's YAML file, then ``overrides``
(command-line options and ``--set key=value``; string values are parsed as YAML scalars).
Every key is checked: an unknown key or a value of the wrong type raises ``ConfigError`` with
one line naming the key and its source. The resolved config is saved as ``RUN/config.yaml``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, replace
from importlib import resources

import yaml

from hmh_builder.fsio import atomic_write_text, first_line
from hmh_builder.schema import ALTERED_SIDES

MODES = ("matting", "harmonization", "joint")
GAN_LOSSES = ("paper", "hinge", "wgan-gp")
MATTING_HEADS = ("published", "wide")  # hmh_train.nets.indexnet.HEADS
MATTING_NETS = ("indexnet", "dim")  # hmh_train.nets.MATTING_NETS
UNET_NORMS = ("batch", "instance")  # hmh_train.nets.unet.NORMS
HARMONIZERS = ("unet", "dih")  # hmh_train.nets.HARMONIZERS
HARMONIZER_OUTPUTS = ("paper", "keep", "residual")  # hmh_train.nets.forward.HARMONIZER_OUTPUTS
#: The form a saved run config without the key was trained with (runs made before it existed).
UNRECORDED_OUTPUT = "paper"  # hmh_train.nets.forward.UNRECORDED_OUTPUT


class ConfigError(ValueError):
    """A config problem, one line naming the key and where it came from."""


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of one training run (see docs/training.md)."""

    mode: str = "joint"
    shards: str = ""  # hmh-build output or release folder
    out: str = "runs/run"  # run folder: config.yaml, metrics.csv, tb/, checkpoints/
    resume: str | None = None  # run folder (or .pt file) to continue from
    epochs: int = 30
    max_steps: int | None = None  # stop after this many optimizer steps in total
    batch_size: int = 8  # per process
    workers: int = 4  # DataLoader worker processes per process
    seed: int = 0
    device: str = "auto"  # auto = cuda if available, else cpu
    amp: bool = True  # bf16 autocast (CUDA only)
    compile: bool = False  # torch.compile every network
    width: float = 1.0  # channel width multiplier of every network
    num_downs: int = 8  # U-Net depth (input side must be a multiple of 2**num_downs)
    matting_net: str = "indexnet"  # fresh matting net: indexnet (the paper's) | dim (DM baseline)
    harmonizer: str = "unet"  # fresh harmonization net: unet (DoveNet's attention U-Net) | dih (DIH)
    matting_head: str = "published"  # IndexNet head: published (official) | wide (from scratch)
    unet_norm: str = "batch"  # U-Net norm: batch (released DoveNet) | instance
    harmonizer_output: str = "residual"  # residual (change, region kept) | keep (region kept) | paper
    crop_min: float = 1.0  # random crop side fraction in [crop_min, 1], resized back
    flip: bool = True  # random horizontal flip
    online_adjust: bool = False  # redraw the altered side and I_d on the device every step
    altered: str | None = None  # side the shards alter (read from them and recorded); set
    # it to refuse shards of the other side
    gan_loss: str = "hinge"  # paper | hinge | wgan-gp
    lambda1: float = 0.02  # adversarial weight of the matting generator
    lambda2: float = 0.01  # adversarial weight of the harmonization generator
    gp_weight: float = 10.0
    alpha_loss_weight: float = 0.5
    comp_loss_weight: float = 0.5
    harmonization_l1_weight: float = 1.0
    lr_matting: float = 1e-2  # IndexNet decoder, index blocks, ASPP, prediction head
    lr_matting_encoder: float = 1e-4  # IndexNet MobileNetV2 encoder
    lr_harmonization: float = 2e-4
    lr_discriminator: float = 2e-4
    betas_matting: list = field(default_factory=lambda: [0.9, 0.999])
    betas_gan: list = field(default_factory=lambda: [0.5, 0.999])
    lr_milestones: list = field(default_factory=lambda: [20, 26])  # epochs (IndexNet lrs only)
    lr_gamma: float = 0.1
    matting_ckpt: str | None = None
    harmonization_ckpt: str | None = None
    backbone_weights: str | None = None
    log_every: int = 10  # steps between CSV/TensorBoard/progress updates
    ckpt_every: int = 1000  # steps between checkpoints (and validation)
    image_every: int = 500  # steps between TensorBoard image grids
    val_batches: int = 8  # test-split batches per validation (0 = use train loss)
    progress: bool = True


_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def _coerce(key: str, value, source: str):
    """Check/convert ``value`` to the type of field ``key``; ConfigError names key and source."""
    kind = str(_FIELDS[key].type)
    if isinstance(value, str) and not kind.startswith("str"):
        value = yaml.safe_load(value) if value.strip() else None
    if value is None and "None" in kind:
        return None
    try:
        if kind.startswith("bool"):
            if not isinstance(value, bool):
                raise TypeError
            return value
        if kind.startswith("int"):
            if isinstance(value, bool) or float(value) != int(value):
                raise TypeError
            return int(value)
        if kind.startswith("float"):
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if kind.startswith("str"):
            return str(value)
        if kind.startswith("list"):
            return list(value) if isinstance(value, (list, tuple)) else [value]
    except (TypeError, ValueError):
        pass
    raise ConfigError(f"{source}: {key} must be {kind}, got {value!r}")


#: Keys whose value is one of a fixed set, checked in this order (``altered`` may also be None:
#: the side is then read from the shards).
_CHOICES = {
    "mode": MODES,
    "gan_loss": GAN_LOSSES,
    "matting_net": MATTING_NETS,
    "matting_head": MATTING_HEADS,
    "unet_norm": UNET_NORMS,
    "harmonizer": HARMONIZERS,
    "altered": ALTERED_SIDES,
    "harmonizer_output": HARMONIZER_OUTPUTS,
}


def _validate(cfg: TrainConfig) -> None:
    for key, choices in _CHOICES.items():
        value = getattr(cfg, key)
        if value not in choices and not (key == "altered" and value is None):
            raise ConfigError(f"{key} must be one of {', '.join(choices)}, got {value!r}")
    positive = ("batch_size", "epochs", "log_every", "ckpt_every", "image_every", "width", "num_downs")
    for key in positive:
        if getattr(cfg, key) <= 0:
            raise ConfigError(f"{key} must be positive, got {getattr(cfg, key)!r}")
    if cfg.max_steps is not None and cfg.max_steps < 0:
        raise ConfigError(f"max_steps must be >= 0, got {cfg.max_steps}")
    if not 0.0 < cfg.crop_min <= 1.0:
        raise ConfigError(f"crop_min must be in (0, 1], got {cfg.crop_min}")
    if cfg.workers < 0 or cfg.val_batches < 0:
        raise ConfigError("workers and val_batches must be >= 0")
    if cfg.matting_net == "dim" and cfg.matting_head != "published":
        raise ConfigError("matting_head chooses IndexNet's prediction head; matting_net dim has its own")


def check_image_size(cfg: TrainConfig, size) -> None:
    """Shard images must fit the U-Net (multiples of 2**num_downs) or DIH (square, a multiple
    of 64) and the critic (multiples of 32)."""
    h, w = size
    if cfg.harmonizer == "dih" and cfg.mode != "matting" and (h != w or h % 64):
        raise ConfigError(
            f"{cfg.shards}: images are {h}×{w} but DIH (--harmonizer dih) needs square images "
            "whose side is a multiple of 64 (256 as published); rebuild the shards with --size 256"
        )
    need = 2**cfg.num_downs if cfg.mode != "matting" and cfg.harmonizer == "unet" else 1
    need = max(need, 32) if cfg.mode == "joint" else need
    if h % need or w % need:
        fit = max([d for d in range(5, cfg.num_downs) if h % 2**d == 0 == w % 2**d], default=None)
        hint = f"use --num-downs {fit} or less" if fit else "rebuild the shards with --size 256"
        raise ConfigError(
            f"{cfg.shards}: images are {h}×{w} but the {cfg.mode} networks need "
            f"multiples of {need} (--num-downs {cfg.num_downs}); {hint}"
        )


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """``line L, column C: problem`` of a YAML parse error (first line of the message otherwise)."""
    mark, problem = getattr(exc, "problem_mark", None), getattr(exc, "problem", None)
    if mark is None or not problem:
        return first_line(exc)
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"


def read_yaml(path) -> dict:
    """A YAML mapping from ``path``; ConfigError (one line) when missing or not a mapping."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({_yaml_problem(exc)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of key: value, got {type(data).__name__}")
    return data


def mode_defaults(mode: str) -> dict:
    """The packaged per-mode defaults (``hmh_train/configs/{mode}.yaml``)."""
    if mode not in MODES:
        raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    text = resources.files("hmh_train").joinpath("configs", f"{mode}.yaml").read_text("utf-8")
    return yaml.safe_load(text) or {}


def _apply(values: dict, layer: dict, source: str) -> None:
    for key, value in layer.items():
        key = str(key).replace("-", "_")
        if key not in _FIELDS:
            raise ConfigError(f"{source}: unknown config key {key!r} (see hmh-train {values['mode']} --help)")
        values[key] = _coerce(key, value, source)


def load_config(mode: str, yaml_path=None, overrides: dict | None = None) -> TrainConfig:
    """Resolve defaults < ``configs/{mode}.yaml`` < ``yaml_path`` < ``overrides`` into a TrainConfig."""
    values = {
        name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
        for name, f in _FIELDS.items()
    }
    values["mode"] = mode
    _apply(values, mode_defaults(mode), f"configs/{mode}.yaml")
    if yaml_path is not None:
        _apply(values, read_yaml(yaml_path), os.fspath(yaml_path))
    _apply(values, {k: v for k, v in (overrides or {}).items() if v is not None}, "command line")
    if values["mode"] != mode:
        raise ConfigError(f"config says mode {values['mode']!r} but the command is {mode!r}")
    cfg = TrainConfig(**values)
    _validate(cfg)
    return cfg


def resume_config(cfg: TrainConfig, explicit=None) -> TrainConfig:
    """For ``--resume RUN``: RUN/config.yaml, overridden by the keys the user set (``explicit``,
    names of config keys; e.g. ``max_steps``), or when ``explicit`` is None by whatever ``cfg``
    sets differently from the mode defaults; ``out`` becomes RUN."""
    run = cfg.resume
    saved = os.path.join(run, "config.yaml")
    if not os.path.isfile(saved):
        raise ConfigError(f"{run}: not a run folder (no config.yaml); cannot resume")
    base, defaults = load_saved_config(cfg.mode, saved), load_config(cfg.mode)
    keys = (
        {str(k).replace("-", "_") for k in explicit}
        if explicit is not None
        else {k for k, v in config_dict(cfg).items() if v != getattr(defaults, k)}
    )
    changed = {k: getattr(cfg, k) for k in keys if k in _FIELDS and k not in ("out", "resume")}
    if "harmonizer_output" in changed and cfg.mode != "matting":
        from hmh_train.nets.forward import check_output_form  # torch: only when resuming

        try:  # the saved U-Net predicts an image (paper, keep) or a change (residual)
            check_output_form(changed["harmonizer_output"], base.harmonizer_output, run)
        except ValueError as exc:
            raise ConfigError(f"{exc}; a resumed run keeps its reading") from None
    return replace(base, **changed, out=run, resume=run)


def load_saved_config(mode: str, path) -> TrainConfig:
    """A run's saved ``config.yaml`` as a TrainConfig. Keys added since the run was made take
    the value that reproduces it, not today's default: ``harmonizer_output`` missing means the
    run trained the U-Net's plain image (``UNRECORDED_OUTPUT``)."""
    recorded = read_yaml(path)
    extra = {} if "harmonizer_output" in recorded else {"harmonizer_output": UNRECORDED_OUTPUT}
    return load_config(mode, path, extra)


def parse_set(items) -> dict:
    """``["key=value", ...]`` (from ``--set``) → dict; ConfigError for an item without '='."""
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {item!r}")
        out[key.strip()] = value
    return out


def config_dict(cfg: TrainConfig) -> dict:
    """Plain dict of a config (YAML/JSON/torch.save friendly)."""
    return dataclasses.asdict(cfg)


def save_config(cfg: TrainConfig, path) -> None:
    """Write the resolved config as YAML (atomically: temp file, fsync, rename)."""
    atomic_write_text(os.fspath(path), yaml.safe_dump(config_dict(cfg), sort_keys=False))
