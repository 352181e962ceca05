"""Colour adjustment of one side of a sample: one randomly chosen transform per sample.

The paper's main setting adjusts the background (B → B_t); its foreground variant adjusts the
portrait I where the person is (I → F_t, Reinhard statistics measured over the person only,
see ``apply_adjustment``'s ``source_weights``). Transforms (names fixed by FORMAT.md):

- ``reinhard``: CIELAB mean/std transfer toward another source image's statistics.
- ``illumination``: ``clip(B · gain + offset)``.
- ``saturation``: MSRCR colour enhancement (paper) or a CIELAB chroma scale (default).

``draw_adjustment`` draws the transform and its parameters from an explicit
``numpy.random.Generator``; ``apply_adjustment`` applies them. Parameters are rounded to 4
decimals when drawn, so the JSON stored in a shard reproduces B_t exactly.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from hmh_builder.kernels import colour

TRANSFORMS = ("reinhard", "illumination", "saturation")
ILLUMINATION_STYLES = ("offset", "exposure")
SATURATION_STYLES = ("msrcr", "chroma")


@dataclass(frozen=True)
class AdjustSettings:
    """Probabilities, ranges and styles of the background adjustment.

    Attributes:
        p_reinhard, p_illumination, p_saturation: probability of each transform (sum to 1).
        illumination_style: ``"offset"`` adds one uniform offset in ``illumination_offset``
            to every channel (the paper); ``"exposure"`` multiplies by 2**EV with EV uniform
            in ``exposure_stops`` (a camera exposure change: dark areas stay dark).
        illumination_offset: (low, high) additive offset range, 0..255 units.
        exposure_stops: (low, high) EV range for the exposure style.
        saturation_style: ``"msrcr"`` (the paper's colour enhancement) or ``"chroma"``
            (scale CIELAB a*/b* by a factor drawn log-uniformly in ``saturation_factor``).
        saturation_factor: (low, high) chroma factor range, low > 0.
        msrcr_sigmas: retinex scales in pixels of a ``msrcr_reference_size``-pixel image
            (the reference ran on 800-pixel-tall portraits); scaled to the actual size.
        msrcr_stretch: stretch channels between the 1% and 99% quantiles (True) or hard-clip
            like the reference script (False).
    """

    p_reinhard: float = 1 / 3
    p_illumination: float = 1 / 3
    p_saturation: float = 1 / 3
    illumination_style: str = "exposure"
    illumination_offset: tuple = (-100.0, 200.0)
    exposure_stops: tuple = (-1.0, 1.0)
    saturation_style: str = "chroma"
    saturation_factor: tuple = (0.5, 2.0)
    msrcr_sigmas: tuple = (15.0, 80.0, 200.0)
    msrcr_reference_size: int = 800
    msrcr_stretch: bool = True

    def __post_init__(self):
        _validate(self)

    @property
    def probabilities(self) -> tuple[float, float, float]:
        """(p_reinhard, p_illumination, p_saturation), in TRANSFORMS order."""
        return (self.p_reinhard, self.p_illumination, self.p_saturation)

    def to_dict(self) -> dict:
        """JSON-friendly dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> AdjustSettings:
        """Inverse of to_dict; missing keys keep their defaults, unknown keys raise ValueError."""
        if not isinstance(data, dict):
            raise ValueError(f"adjust settings must be a JSON object, got {type(data).__name__}")
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown adjust setting(s): {', '.join(unknown)}; known: {', '.join(known)}")
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**kwargs)


def _range(name: str, value, low_bound=-math.inf, positive=False) -> None:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair of numbers [low, high], got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi or lo < low_bound or (positive and lo <= 0):
        raise ValueError(
            f"{name} must be finite with low <= high{' and low > 0' if positive else ''}, got {value!r}"
        )


def _validate(s: AdjustSettings) -> None:
    probs = s.probabilities
    if not all(isinstance(p, (int, float)) and not isinstance(p, bool) and p >= 0 for p in probs):
        raise ValueError(f"transform probabilities must be numbers >= 0, got {probs}")
    if abs(sum(probs) - 1.0) > 1e-6:
        raise ValueError(f"p_reinhard + p_illumination + p_saturation must be 1, got {sum(probs):.6f}")
    if s.illumination_style not in ILLUMINATION_STYLES:
        raise ValueError(
            f"illumination_style must be one of {ILLUMINATION_STYLES}, got {s.illumination_style!r}"
        )
    if s.saturation_style not in SATURATION_STYLES:
        raise ValueError(f"saturation_style must be one of {SATURATION_STYLES}, got {s.saturation_style!r}")
    _range("illumination_offset", s.illumination_offset)
    _range("exposure_stops", s.exposure_stops)
    _range("saturation_factor", s.saturation_factor, positive=True)
    sig = s.msrcr_sigmas
    if not isinstance(sig, tuple) or not sig or not all(isinstance(v, (int, float)) and v > 0 for v in sig):
        raise ValueError(f"msrcr_sigmas must be a non-empty list of positive numbers, got {sig!r}")
    if not isinstance(s.msrcr_reference_size, int) or s.msrcr_reference_size <= 0:
        raise ValueError(f"msrcr_reference_size must be a positive integer, got {s.msrcr_reference_size!r}")
    if not isinstance(s.msrcr_stretch, bool):
        raise ValueError(f"msrcr_stretch must be true or false, got {s.msrcr_stretch!r}")


