"""The one safe reader of checkpoint files, and the one ``module.`` prefix stripper.

Every weights file this package opens (our checkpoints, IndexNet's ``.pth.tar``, DoveNet's
``.pth``, ImageNet MobileNetV2 weights) goes through ``read_checkpoint``:
``torch.load(map_location="cpu", weights_only=True)`` with one allow-list (data-only numpy
scalars and dtypes, which the released files' training logs carry). A pickle that would import
or call anything else is refused before anything in it runs. Every failure is one
``CheckpointError`` line naming the file and saying what it is instead (``describe_file``:
"a text file", "a PNG image", "an empty file", "a zip archive that torch.save did not write"…).
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile

import numpy as np
import torch

from hmh_builder.fsio import first_line

#: DataParallel / DistributedDataParallel's key prefix.
MODULE_PREFIX = "module."
#: Leading bytes of file kinds a user may give by mistake → what to call them.
MAGIC = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x89HDF", "an HDF5 file"),
    (b"\x1f\x8b", "a gzip file (unpack it first)"),
    (b"GIF8", "a GIF image"),
    (b"version https://git-lfs", "a Git LFS pointer, not the file itself (run git lfs pull)"),
    (b"\x08\x01\x12", "probably an ONNX model (export it from PyTorch, not back)"),
)


#: What ``describe_file`` calls a well-formed torch.save file (zip with data.pkl, or a legacy pickle).
TORCH_FILE = "a PyTorch file"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; ``str()`` is one line naming the file."""


def strip_prefix(state: dict, prefix: str = MODULE_PREFIX) -> dict:
    """``state`` with ``prefix`` removed from the keys that start with it (others unchanged)."""
    return {k[len(prefix) :] if k.startswith(prefix) else k: v for k, v in state.items()}


def allowed_globals() -> list:
    """Data-only numpy reconstructors (scalars and dtypes), allowed so that training logs the
    released files carry (e.g. ``measure``: lists of numpy.float64) do not block loading."""
    core = getattr(np, "_core", None) or np.core  # numpy 2 / numpy 1
    scalar = core.multiarray.scalar
    dtypes = [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")]
    return [scalar, (scalar, "numpy.core.multiarray.scalar"), np.dtype, *dtypes]


def describe_file(path: str) -> str:
    """What a file that ``torch.load`` could not read is, in words for the user."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(512)
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    if not head:
        return "an empty file"
    for magic, what in MAGIC:
        if head.startswith(magic):
            return what
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError):
            return "a truncated or damaged zip file (torch.save writes zip files: was the copy cut short?)"
        if any(name.endswith("data.pkl") for name in names):
            return TORCH_FILE
        return "a zip archive that torch.save did not write"
    if head[:1] == b"\x80":
        return TORCH_FILE
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "an unrecognised binary file"
    return "a text file" if "\x00" not in text else "an unrecognised binary file"


def read_checkpoint(path) -> object:
    """``torch.load(path, map_location="cpu", weights_only=True)`` with one-line errors.

    ``path``: a file written by ``torch.save``. Returns the loaded object (tensors on CPU).
    A pickle asking for any global beyond ``allowed_globals`` is refused with
    ``CheckpointError`` and never executed; other unreadable files say what they are.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise CheckpointError(f"{path}: is a folder without checkpoints/last.pt or best.pt")
    if not os.path.exists(path):
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        with torch.serialization.safe_globals(allowed_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        wanted = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if wanted:
            raise CheckpointError(
                f"{path}: refused: its pickle would import and run {wanted.group(1)}; only tensors "
                "and plain data are loaded (weights_only), nothing in it was executed"
            ) from None
        what = describe_file(path)
        if what == TORCH_FILE:
            raise CheckpointError(
                f"{path}: refused: its pickle holds something other than tensors and plain data "
                "(weights_only); nothing in it was executed"
            ) from None
        raise CheckpointError(f"{path}: not a PyTorch checkpoint ({what})") from None
    except Exception as exc:  # noqa: BLE001 - zip/pickle/format errors have many types
        what = describe_file(path)
        if what == TORCH_FILE:
            raise CheckpointError(f"{path}: a damaged PyTorch file ({first_line(exc)})") from None
        raise CheckpointError(f"{path}: not a PyTorch checkpoint ({what})") from None
