"""The user study's statistics (numpy only; pure functions of the ratings and a generator).

Ratings are parallel integer arrays ``method`` (M methods), ``rater`` (R raters), ``image``
(S samples; the same sample shown by every method is one *image* index) and ``score`` 1–5.

- **MOS** of a method: the mean of all its ratings.
- **Std**: the sample standard deviation (n − 1) either of the method's *per-image means*
  (each image's mean over the raters who scored it; ``std_images``) or of *all its ratings*
  (``std_ratings``). The paper's Table 1 does not say which; both are reported.
- **95% CI**: percentile bootstrap resampling raters *and* images with replacement, crossed
  (each replicate draws R raters and S images; a rating counts as many times as its rater was
  drawn × its image was drawn), so both sources of variation widen the interval.
- **Pairs**: for two methods, the per-image mean scores over the images both were rated on;
  two-sided sign-flip permutation test of the mean paired difference (exact for ≤ 16 images,
  else Monte Carlo with ``(1 + hits) / (1 + draws)``); p-values Holm-corrected over all pairs.
"""

from __future__ import annotations

import itertools

import numpy as np

EXACT_MAX = 16


def cell_sums(method, rater, image, score, shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(sums, counts), float64 arrays ``(M, R, S)`` of the scores per method × rater × image."""
    sums, counts = np.zeros(shape), np.zeros(shape)
    np.add.at(sums, (method, rater, image), np.asarray(score, np.float64))
    np.add.at(counts, (method, rater, image), 1.0)
    return sums, counts


def _std(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1)) if values.size >= 2 else float("nan")


def image_means(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``(M, S)`` mean score of each method on each image over its raters (NaN where unrated)."""
    total, n = sums.sum(axis=1), counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / np.where(n > 0, n, 1), np.nan)


def summarise(method, rater, image, score, n_methods: int, means: np.ndarray) -> list[dict]:
    """Per method: MOS, std_images, std_ratings, n_ratings, n_raters, n_images (NaN when empty)."""
    method, rater, score = np.asarray(method), np.asarray(rater), np.asarray(score, np.float64)
    rows = []
    for m in range(n_methods):
        mine = method == m
        per_image = means[m][np.isfinite(means[m])]
        rows.append(
            {
                "MOS": float(score[mine].mean()) if mine.any() else float("nan"),
                "std_images": _std(per_image),
                "std_ratings": _std(score[mine]),
                "n_ratings": int(mine.sum()),
                "n_raters": int(np.unique(rater[mine]).size),
                "n_images": int(per_image.size),
            }
        )
    return rows


def bootstrap_weights(rng: np.random.Generator, n_raters: int, n_images: int, n_boot: int):
    """(rater weights ``(B, R)``, image weights ``(B, S)``): how often each rater and each image
    is drawn in each of ``n_boot`` replicates (multinomial, equal probabilities)."""
    wr = rng.multinomial(n_raters, np.full(n_raters, 1.0 / n_raters), size=n_boot).astype(np.float64)
    ws = rng.multinomial(n_images, np.full(n_images, 1.0 / n_images), size=n_boot).astype(np.float64)
    return wr, ws


def bootstrap_mos(sums: np.ndarray, counts: np.ndarray, wr: np.ndarray, ws: np.ndarray) -> np.ndarray:
    """``(B, M)`` MOS of every method in every replicate (NaN when a replicate drew none of a
    method's ratings): Σ wr·ws·sums / Σ wr·ws·counts."""
    num = np.einsum("br,mrs,bs->bm", wr, sums, ws)
    den = np.einsum("br,mrs,bs->bm", wr, counts, ws)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def percentile_ci(replicates: np.ndarray, level: float = 0.95) -> np.ndarray:
    """``(M, 2)`` percentile interval of ``(B, M)`` replicates (NaN for a method with none)."""
    out = np.full((replicates.shape[1], 2), np.nan)
    tail = 100 * (1 - level) / 2
    for m in range(replicates.shape[1]):
        values = replicates[:, m][np.isfinite(replicates[:, m])]
        if values.size:
            out[m] = np.percentile(values, [tail, 100 - tail])
    return out


def sign_flip_p(diffs: np.ndarray, rng: np.random.Generator, n_perm: int = 10000) -> float:
    """Two-sided p-value of H0 "the paired differences are symmetric about 0": the share of
    sign flips whose |Σ d| reaches the observed one (exact enumeration for ≤ EXACT_MAX
    differences, else ``n_perm`` random flips with the (1 + hits) / (1 + n_perm) correction)."""
    d = np.asarray(diffs, np.float64)
    if d.size == 0:
        return 1.0
    observed = abs(d.sum()) - 1e-9 * max(1.0, float(np.abs(d).sum()))
    if d.size <= EXACT_MAX:
        codes = np.arange(2**d.size)[:, None] >> np.arange(d.size) & 1
        return float((np.abs((2 * codes - 1) @ d) >= observed).mean())
    signs = rng.choice(np.array([-1.0, 1.0]), size=(n_perm, d.size))
    return float((1 + (np.abs(signs @ d) >= observed).sum()) / (1 + n_perm))


def holm(p_values) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (same order as given), capped at 1."""
    p = np.asarray(p_values, np.float64)
    order = np.argsort(p, kind="stable")
    scaled = (p.size - np.arange(p.size)) * p[order]
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return adjusted


def paired_tests(
    means: np.ndarray, rng: np.random.Generator, n_perm: int = 10000, alpha: float = 0.05
) -> list[dict]:
    """One dict per pair of methods (a < b): images both were rated on, mean difference
    a − b of the per-image means, p, Holm-adjusted p and whether it is below ``alpha``."""
    rows = []
    for a, b in itertools.combinations(range(means.shape[0]), 2):
        both = np.isfinite(means[a]) & np.isfinite(means[b])
        d = means[a][both] - means[b][both]
        rows.append(
            {
                "a": a,
                "b": b,
                "n_images": int(both.sum()),
                "mean_diff": float(d.mean()) if d.size else float("nan"),
                "p": sign_flip_p(d, rng, n_perm),
            }
        )
    for row, adjusted in zip(rows, holm([r["p"] for r in rows]) if rows else [], strict=False):
        row["p_holm"] = float(adjusted)
        row["significant"] = bool(adjusted < alpha)
    return rows
