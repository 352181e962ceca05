"""The seeded weight recipe behind ``tests/fixtures/dm/``: Deep Image Matting weights that are
a deterministic function of a seed and the state dict's keys and shapes, in order.

Used twice, and it must stay the same in both places: by the script that ran the authors'
``hlvggnet.DeepMatting`` outside the project (``tests/fixtures/dm/README.md``; it imports this
file by path, so it depends on numpy and torch only) and by ``test_dim.py``, which rebuilds the
130 M weights instead of storing a 500 MB file.

Tensor ``i`` (0-based, state-dict order) draws from ``numpy.random.default_rng([seed, i])``:

- 4-D conv weights: standard normal × sqrt(GAIN / fan_in) (He scaling); decoder convs
  (modules named ``dconv*``) × sqrt(DECODER_GAIN / fan_in), as max-unpooling leaves 3 of 4
  inputs zero; the last conv (``alpha_pred``) × sqrt(HEAD_GAIN / fan_in), so that the raw
  output is spread around 0.5 rather than saturated or constant;
- conv biases: normal × 0.05, ``alpha_pred``'s bias 0.5 + normal × 0.05;
- batch norm: weight uniform [0.7, 1.3], bias normal × 0.1, running mean normal × 0.1,
  running variance uniform [0.5, 1.5] (random statistics, so every layer changes the output);
  ``num_batches_tracked`` 0.
"""

from __future__ import annotations

import numpy as np
import torch

SEED = 20171
GAIN = 2.0
DECODER_GAIN = 8.0
HEAD_GAIN = 0.008


def _tensor(key: str, shape: tuple, rng: np.random.Generator, last_conv: str) -> np.ndarray:
    """float32 array of ``shape`` for state-dict entry ``key`` (see the module docstring)."""
    leaf = key.rsplit(".", 1)[-1]
    module = key.rsplit(".", 1)[0].removeprefix("module.")
    if len(shape) == 4:
        fan_in = shape[1] * shape[2] * shape[3]
        gain = HEAD_GAIN if module == last_conv else DECODER_GAIN if module.startswith("dconv") else GAIN
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(np.sqrt(gain / fan_in))
    if leaf == "running_mean" or (leaf == "bias" and module.startswith("bn")):
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(0.1)
    if leaf == "running_var":
        return rng.uniform(0.5, 1.5, shape).astype(np.float32)
    if leaf == "weight":  # batch-norm scale
        return rng.uniform(0.7, 1.3, shape).astype(np.float32)
    offset = np.float32(0.5) if module == last_conv else np.float32(0.0)
    return offset + rng.standard_normal(shape, dtype=np.float32) * np.float32(0.05)  # conv bias


def seeded_state(shapes: dict, seed: int = SEED) -> dict:
    """``{key: tensor}`` for ``shapes`` ({state-dict key: shape}, in the network's order).
    The last 4-D entry is the prediction conv; ``num_batches_tracked`` entries are int64 0."""
    last_conv = [k for k, s in shapes.items() if len(s) == 4][-1].rsplit(".", 1)[0]
    last_conv = last_conv.removeprefix("module.")
    state = {}
    for index, (key, shape) in enumerate(shapes.items()):
        if key.endswith("num_batches_tracked"):
            state[key] = torch.zeros((), dtype=torch.int64)
            continue
        rng = np.random.default_rng([seed, index])
        state[key] = torch.from_numpy(_tensor(key, tuple(shape), rng, last_conv))
    return state
