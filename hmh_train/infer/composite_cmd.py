"""``hmh-train composite``: load the checkpoint(s) once, then run the single form
(``infer.composite``) or the batch form (``infer.composite_batch``)."""
from __future__ import annotations

import torch

from hmh_train.infer.composite import CompositeConfig, composite_one
from hmh_train.infer.composite_batch import composite_folder


def load_all(paths, device, log=None, harmonizer_output: str | None = None):
    """``Nets`` from one or more checkpoints (e.g. IndexNet's .pth.tar and DoveNet's .pth):
    each file contributes the networks it holds, a later file's replacing an earlier one's.
    ``harmonizer_output`` is the form the harmonization net's file trained it with, or the
    given one (checked against it: ``forward.check_output_form``). ``log`` receives one line
    per loaded network."""
    from hmh_train.nets.forward import NET_NAMES, Nets, check_output_form
    from hmh_train.train.checkpoint import checkpoint_file, load_nets

    files = [checkpoint_file(p) for p in paths]  # one-line error naming --ckpt when there is none
    merged, source = Nets(), None
    for path, file in zip(paths, files):
        nets, _ = load_nets(file, device=device, log=log)
        for name in NET_NAMES:
            if getattr(nets, name) is not None:
                setattr(merged, name, getattr(nets, name))
        if nets.harmonization is not None:
            merged.harmonizer_output, source = nets.harmonizer_output, path
    if source is not None:
        merged.harmonizer_output = check_output_form(harmonizer_output, merged.harmonizer_output, source)
    return merged


def run(cfg: CompositeConfig) -> dict:
    """Load the checkpoint(s) (``cfg.ckpt``: one path or several), then run the single or the
    batch form."""
    from hmh_train.train.distributed import pick_device

    paths = (cfg.ckpt,) if isinstance(cfg.ckpt, str) else tuple(cfg.ckpt)
    device = pick_device(cfg.device)
    loaded = []
    nets = load_all(paths, device, loaded.append, cfg.harmonizer_output)
    with torch.no_grad():
        result = composite_folder(cfg, nets, device) if cfg.images else composite_one(cfg, nets, device)
    result["loaded"] = loaded  # what each file gave (printed by the CLI after success)
    if nets.harmonization is not None:
        result["harmonizer_output"] = nets.harmonizer_output
    return result
