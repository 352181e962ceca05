"""The study's statistics kernels against slow, obviously correct oracles and hand-worked values."""

from __future__ import annotations

import itertools
import statistics

import numpy as np
import pytest

from hmh_train.study import stats as S


def test_holm_matches_the_hand_worked_example():
    # sorted 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → running max 0.06
    assert S.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert S.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert S.holm([0.2]) == pytest.approx([0.2])


@pytest.mark.parametrize(
    "diffs, p",
    [
        ([1, 1, 1, 1, 1], 2 / 32),
        ([1, -1], 1.0),
        ([2, 1, 1], 2 / 8),
        ([], 1.0),
        ([0, 0, 0], 1.0),
        ([0.5, 0.5, -0.25], 4 / 8),
    ],
)
def test_exact_sign_flip_p_values_worked_by_hand(diffs, p):
    assert S.sign_flip_p(np.array(diffs, float), np.random.default_rng(0)) == pytest.approx(p)


def test_exact_sign_flip_equals_brute_force_enumeration():
    rng = np.random.default_rng(3)
    for n in (3, 7, 12):
        d = rng.integers(-2, 3, n).astype(float) / 2
        flips = [
            abs(sum(s * x for s, x in zip(signs, d, strict=False)))
            for signs in itertools.product((-1, 1), repeat=n)
        ]
        expected = sum(f >= abs(d.sum()) - 1e-12 for f in flips) / len(flips)
        assert S.sign_flip_p(d, rng) == pytest.approx(expected)


def test_monte_carlo_sign_flip_for_many_images():
    d = np.ones(30)  # exact p = 2 / 2**30: Monte Carlo can only say (1 + hits) / (1 + n)
    p = S.sign_flip_p(d, np.random.default_rng(0), n_perm=999)
    assert p == pytest.approx(1 / 1000)
    d = np.random.default_rng(1).normal(size=40)  # no effect: p far from 0
    assert S.sign_flip_p(d - d.mean(), np.random.default_rng(0), n_perm=999) > 0.5


def ratings(seed=0, m=2, r=4, s=5, keep=0.8):
    rng = np.random.default_rng(seed)
    cells = [(a, b, c) for a in range(m) for b in range(r) for c in range(s) if rng.random() < keep]
    method, rater, image = (np.array(v) for v in zip(*cells, strict=False))
    return method, rater, image, rng.integers(1, 6, len(cells)).astype(float)


def test_bootstrap_mos_equals_explicit_resampling():
    method, rater, image, score = ratings()
    sums, counts = S.cell_sums(method, rater, image, score, (2, 4, 5))
    wr, ws = S.bootstrap_weights(np.random.default_rng(7), 4, 5, 50)
    assert (wr.sum(axis=1) == 4).all() and (ws.sum(axis=1) == 5).all()
    fast = S.bootstrap_mos(sums, counts, wr, ws)
    for b in range(50):
        for m in range(2):
            drawn = [
                sc
                for me, ra, im, sc in zip(method, rater, image, score, strict=False)
                if me == m
                for _ in range(int(wr[b, ra]) * int(ws[b, im]))
            ]
            if drawn:
                assert fast[b, m] == pytest.approx(statistics.fmean(drawn))
            else:
                assert np.isnan(fast[b, m])


def test_summarise_equals_the_statistics_module():
    method, rater, image, score = ratings(seed=4)
    sums, counts = S.cell_sums(method, rater, image, score, (2, 4, 5))
    rows = S.summarise(method, rater, image, score, 2, S.image_means(sums, counts))
    for m, row in enumerate(rows):
        mine = [(ra, im, sc) for me, ra, im, sc in zip(method, rater, image, score, strict=False) if me == m]
        per_image = [
            statistics.fmean([sc for _, i, sc in mine if i == im]) for im in sorted({i for _, i, _ in mine})
        ]
        assert row["MOS"] == pytest.approx(statistics.fmean([sc for *_, sc in mine]))
        assert row["std_ratings"] == pytest.approx(statistics.stdev([sc for *_, sc in mine]))
        assert row["std_images"] == pytest.approx(statistics.stdev(per_image))
        assert (row["n_ratings"], row["n_raters"], row["n_images"]) == (
            len(mine),
            len({ra for ra, _, _ in mine}),
            len(per_image),
        )


def test_percentile_ci_skips_empty_replicates():
    reps = np.array([[1.0, np.nan], [2.0, np.nan], [3.0, np.nan], [4.0, np.nan]])
    ci = S.percentile_ci(reps, 0.5)
    assert ci[0] == pytest.approx(np.percentile([1, 2, 3, 4], [25, 75]))
    assert np.isnan(ci[1]).all()


def test_paired_tests_pair_images_rated_for_both_methods():
    means = np.array([[1.0, 2.0, np.nan, 4.0], [2.0, 3.0, 3.0, 5.0], [np.nan] * 4])
    rows = S.paired_tests(means, np.random.default_rng(0))
    assert [(r["a"], r["b"], r["n_images"]) for r in rows] == [(0, 1, 3), (0, 2, 0), (1, 2, 0)]
    assert rows[0]["mean_diff"] == pytest.approx(-1.0) and rows[0]["p"] == pytest.approx(2 / 8)
    assert rows[0]["p_holm"] == pytest.approx(0.75) and rows[0]["significant"] is False
    assert np.isnan(rows[1]["mean_diff"]) and rows[1]["p"] == 1.0
