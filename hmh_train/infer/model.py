"""The Python API: ``hmh_train.load(...)`` gives a ``Model`` whose methods run the procedures.

>>> import hmh_train as hmh
>>> model = hmh.load("indexnet_matting.pth.tar", "latest_net_G.pth")   # or a run folder
>>> alpha = model.matte(image, trimap=trimap)                           # uint8 (H, W)
>>> out = model.composite(image, background, alpha=alpha)               # uint8 (H, W, 3) RGB

The one place where a loaded model meets its procedures: ``hmh-train matte``, ``harmonize``
and ``composite``, ``study make`` and ``benchmarks/infer.py`` all call it. Arrays in and out:
images uint8 ``(H, W, 3)`` in **RGB** order (OpenCV's ``imread`` gives BGR: convert first),
alpha, trimaps and masks uint8 ``(H, W)`` 0–255 (a trimap: 0 background, 128 unknown, 255
foreground); a file path is accepted wherever an array is (decoded by ``infer.files``).
Errors are ``CompositeError`` (a ``ValueError``) or ``CheckpointError`` with one line.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch

from hmh_train.infer import bounded, ops, protocols
from hmh_train.infer.files import CompositeError, check_trimap, read_gray, read_rgb
from hmh_train.infer.matte import fast_alpha, pick_engine, prepare
from hmh_train.infer.methods import METHOD_ERRORS, MethodHarmonizer, is_method, method_nets
from hmh_train.nets.forward import NET_NAMES, Nets, check_output_form, region_mask
from hmh_train.nets.loading import checkpoint_file, load_nets, trained_side

#: An image argument: a uint8 array or the path of an image file.
ImageInput = np.ndarray | str | os.PathLike[str]
SIDES = ("background", "foreground")
HINTS = {
    "matting": "IndexNet's or Deep Image Matting's .pth.tar or a run with a matting net",
    "harmonization": "DoveNet's latest_net_G.pth or a run with a harmonization net",
}


@dataclass(frozen=True)
class Composition:
    """What ``Model.compose`` made: uint8 ``alpha`` (H, W), the plain ``composite`` and the
    ``harmonized`` picture (H, W, 3) RGB (None without a harmonization net)."""

    alpha: np.ndarray
    composite: np.ndarray
    harmonized: np.ndarray | None

    @property
    def final(self) -> np.ndarray:
        """The harmonized picture, or the plain composite without a harmonization net."""
        return self.harmonized if self.harmonized is not None else self.composite


def as_rgb(image: ImageInput) -> np.ndarray:
    """uint8 ``(H, W, 3)`` RGB from an array (checked; copied only when read-only) or an image file."""
    if isinstance(image, (str, os.PathLike)):
        return read_rgb(os.fspath(image))
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise CompositeError(f"an image must be uint8 (H, W, 3) RGB, got {array.dtype} {array.shape}")
    return array if array.flags.writeable else array.copy()  # torch refuses read-only memory


def as_gray(guide: ImageInput, shape: tuple[int, ...], what: str) -> np.ndarray:
    """uint8 ``(H, W)`` of the image's ``shape`` from an array or a file (``what`` names it)."""
    if isinstance(guide, (str, os.PathLike)):
        return read_gray(os.fspath(guide), shape[:2], what)
    array = np.asarray(guide)
    if array.dtype != np.uint8 or array.shape != tuple(shape[:2]):
        raise CompositeError(
            f"the {what} must be uint8 {tuple(shape[:2])} like the image, got {array.dtype} {array.shape}"
        )
    return array if array.flags.writeable else array.copy()


