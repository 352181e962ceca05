"""Non-learned harmonization methods, by name, wherever a harmonization network is taken.

``METHODS`` is the one place a method plugs in: name → ``harmonize(composite, mask)`` with
``composite`` uint8 (H, W, 3) RGB, ``mask`` (H, W) uint8 0–255 or float in [0, 1] (the region
to adjust) → uint8 (H, W, 3) RGB of the same size. ``method_nets(name)`` gives a ``forward.Nets`` whose
harmonizer is a ``MethodHarmonizer``; ``ops.harmonize_any_size`` runs it per image (the
method's own size rule; a float composite is rounded to 8 bit first, as the method reads
image files), so ``hmh_train.load(NAME)`` (``harmonize``, ``compose``, ``harmonize_batch``),
``eval --compare NAME`` (shards and ``--benchmark iharmony4``), ``study make --method NAME``,
``composite --harmonizer NAME`` and ``harmonize --method NAME`` all take the same path.

A name in ``METHODS`` always means the method; a run folder of the same name is given as
``./NAME``.
"""

from __future__ import annotations

import numpy as np
import torch

from hmh_train.infer.xue import XueInputError, harmonize_xue


def identity(composite: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The composite unchanged (the reference every harmonizer has to beat)."""
    return np.array(composite, dtype=np.uint8, copy=True)


#: name → harmonize(composite uint8 (H,W,3) RGB, mask (H,W) uint8 or float [0,1]) → uint8 (H,W,3) RGB
METHODS = {"identity": identity, "xue": harmonize_xue}
#: name → what it is (printed where a checkpoint would say what was loaded)
DESCRIPTIONS = {
    "identity": "identity: the composite unchanged",
    "xue": "Xue et al. 2012 (iHarmony4 repository's MATLAB demo), zero-offset mode: no trained "
    "random-forest models; 256x256 working size",
}
#: The one-line errors a method raises for an input it cannot use.
METHOD_ERRORS = (XueInputError,)


#: name → what a table caption says of its row
CAPTION_NOTES = {
    "xue": "Xue = Xue et al. 2012 in its zero-offset mode (the authors' random-forest zone "
    "choice needs trained models the iHarmony4 repository does not ship), at 256×256 as the "
    "MATLAB demo; images it cannot measure are scored unchanged.",
}


def caption_note(labels) -> str:
    """What a caption adds for the rows of ``labels`` that are methods ("" for none)."""
    notes = [CAPTION_NOTES[label] for label in dict.fromkeys(labels) if label in CAPTION_NOTES]
    return (" " + " ".join(notes)) if notes else ""


def is_method(name) -> bool:
    """True when ``name`` (a --ckpt/--compare value) names a method of ``METHODS``."""
    return isinstance(name, str) and name in METHODS


def unknown_method(name: str) -> str:
    """The one-line error for a name that is not a method."""
    return f"unknown method {name!r}; known methods: {', '.join(sorted(METHODS))}"


def no_such_run(path: str) -> str:
    """The one-line error for a --ckpt/--compare value that is neither a path nor a method."""
    return f"{path}: no such checkpoint file or run folder, nor a method (known methods: {', '.join(sorted(METHODS))})"


class MethodHarmonizer:
    """Stands where a harmonization network stands (``Nets.harmonization``).

    ``strict``: an image the method cannot use (``METHOD_ERRORS``, e.g. Xue's code stopping
    on a region it cannot measure) raises; otherwise it is returned unchanged, so a table still
    has every sample, and ``skipped`` gets one line about it.
    """

    def __init__(self, name: str, strict: bool = False):
        if not is_method(name):
            raise ValueError(unknown_method(name))
        self.name = name
        self.function = METHODS[name]
        self.strict = strict
        self.skipped: list[str] = []

    def harmonize01(self, composite01: torch.Tensor, mask01: torch.Tensor) -> torch.Tensor:
        """``(B,3,H,W)`` in [0, 1] from the composite ``(B,3,H,W)`` in [0, 1] (rounded to uint8)
        and the mask ``(B,1,H,W)`` in [0, 1]; on the composite's device."""
        comps = (composite01.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
        comps = comps.permute(0, 2, 3, 1).numpy()
        masks = mask01.detach().double().cpu()[:, 0].clamp(0, 1).numpy()
        out = []
        for comp, mask in zip(comps, masks, strict=True):
            try:
                out.append(self.function(comp, mask))
            except METHOD_ERRORS as exc:
                if self.strict:
                    raise
                self.skipped.append(str(exc))
                out.append(comp)
        result = torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float() / 255.0
        return result.to(composite01.device)

    def skipped_note(self, total: int) -> str | None:
        """One line on the images left unchanged, or None."""
        if not self.skipped:
            return None
        return (
            f"{self.name}: {len(self.skipped)} of {total} images left unadjusted (the authors' code "
            f"stops on them; first: {self.skipped[0]})"
        )


def method_nets(name: str, log=None, strict: bool = False):
    """``(Nets, config)`` as ``train.checkpoint.load_nets`` returns them, for a method: the
    harmonizer only (a ``MethodHarmonizer``), output form ``paper``; ``config`` has ``layout``
    (so no trained side). ``log`` gets one line saying what the method is."""
    from hmh_train.nets.forward import Nets

    nets = Nets(harmonization=MethodHarmonizer(name, strict), harmonizer_output="paper")
    if log is not None:
        log(f"{name}: {DESCRIPTIONS[name]}")
    return nets, {"layout": "method", "method": name}


def load_harmonizer(path: str, device="cpu", log=None):
    """``method_nets(path)`` for a method name, else ``train.checkpoint.load_nets``."""
    if is_method(path):
        return method_nets(path, log)
    from hmh_train.train.checkpoint import load_nets

    return load_nets(path, device=device, log=log)
