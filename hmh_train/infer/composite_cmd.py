"""``hmh-train composite``: load the checkpoint(s) once (``infer.model.load``), choose the side the harmonizer adjusts,
then run the single form (``infer.composite``) or the batch form (``infer.composite_batch``)."""

from __future__ import annotations

from dataclasses import replace

from hmh_train.infer.composite import CompositeConfig, composite_one
from hmh_train.infer.composite_batch import composite_folder
from hmh_train.infer.files import CompositeError
from hmh_train.infer.model import load

SIDES = ("background", "foreground")


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
    """Load the checkpoint(s) (``cfg.ckpt``: one path or several; ``cfg.harmonizer``: a
    non-learned method as the harmonizer, ``infer.methods``), choose the side, then run
    the single or the batch form. The result adds "loaded" (a line per network), "harmonize"
    (the side adjusted; None without a harmonization net) and "note" (None, or why the side differs from the trained one)."""
    from hmh_train.train.distributed import pick_device

    paths = (cfg.ckpt,) if isinstance(cfg.ckpt, str) else tuple(cfg.ckpt or ())
    paths += (cfg.harmonizer,) if cfg.harmonizer else ()  # a method replaces any file's harmonizer
    if cfg.auto_mask:
        from hmh_train.infer.automask import load_segmenter

        load_segmenter()  # the optional extra's one-line message before loading anything
    model = load(*paths, device=pick_device(cfg.device), harmonizer_output=cfg.harmonizer_output)
    side, note = choose_side(cfg.harmonize, model.side)
    cfg = replace(cfg, harmonize=side)
    result = composite_folder(cfg, model) if cfg.images else composite_one(cfg, model)
    result["loaded"] = list(model.loaded)  # what each file gave (printed by the CLI after success)
    harmonizes = model.nets.harmonization is not None
    result.update(harmonize=side if harmonizes else None, note=note)
    if harmonizes:
        result["harmonizer_output"] = model.harmonizer_output
    return result
