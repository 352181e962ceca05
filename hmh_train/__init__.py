"""hmh_train: joint matting + harmonization GAN training, evaluation and inference on HMH shards.

The Python API (``docs/api.md``)::

    import hmh_train as hmh
    model = hmh.load("indexnet_matting.pth.tar", "latest_net_G.pth")   # or a run folder
    alpha = model.matte(image, trimap=trimap)                # uint8 (H, W); image RGB uint8
    out = model.composite(image, background, alpha=alpha)    # uint8 (H, W, 3) RGB, harmonized

``load``, ``Model`` and ``Composition`` live in ``hmh_train.infer.model`` and are imported on
first use, so ``import hmh_train`` stays light (no torch until a model is loaded).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hmh_builder import __version__

if TYPE_CHECKING:  # for type checkers only; at run time ``__getattr__`` imports them lazily
    from hmh_train.infer.model import Composition, Model, load

__all__ = ["__version__", "load", "Model", "Composition"]
#: The package's public facade: these names come from this module, imported on first access.
FACADE_MODULE = "hmh_train.infer.model"
FACADE_NAMES = ("load", "Model", "Composition")


def __getattr__(name: str) -> Any:
    if name in FACADE_NAMES:
        import hmh_train.infer.model as facade

        return getattr(facade, name)
    raise AttributeError(f"module 'hmh_train' has no attribute {name!r}")
