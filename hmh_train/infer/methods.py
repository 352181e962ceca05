"""Non-learned harmonization methods, by name: the one registry behind ``--method NAME``.

``METHODS`` is the one place a method plugs in: name → ``harmonize(composite, mask)`` with
``composite`` uint8 (H, W, 3) RGB and ``mask`` (H, W) uint8 0–255 (the region to adjust, 255 =
adjust; DoveNet's convention: the pasted object of iHarmony4, 255 − A for HMH's altered
background) → uint8 (H, W, 3) RGB of the same size. Registering a method is one line, e.g.
``METHODS["xue"] = harmonize_xue``.
"""

from __future__ import annotations

import numpy as np


def identity(composite: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The composite unchanged (the reference every harmonizer has to beat)."""
    return np.array(composite, dtype=np.uint8, copy=True)


#: name → harmonize(composite uint8 (H,W,3) RGB, mask (H,W) uint8) → uint8 (H,W,3) RGB
METHODS = {"identity": identity}


def is_method(name) -> bool:
    """True when ``name`` names a method of ``METHODS``."""
    return isinstance(name, str) and name in METHODS


def unknown_method(name: str) -> str:
    """The one-line error for a name that is not a method."""
    return f"unknown method {name!r}; known methods: {', '.join(sorted(METHODS))}"
