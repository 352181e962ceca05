"""The published test-time procedures of the two networks, as pure functions on arrays.

- ``indexnet_demo_alpha``: IndexNet's ``scripts/demo.py`` (``inference``), the procedure behind
  its published Composition-1k figures (``hltrainval.validate`` does the same).
- ``dim_demo_alpha``: Deep Image Matting's demo in the same repository
  (``scripts/demo_deep_matting.py``): the same steps, with its optional half-size shortcut.
- ``dovenet_harmonize``: DoveNet's test transforms (``data/iharmony4_dataset.py``,
  ``data/base_dataset.get_transform`` with ``--preprocess none``, ``util.tensor2im``).
- ``dovenet_published_output`` and ``dovenet_tensor2im``: what DoveNet's ``test.py`` scores for
  its published iHarmony4 figures: the generator in **training mode** (``--eval`` not given:
  batch statistics at batch size 1, dropout active; seeded here), and the real image and
  composite passed through the same normalise → ``tensor2im`` round trip as the output.

All take and return uint8 numpy arrays in RGB order (no files; ``infer.apply`` does the I/O),
run the network without gradients (in eval mode unless said otherwise) on the device its
parameters are on, and follow the official arithmetic step by step (float64 normalisation
then float32, OpenCV/PIL resizes, truncation to uint8), so that the results equal the official
ones up to the network's float rounding (checked against ``shared/anchors/``: within one gray
level on ≥ 99.9 % of pixels).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
from PIL import Image

#: IndexNet's demo normalisation over (R, G, B, trimap); the trimap channel becomes trimap/255.
DEMO_MEAN = np.array([0.485, 0.456, 0.406, 0.0]).reshape(1, 1, 4)
DEMO_STD = np.array([0.229, 0.224, 0.225, 1.0]).reshape(1, 1, 4)
DEMO_STRIDE = 32
#: DoveNet's test size: every image is resized to DOVENET_SIZE × DOVENET_SIZE.
DOVENET_SIZE = 256


def _device(net) -> torch.device:
    return next(net.parameters()).device


def demo_normalise(image_rgb_uint8: np.ndarray, trimap_uint8: np.ndarray) -> np.ndarray:
    """float32 ``(H, W, 4)``: RGB and trimap stacked, (x/255 − mean)/std in float64 → float32
    (``DEMO_MEAN``/``DEMO_STD``: ImageNet on RGB, the trimap channel becomes trimap/255)."""
    image, trimap = np.asarray(image_rgb_uint8), np.asarray(trimap_uint8)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 (H, W, 3) RGB, got {image.dtype} {image.shape}")
    if trimap.shape != image.shape[:2] or trimap.dtype != np.uint8:
        raise ValueError(f"trimap must be uint8 {image.shape[:2]}, got {trimap.dtype} {trimap.shape}")
    stacked = np.concatenate((image, trimap[:, :, None]), axis=2).astype(np.float32)
    scaled = stacked * np.float32(1.0 / 255)  # float32, as the demo's IMG_SCALE * image
    return ((scaled - DEMO_MEAN) / DEMO_STD).astype(np.float32)


def demo_resize(x: np.ndarray, size=None, scale: float | None = None) -> np.ndarray:
    """float32 ``(h, w, 4)`` → resized: the RGB channels with ``cv2.INTER_CUBIC``, the trimap
    channel with ``cv2.INTER_NEAREST`` (the demos' ``image_alignment`` with ``size`` = (w, h),
    ``image_rescale`` with ``scale``: OpenCV's own rounding of w·scale, h·scale)."""
    fx = fy = 0 if scale is None else scale
    rgb = cv2.resize(x[:, :, :3], size, fx=fx, fy=fy, interpolation=cv2.INTER_CUBIC)
    tri = cv2.resize(x[:, :, 3], size, fx=fx, fy=fy, interpolation=cv2.INTER_NEAREST)
    return np.concatenate((rgb, tri[:, :, None]), axis=2)


def demo_align(x: np.ndarray) -> np.ndarray:
    """float32 ``(h, w, 4)`` → ``(1, 4, h', w')``, h', w' = h, w rounded **up** to multiples of
    32 (``demo_resize``)."""
    h, w = x.shape[:2]
    new_h, new_w = (int(math.ceil(s / DEMO_STRIDE) * DEMO_STRIDE) for s in (h, w))
    x = demo_resize(x, (new_w, new_h))
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def indexnet_demo_input(image_rgb_uint8: np.ndarray, trimap_uint8: np.ndarray) -> np.ndarray:
    """The demo's network input, float32 ``(1, 4, H', W')``, H', W' = H, W rounded **up** to
    multiples of 32: ``demo_normalise``, then the RGB channels resized with
    ``cv2.INTER_CUBIC`` and the trimap channel with ``cv2.INTER_NEAREST`` (``demo_align``)."""
    return demo_align(demo_normalise(image_rgb_uint8, trimap_uint8))


def dim_demo_input(image_rgb_uint8: np.ndarray, trimap_uint8: np.ndarray, scale: float | None = None):
    """Deep Image Matting's demo input (``scripts/demo_deep_matting.py``), float32
    ``(1, 4, H', W')``: ``demo_normalise``; with ``scale`` (the demo's default 0.5, its
    half-size shortcut) ``image_rescale`` (``demo_resize`` by that factor); ``demo_align``.
    Without ``scale`` it equals ``indexnet_demo_input``."""
    x = demo_normalise(image_rgb_uint8, trimap_uint8)
    if scale is not None:
        h, w = x.shape[:2]
        if not 0 < scale or min(round(h * scale), round(w * scale)) < 1:
            raise ValueError(f"a {w}×{h} image cannot be shrunk by {scale} (nothing would be left)")
        x = demo_resize(x, None, scale)
    return demo_align(x)


@torch.no_grad()
def indexnet_demo_alpha(matting_net, image_rgb_uint8: np.ndarray, trimap_uint8: np.ndarray) -> np.ndarray:
    """Alpha matte, uint8 ``(H, W)`` 0–255, of an RGB uint8 ``(H, W, 3)`` image and its uint8
    ``(H, W)`` trimap (0 background, 128 unknown, 255 foreground), any H, W.

    IndexNet's demo, step by step (``shared/anchors/README.md``): normalise and resize up to
    multiples of 32 (``indexnet_demo_input``); forward pass in eval mode; resize the raw output
    back to H × W with ``cv2.INTER_CUBIC``, clip to [0, 1], × 255; where the trimap is not 128
    take the trimap's value; cast to uint8 by truncation. ``matting_net`` is left in eval mode.
    """
    return dim_demo_alpha(matting_net, image_rgb_uint8, trimap_uint8)


@torch.no_grad()
def dim_demo_alpha(
    matting_net, image_rgb_uint8: np.ndarray, trimap_uint8: np.ndarray, scale: float | None = None
) -> np.ndarray:
    """Alpha matte, uint8 ``(H, W)`` 0–255, by Deep Image Matting's demo
    (``scripts/demo_deep_matting.py``) for an RGB uint8 ``(H, W, 3)`` image and uint8 ``(H, W)``
    trimap (0 / 128 / 255): ``dim_demo_input`` (``scale`` None: full resolution, where it is
    IndexNet's procedure too; 0.5: the demo as shipped), forward pass in eval mode,
    ``indexnet_demo_output`` back at H × W. Works with any matting network (IndexNet or DM)."""
    trimap = np.asarray(trimap_uint8)
    x = torch.from_numpy(dim_demo_input(image_rgb_uint8, trimap, scale))
    matting_net.eval()
    raw = matting_net(x.to(_device(matting_net))).float().squeeze().cpu().numpy()
    return indexnet_demo_output(raw, trimap)


def indexnet_demo_output(raw: np.ndarray, trimap_uint8: np.ndarray) -> np.ndarray:
    """The demo's last steps: the raw network output float32 ``(H', W')`` resized back to the
    trimap's H × W with ``cv2.INTER_CUBIC``, clipped to [0, 1], × 255, the trimap's value where
    it is not 128, truncated to uint8 ``(H, W)``."""
    trimap = np.asarray(trimap_uint8)
    h, w = trimap.shape
    alpha = cv2.resize(raw, (w, h), interpolation=cv2.INTER_CUBIC)
    alpha = np.clip(alpha, 0, 1) * np.float32(255.0)
    unknown = np.equal(trimap, 128).astype(np.float32)
    alpha = (1 - unknown) * trimap + unknown * alpha
    return alpha.astype(np.uint8)


def dovenet_inputs(
    composite_rgb_uint8: np.ndarray, mask_uint8: np.ndarray, size: int = DOVENET_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """DoveNet's test transforms: ``(composite float32 (size, size, 3) in [−1, 1], mask float32
    (size, size) in {0, 1})``. The composite is resized with PIL bilinear (torchvision's
    ``resize`` of a PIL image), scaled to [0, 1] and normalised with mean = std = 0.5; the mask
    becomes a 1-bit image (PIL ``convert("1")``, which dithers grey values: give a binary mask)
    and is resized with nearest neighbour (PIL's rule for 1-bit images)."""
    comp, mask = np.asarray(composite_rgb_uint8), np.asarray(mask_uint8)
    if comp.ndim != 3 or comp.shape[2] != 3 or comp.dtype != np.uint8:
        raise ValueError(f"composite must be uint8 (H, W, 3) RGB, got {comp.dtype} {comp.shape}")
    if mask.shape != comp.shape[:2] or mask.dtype != np.uint8:
        raise ValueError(f"mask must be uint8 {comp.shape[:2]}, got {mask.dtype} {mask.shape}")
    comp_img = Image.fromarray(comp, "RGB").resize((size, size), Image.BILINEAR)
    mask_img = Image.fromarray(mask, "L").convert("1").resize((size, size), Image.NEAREST)
    x = np.asarray(comp_img, np.float32) / np.float32(255.0)
    x = (x - np.float32(0.5)) / np.float32(0.5)
    return x, np.asarray(mask_img, np.uint8).astype(np.float32)


@torch.no_grad()
def dovenet_harmonize(
    harmonization_net,
    composite_rgb_uint8: np.ndarray,
    mask_uint8: np.ndarray,
    size: int = DOVENET_SIZE,
    output: str = "paper",
) -> np.ndarray:
    """Harmonized image, uint8 ``(H, W, 3)`` RGB, of an RGB uint8 ``(H, W, 3)`` composite and
    the uint8 ``(H, W)`` mask of the region whose colours are adjusted (255 = adjust; DoveNet's
    convention: the pasted foreground in iHarmony4, the background in HMH).

    DoveNet's test procedure (``dovenet_inputs``; eval mode, see docs/networks.md on DoveNet's
    training-mode figures); output → ``(y + 1) / 2 · 255`` → uint8 by truncation. At
    ``size × size`` input that is the official result itself. Other sizes: the change
    ``output − resized composite`` (float, 0–255) is resized back to H × W (bilinear) and added
    to the full-resolution composite, clipped and truncated, so full-resolution detail stays.
    ``size`` must be a multiple of 2**num_downs of the network (256 for DoveNet's).

    ``output`` (``forward.HARMONIZER_OUTPUTS``): ``paper`` is the procedure above. ``keep`` and
    ``residual`` read the network's output through ``forward.proposal_from_raw`` (the network
    input stays DoveNet's), carry its change to H × W the same way and then keep the
    full-resolution composite outside the mask (``forward.finish_harmonized``, with the soft
    mask/255 at full resolution), so pixels whose mask is 0 are returned unchanged.
    """
    comp = np.asarray(composite_rgb_uint8)
    x, mask = dovenet_inputs(comp, mask_uint8, size)
    inputs = torch.from_numpy(np.concatenate((x, mask[:, :, None]), axis=2).transpose(2, 0, 1)[None])
    harmonization_net.eval()
    y = harmonization_net(inputs.to(_device(harmonization_net))).float()[0].cpu().numpy()
    h, w = comp.shape[:2]
    if output != "paper":
        return _keep_form(y, x, comp, mask_uint8, output)
    out = (np.transpose(y, (1, 2, 0)) + 1) / 2.0 * 255.0  # float32, util.tensor2im
    if (h, w) == (size, size):
        return out.astype(np.uint8)
    small = (x + 1) / 2.0 * 255.0  # the composite the net saw
    change = cv2.resize(out - small, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(comp.astype(np.float32) + change, 0, 255).astype(np.uint8)


def dovenet_tensor2im(image_rgb_uint8: np.ndarray) -> np.ndarray:
    """What DoveNet's ``test.py`` scores as ``real`` and ``comp``: uint8 ``(H, W, 3)`` →
    ``to_tensor`` (x/255, float32) → normalise with mean = std = 0.5 → ``util.tensor2im``
    ((x + 1) / 2 · 255 in float32, truncated to uint8). Float32 rounding makes this lower the
    values 1–63 by one; every other value comes back unchanged."""
    image = np.asarray(image_rgb_uint8)
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got {image.dtype}")
    x = image.astype(np.float32) / np.float32(255.0)
    x = (x - np.float32(0.5)) / np.float32(0.5)
    return ((x + 1) / 2.0 * 255.0).astype(np.uint8)


@torch.no_grad()
def dovenet_published_output(
    harmonization_net,
    composite_rgb_uint8: np.ndarray,
    mask_uint8: np.ndarray,
    seed: int,
    output: str = "paper",
) -> np.ndarray:
    """DoveNet's ``test.py`` output as scored for the published figures, uint8
    ``(256, 256, 3)`` RGB, of a 256×256 composite (uint8 RGB) and mask (uint8, 255 = the
    changed region), both as DoveNet's loader reads them.

    The inputs of :func:`dovenet_inputs`; the network in **training mode** (``test.py`` calls
    ``model.eval()`` only with ``--eval``): batch norm normalises with the statistics of this
    single image and dropout is active, its random draws seeded with ``seed`` (torch's RNGs are
    forked, so the caller's random state is untouched); ``util.tensor2im`` on the output. The
    network's mode and buffers (batch-norm running statistics, which a training-mode pass
    updates) are restored afterwards. ``output`` other than ``paper`` (a harmonizer of ours
    trained in the ``keep``/``residual`` form) reads the same training-mode output through that
    form (``_keep_form``: region kept, truncated to uint8 as ``tensor2im`` does).
    """
    comp = np.asarray(composite_rgb_uint8)
    if comp.shape[:2] != (DOVENET_SIZE, DOVENET_SIZE):
        raise ValueError(
            f"the published protocol reads {DOVENET_SIZE}×{DOVENET_SIZE} images, "
            f"got {comp.shape[1]}×{comp.shape[0]}"
        )
    x, mask = dovenet_inputs(comp, mask_uint8, DOVENET_SIZE)
    inputs = torch.from_numpy(np.concatenate((x, mask[:, :, None]), axis=2).transpose(2, 0, 1)[None])
    device = _device(harmonization_net)
    was_training = harmonization_net.training
    buffers = {name: b.detach().clone() for name, b in harmonization_net.named_buffers()}
    forked = [device.index or 0] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=forked):
            torch.manual_seed(int(seed))
            harmonization_net.train()
            y = harmonization_net(inputs.to(device)).float()[0].cpu().numpy()
    finally:
        harmonization_net.train(was_training)
        for name, b in harmonization_net.named_buffers():
            b.copy_(buffers[name])
    if output != "paper":
        return _keep_form(y, x, comp, mask_uint8, output)
    return ((np.transpose(y, (1, 2, 0)) + 1) / 2.0 * 255.0).astype(np.uint8)


def _keep_form(
    y: np.ndarray, x: np.ndarray, comp: np.ndarray, mask_uint8: np.ndarray, output: str
) -> np.ndarray:
    """uint8 ``(H, W, 3)``: the ``keep``/``residual`` forms of ``dovenet_harmonize`` from the raw
    output ``y`` (3, s, s), the network's input composite ``x`` (s, s, 3) in [−1, 1], the uint8
    composite and mask at full resolution."""
    from hmh_train.nets.forward import finish_harmonized, proposal_from_raw

    small = torch.from_numpy(np.ascontiguousarray(((x + 1) / 2.0).transpose(2, 0, 1)))[None]
    proposal = proposal_from_raw(torch.from_numpy(y)[None], small, output)
    h, w = comp.shape[:2]
    if tuple(small.shape[-2:]) == (h, w):  # the proposal itself (as the paper form's output)
        full = (proposal[0] * 255.0).permute(1, 2, 0)
    else:  # its change, resized, on the full-resolution input
        change = ((proposal - small)[0] * 255.0).permute(1, 2, 0).numpy()
        change = cv2.resize(change, (w, h), interpolation=cv2.INTER_LINEAR)
        full = torch.from_numpy(comp.astype(np.float32) + change)
    region = torch.from_numpy(np.asarray(mask_uint8, np.float32) / np.float32(255.0))[:, :, None]
    kept = finish_harmonized(full, torch.from_numpy(comp.astype(np.float32)), region, output)
    return np.clip(kept.numpy(), 0, 255).astype(np.uint8)