#: The HMH reference recipe: equal probabilities, additive brightness offset U[−100, 200],
#: MSRCR (sigmas 15/80/200 at 800 px) hard-clipped as in the reference script.
PAPER_ADJUST = AdjustSettings(illumination_style="offset", saturation_style="msrcr", msrcr_stretch=False)

#: Our default. Equal probabilities (no evidence favours one transform). Illumination as an
#: exposure change of ±1 stop (gain 0.5–2): the paper's +200 offset turns most backgrounds
#: white and −100 crushes a third of the range to black, which leaves nothing to harmonize;
#: real exposure mismatches between photos are multiplicative and rarely exceed a stop.
#: Saturation as a chroma scale drawn log-uniformly in [0.5, 2] (halve to double colourfulness,
#: symmetric around "unchanged"), because MSRCR also changes lightness and contrast and
#: hard-clips, so it overlaps the illumination transform and is far slower.
DEFAULT_ADJUST = AdjustSettings()


def draw_adjustment(rng: np.random.Generator, settings: AdjustSettings = DEFAULT_ADJUST) -> tuple[str, dict]:
    """Draw one transform name and its JSON-friendly parameters from ``rng``.

    For ``reinhard`` the params are empty: the caller picks the target image (and adds its
    id under ``"target"``) with the same generator.
    """
    name = TRANSFORMS[int(rng.choice(3, p=np.asarray(settings.probabilities) / sum(settings.probabilities)))]
    if name == "reinhard":
        return name, {}
    if name == "illumination":
        if settings.illumination_style == "offset":
            offset = round(float(rng.uniform(*settings.illumination_offset)), 4)
            return name, {"gain": 1.0, "offset": offset}
        stops = round(float(rng.uniform(*settings.exposure_stops)), 4)
        return name, {"gain": round(2.0**stops, 4), "offset": 0.0, "stops": stops}
    if settings.saturation_style == "msrcr":
        return name, {
            "method": "msrcr",
            "sigmas": [float(v) for v in settings.msrcr_sigmas],
            "reference_size": settings.msrcr_reference_size,
            "stretch": settings.msrcr_stretch,
        }
    lo, hi = (math.log(v) for v in settings.saturation_factor)
    return name, {"method": "chroma", "factor": round(math.exp(float(rng.uniform(lo, hi))), 4)}


def apply_adjustment(
    background_rgb: np.ndarray,
    transform_name: str,
    params: dict,
    target_stats=None,
    source_weights: np.ndarray | None = None,
) -> np.ndarray:
    """Apply a drawn adjustment to a uint8 RGB image (H, W, 3), uint8 RGB out.

    The image is the background B (→ B_t) or, for the foreground variant, the portrait I
    (→ F_t). Every pixel is transformed; MSRCR and the quantile stretch see the whole image.

    Args:
        transform_name: one of TRANSFORMS.
        params: as returned by draw_adjustment (extra keys such as "target" are ignored).
        target_stats: (mean, std) from colour.lab_mean_std of the target image; required
            for ``reinhard``.
        source_weights: optional (H, W) ≥ 0 weights of the source statistics for
            ``reinhard`` (the alpha matte for the foreground variant: the person's colours
            are matched); None: the whole image. Ignored by the other transforms.
    """
    if transform_name == "reinhard":
        if target_stats is None:
            raise ValueError("reinhard needs target_stats=(mean, std) of the target image")
        return colour.reinhard_transfer(background_rgb, *target_stats, source_weights=source_weights)
    if transform_name == "illumination":
        return colour.adjust_illumination(background_rgb, float(params["gain"]), float(params["offset"]))
    if transform_name == "saturation":
        if params.get("method") == "msrcr":
            scale = max(background_rgb.shape[:2]) / float(params["reference_size"])
            sigmas = [s * scale for s in params["sigmas"]]
            return colour.msrcr(background_rgb, sigmas=sigmas, stretch=bool(params["stretch"]))
        return colour.adjust_saturation(background_rgb, float(params["factor"]))
    raise ValueError(f"unknown transform {transform_name!r}; choose one of {TRANSFORMS}")