@dataclass
class Model:
    """Loaded networks (``nets``: either may be None) on ``device``, the side the harmonizer was
    trained to adjust (``side``; None: any), the report line of each loaded network
    (``loaded``) and the checkpoint paths given (``sources``). Make one with ``load``."""

    nets: Nets
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    side: str | None = None
    loaded: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    config: dict[str, Any] = field(default_factory=dict)  # the run config of the file giving the harmonizer
    fast_matting: dict[str, Callable[[np.ndarray], np.ndarray]] = field(
        default_factory=dict, repr=False
    )  # engine → forward, made on first use

    @property
    def harmonizer_output(self) -> str:
        """How the harmonizer's output becomes the picture (``forward.HARMONIZER_OUTPUTS``)."""
        return self.nets.harmonizer_output

    def network(self, name: str) -> torch.nn.Module:
        """The ``matting`` or ``harmonization`` network; CompositeError when not loaded."""
        net: torch.nn.Module | None = getattr(self.nets, name)
        if net is None:
            where = ", ".join(self.sources) or "the model"
            raise CompositeError(f"{where}: holds no {name} network (give {HINTS[name]})")
        return net

    def trimap(
        self,
        image: np.ndarray,
        trimap: ImageInput | None = None,
        mask: ImageInput | None = None,
        band: int | None = None,
    ) -> np.ndarray:
        """uint8 (H, W) trimap {0, 128, 255}: ``trimap`` checked, or made from a coarse ``mask``
        (≥ 128 = person; ``ops.trimap_from_mask`` with an unknown band of ``band`` px, default
        ``ops.MASK_BAND``), or with neither from the automatic person mask (``infer.automask``:
        band default 2 % of the longer side; ``automask.NoPersonError`` when it finds none;
        a one-line ValueError naming the install when the optional extra ``auto`` is missing)."""
        if trimap is not None and mask is not None:
            raise CompositeError("give a trimap or a mask, not both")
        if trimap is None and mask is None:
            from hmh_train.infer.automask import auto_trimap, load_segmenter

            return auto_trimap(load_segmenter(), image, band)
        if mask is not None:
            return ops.trimap_from_mask(
                as_gray(mask, image.shape, "mask"), ops.MASK_BAND if band is None else band
            )
        assert trimap is not None  # for type checkers: the check above
        where = os.fspath(trimap) if isinstance(trimap, (str, os.PathLike)) else "trimap"
        return check_trimap(as_gray(trimap, image.shape, "trimap"), where)

    def matte(
        self,
        image: ImageInput,
        trimap: ImageInput | None = None,
        *,
        mask: ImageInput | None = None,
        band: int | None = None,
        exact: bool = False,
        engine: str = "auto",
        scale: float | None = None,
        max_side: int = bounded.DEFAULT_MAX_SIDE,
        tile: int = bounded.DEFAULT_TILE,
    ) -> np.ndarray:
        """Alpha matte, uint8 ``(H, W)`` 0–255, of an RGB image and its trimap (or a coarse
        ``mask``, or neither: the automatic person mask; see ``trimap``). ``exact``: IndexNet's
        published demo procedure step by step on the whole image
        (``protocols.indexnet_demo_alpha``); default: the fast path (``infer.matte``), within
        one gray level of it, on ``engine`` ("auto": ONNX Runtime for IndexNet on the CPU when
        installed, else "torch"; or "onnxruntime"), through ``infer.bounded`` (images whose
        longer side exceeds ``max_side`` run at that size, crops of at most ``tile`` + 512 px;
        0 = no limit). ``scale`` (e.g. 0.5): shrink the image (each crop) by that factor first,
        the half-size shortcut of Deep Image Matting's demo (``protocols.dim_demo_alpha``);
        None: full resolution. The matting network may be IndexNet or Deep Image Matting."""
        image = as_rgb(image)
        net = self.network("matting")
        tri = self.trimap(image, trimap, mask, band)
        if exact:
            return protocols.dim_demo_alpha(net, image, tri, scale)
        engine = pick_engine(engine, self.device, net)
        if engine not in self.fast_matting:
            self.fast_matting[engine] = prepare(net, engine)
        predict = partial(fast_alpha, self.fast_matting[engine], scale=scale)
        return bounded.bounded_uint8(predict, image, tri, max_side, tile)

    def harmonize_size_check(self, size: int) -> torch.nn.Module:
        """The harmonization network if it can run at ``size``² (a positive multiple of its
        2**num_downs; a network with an ``input_size``, DIH, runs at that side whatever ``size``
        says; a non-learned method, ``infer.methods``, has its own size rule); CompositeError
        otherwise."""
        net = self.network("harmonization")
        if isinstance(net, MethodHarmonizer) or getattr(net, "input_size", None):
            return net
        step = 2 ** int(getattr(net, "num_downs", 8))
        if size <= 0 or size % step:
            raise CompositeError(f"--size {size} is not a multiple of {step} (2**num_downs of the U-Net)")
        return net

    def harmonize(
        self,
        composite: ImageInput,
        mask: ImageInput,
        *,
        size: int = protocols.DOVENET_SIZE,
        output: str | None = None,
    ) -> np.ndarray:
        """Harmonized uint8 ``(H, W, 3)`` RGB of a composite and the uint8 ``(H, W)`` mask of
        the region to adjust (255 = adjust), by DoveNet's test transforms at ``size``² with the
        change carried back to full size (``protocols.dovenet_harmonize``). ``output``: the
        output form (None: the one its run trained with). A non-learned method (``load("xue")``)
        runs instead at its own size (``size`` does not apply)."""
        net = self.harmonize_size_check(size)
        size = getattr(net, "input_size", size)  # DIH runs at its own side only
        form = check_output_form(output, self.harmonizer_output, ", ".join(self.sources) or "the model")
        composite = as_rgb(composite)
        mask = as_gray(mask, composite.shape, "mask")
        if isinstance(net, MethodHarmonizer):
            try:
                return net.function(composite, mask)
            except METHOD_ERRORS as exc:
                raise CompositeError(str(exc)) from None
        return protocols.dovenet_harmonize(net, composite, mask, size, form)

    def harmonize_batch(
        self,
        composites: np.ndarray,
        *,
        alpha: np.ndarray | None = None,
        mask: np.ndarray | None = None,
        side: str | None = None,
        output: str | None = None,
    ) -> np.ndarray:
        """Harmonized uint8 ``(N, H, W, 3)`` RGB of uint8 composites ``(N, H, W, 3)`` at their own
        size (H, W multiples of 2**num_downs: shard samples), as evaluation runs the U-Net
        (``ops.harmonize_any_size``). The region to adjust: ``mask`` uint8 ``(N, H, W)``
        (255 = adjust), or from the true ``alpha`` ``(N, H, W)`` and ``side``
        (``forward.region_mask``: 1 − A for "background"). Rounded to uint8."""
        net = self.network("harmonization")
        form = check_output_form(output, self.harmonizer_output, ", ".join(self.sources) or "the model")
        if (alpha is None) == (mask is None):
            raise CompositeError("give exactly one of an alpha or a mask")
        with torch.inference_mode():
            comp = torch.from_numpy(np.asarray(composites)).to(self.device).permute(0, 3, 1, 2).float() / 255
            guide = torch.from_numpy(np.asarray(mask if alpha is None else alpha)).to(self.device)[:, None]
            guide = guide.float() / 255
            region = guide if alpha is None else region_mask(guide, side or self.side or "background")
            try:
                out = ops.harmonize_any_size(net, comp, region, output=form)
            except METHOD_ERRORS as exc:  # a non-learned method that cannot use one of them
                raise CompositeError(f"{net.name}: {exc}") from None
            return (out.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()

    def compose(
        self,
        image: ImageInput,
        background: ImageInput,
        *,
        alpha: ImageInput | None = None,
        trimap: ImageInput | None = None,
        mask: ImageInput | None = None,
        band: int | None = None,
        harmonize_size: int = ops.HARMONIZE_SIDE,
        side: str | None = None,
        max_side: int = bounded.DEFAULT_MAX_SIDE,
        tile: int = bounded.DEFAULT_TILE,
    ) -> Composition:
        """The paper's test phase: alpha (given, or from the trimap/mask, or with none of the
        three from the automatic person mask; see ``trimap``), the portrait over ``background``
        (scaled to cover it, centre-cropped), then the harmonizer at ``harmonize_size``² (0: full
        size) adjusting ``side`` ("background": the new scene, the paper; "foreground": the
        person; None: the side it was trained on). A photo above ``max_side`` or one ``tile``
        crop is matted in bounded memory first (``bounded.bounded_matte``)."""
        image = as_rgb(image)
        h, w = image.shape[:2]
        background = ops.fit_background(as_rgb(background), h, w)
        side = side or self.side or "background"
        if side not in SIDES:
            raise CompositeError(f"side must be one of {', '.join(SIDES)}, got {side!r}")
        given = [k for k, v in (("trimap", trimap), ("alpha", alpha), ("mask", mask)) if v is not None]
        if len(given) > 1:
            raise CompositeError(
                "give exactly one of a trimap, an alpha or a mask (or none: the automatic mask)"
            )
        to, alpha_t, trimap_t = self.device, None, None
        if alpha is not None:
            alpha_t = ops.to_tensor(as_gray(alpha, image.shape, "alpha"), to)
        else:  # a trimap as given (values snapped: < 64 → 0, ≥ 192 → 255), or made from the mask
            net = self.network("matting")
            if trimap is not None:
                tri = as_gray(trimap, image.shape, "trimap")
            else:
                tri = self.trimap(image, None, mask, band)
            if bounded.needs_bounding(h, w, max_side, tile):
                tri = np.where(tri < 64, 0, np.where(tri >= 192, 255, 128)).astype(np.uint8)
                alpha_u8 = bounded.bounded_matte(net, image, tri, to, max_side, tile)
                alpha_t = ops.to_tensor(alpha_u8, to)
            else:
                trimap_t = ops.trimap_to_unit(tri).to(to)
        try:
            with torch.inference_mode():
                made = ops.compose(
                    self.nets,
                    ops.to_tensor(image, to),
                    ops.to_tensor(background, to),
                    trimap=trimap_t,
                    alpha=alpha_t,
                    harmonize_side=harmonize_size or None,
                    altered=side,
                )
        except METHOD_ERRORS as exc:  # a non-learned harmonizer that cannot use this composite
            raise CompositeError(f"{getattr(self.nets.harmonization, 'name', 'harmonizer')}: {exc}") from None
        harmonized = made["harmonized"]
        return Composition(
            ops.to_uint8(made["alpha"]),
            ops.to_uint8(made["composite"]),
            None if harmonized is None else ops.to_uint8(harmonized),
        )

    def composite(self, image: ImageInput, background: ImageInput, **options: Any) -> np.ndarray:
        """The harmonized composite, uint8 ``(H, W, 3)`` RGB (the plain composite without a
        harmonization net): ``compose(image, background, **options).final``."""
        return self.compose(image, background, **options).final


def load(
    *checkpoints: str | os.PathLike[str],
    device: str | torch.device = "cpu",
    harmonizer_output: str | None = None,
    log: Callable[[str], Any] | None = None,
) -> Model:
    """A ``Model`` from one or more checkpoints: run folders (best.pt, else last.pt), ``.pt``
    files, IndexNet's released ``.pth.tar`` (or its ``deep_matting.pth.tar``) and/or DoveNet's
    ``latest_net_G.pth``, or a non-learned harmonization method by name (``infer.methods``:
    ``"xue"``); each gives the networks it holds, a later one's replacing an earlier one's. ``device``: "cpu",
    "cuda", "auto"… ``harmonizer_output`` overrides the form the harmonizer's run trained with
    (checked: ``forward.check_output_form``). ``log`` receives one line per loaded network."""
    from hmh_train.train.distributed import pick_device

    if not checkpoints:
        raise CompositeError("load() needs at least one checkpoint (a run folder or a weights file)")
    paths = tuple(os.fspath(p) for p in checkpoints)
    # one-line error naming the path when there is none; a method name stands for itself
    files = [p if is_method(p) else checkpoint_file(p) for p in paths]
    dev = pick_device(str(device)) if not isinstance(device, torch.device) else device
    merged, side, source, kept = Nets(), None, None, {}
    lines: list[str] = []
    for path, file in zip(paths, files, strict=True):
        if is_method(path):
            nets, config = method_nets(path, lines.append, strict=True)
        else:
            nets, config = load_nets(file, device=dev, log=lines.append)
        for name in NET_NAMES:
            if getattr(nets, name) is not None:
                setattr(merged, name, getattr(nets, name))
        if nets.harmonization is not None:
            side, kept = trained_side(config), config
            merged.harmonizer_output, source = nets.harmonizer_output, path
    if source is not None:
        merged.harmonizer_output = check_output_form(harmonizer_output, merged.harmonizer_output, source)
    if log is not None:
        for line in lines:
            log(line)
    return Model(merged, dev, side, tuple(lines), paths, kept)
