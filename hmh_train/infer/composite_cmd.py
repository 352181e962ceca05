"""``hmh-train composite``: load the checkpoint(s) once, choose the side the harmonizer adjusts,
then run the single form (``infer.composite``) or the batch form (``infer.composite_batch``)."""

from __future__ import annotations

from dataclasses import replace

import torch

from hmh_train.infer.composite import CompositeConfig, CompositeError, composite_one
from hmh_train.infer.composite_batch import composite_folder

SIDES = ("background", "foreground")


def load_all(paths, device, log=None, harmonizer_output: str | None = None):
    """``(Nets, trained side)`` from one or more checkpoints (e.g. IndexNet's .pth.tar and
    DoveNet's .pth): each file contributes the networks it holds, a later file's replacing an
    earlier one's. The side is that of the file giving the harmonization net
    (``train.checkpoint.trained_side``; None without one or for a released file).
    ``Nets.harmonizer_output`` is the form that file trained it with, or the given one (checked
    against it: ``forward.check_output_form``). ``log`` receives one line per loaded network."""
    from hmh_train.nets.forward import NET_NAMES, Nets, check_output_form
    from hmh_train.train.checkpoint import checkpoint_file, load_nets, trained_side

    files = [checkpoint_file(p) for p in paths]  # one-line error naming --ckpt when there is none
    merged, side, source = Nets(), None, None
    for path, file in zip(paths, files, strict=False):
        nets, config = load_nets(file, device=device, log=log)
        for name in NET_NAMES:
            if getattr(nets, name) is not None:
                setattr(merged, name, getattr(nets, name))
        if nets.harmonization is not None:
            side = trained_side(config)
            merged.harmonizer_output, source = nets.harmonizer_output, path
    if source is not None:
        merged.harmonizer_output = check_output_form(harmonizer_output, merged.harmonizer_output, source)
    return merged, side


def choose_side(asked: str | None, trained: str | None) -> tuple[str, str | None]:
    """``(side, note)``: the side the harmonizer adjusts — ``asked`` (``--harmonize``), else
    the side the checkpoint was trained on, else "background" (the paper's setting) — and a
    one-line note when ``asked`` is the other side than the one trained (allowed: asked
    explicitly)."""
    if asked is not None and asked not in SIDES:
        raise CompositeError(f"--harmonize must be one of {', '.join(SIDES)}, got {asked!r}")
    side = asked or trained or "background"
    note = None
    if asked is not None and trained is not None and asked != trained:
        note = (
            f"note: the harmonizer was trained on {trained}-altered shards; --harmonize "
            f"{asked} asks it to adjust the {asked}"
        )
    return side, note


def run(cfg: CompositeConfig) -> dict:
    """Load the checkpoint(s) (``cfg.ckpt``: one path or several), choose the side, then run
    the single or the batch form. The result adds "loaded" (a line per network), "harmonize"
    (the side adjusted; None without a harmonization net) and "note" (None, or why the side differs from the trained one)."""
    from hmh_train.infer.composite import load_automask
    from hmh_train.train.distributed import pick_device

    paths = (cfg.ckpt,) if isinstance(cfg.ckpt, str) else tuple(cfg.ckpt)
    if cfg.auto_mask:
        load_automask()  # the optional extra's one-line message before loading anything
    device = pick_device(cfg.device)
    loaded = []
    nets, trained = load_all(paths, device, loaded.append, cfg.harmonizer_output)
    side, note = choose_side(cfg.harmonize, trained)
    cfg = replace(cfg, harmonize=side)
    with torch.no_grad():
        result = composite_folder(cfg, nets, device) if cfg.images else composite_one(cfg, nets, device)
    result["loaded"] = loaded  # what each file gave (printed by the CLI after success)
    result.update(harmonize=side if nets.harmonization is not None else None, note=note)
    if nets.harmonization is not None:
        result["harmonizer_output"] = nets.harmonizer_output
    return result
