"""Non-learned harmonizers by name: the one registry behind ``--method NAME``.

Every entry is a pure function ``(composite, mask) → harmonized``: the composite uint8
``(H, W, 3)`` RGB, the mask uint8 ``(H, W)`` of the region whose colours are adjusted (255 =
adjust; DoveNet's convention, as ``hmh-train harmonize --mask``: the pasted object of
iHarmony4, 255 − A for HMH's altered background), the result uint8 ``(H, W, 3)`` RGB of the
same size. Registering a method is one line: ``METHODS["xue"] = harmonize_xue``.
"""

from __future__ import annotations

import numpy as np


def identity(composite: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The composite unchanged (the reference every harmonizer has to beat)."""
    return np.array(composite, dtype=np.uint8, copy=True)


#: name → harmonizer; names are lower case.
METHODS = {
    "identity": identity,
}
#: What a figure or table calls each method (default: the name itself).
DISPLAY_NAMES = {"identity": "Composite (identity)", "xue": "Xue et al."}
#: Names that are learned networks, not methods: give their run with --ckpt instead.
LEARNED = {"dih": "DIH", "unet": "U-Net", "dovenet": "DoveNet", "joint": "Ours", "ours": "Ours"}


def get_method(name: str):
    """The harmonizer registered as ``name`` (case-insensitive); ValueError (one line) naming
    the known ones, or saying to pass a learned network's run with ``--ckpt``."""
    key = name.strip().lower()
    if key in METHODS:
        return METHODS[key]
    if key in LEARNED:
        raise ValueError(
            f"--method {name}: {LEARNED[key]} is a learned network; give its run or checkpoint "
            f"with --ckpt (e.g. --ckpt {LEARNED[key]}=runs/{key}, trained with hmh-train harmonization"
            f"{' --harmonizer dih' if key == 'dih' else ''})"
        )
    raise ValueError(f"--method {name}: unknown method (known: {', '.join(sorted(METHODS))})")


def display_name(name: str) -> str:
    """The label of method ``name`` in figures."""
    return DISPLAY_NAMES.get(name.strip().lower(), name)


def apply_method(name: str, composite: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``get_method(name)(composite, mask)`` with the shapes checked (ValueError, one line)."""
    composite, mask = np.asarray(composite), np.asarray(mask)
    if composite.dtype != np.uint8 or composite.ndim != 3 or composite.shape[2] != 3:
        raise ValueError(f"composite must be uint8 (H, W, 3) RGB, got {composite.dtype} {composite.shape}")
    if mask.dtype != np.uint8 or mask.shape != composite.shape[:2]:
        raise ValueError(f"mask must be uint8 {composite.shape[:2]}, got {mask.dtype} {mask.shape}")
    out = np.asarray(get_method(name)(composite, mask))
    if out.shape != composite.shape or out.dtype != np.uint8:
        raise ValueError(f"method {name} returned {out.dtype} {out.shape}, expected uint8 {composite.shape}")
    return out
