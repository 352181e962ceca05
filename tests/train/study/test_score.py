"""``hmh-train study score`` on a hand-made ratings file equals an independent computation
(pure Python ``statistics`` and explicit loops), and reports what it skipped."""

from __future__ import annotations

import csv
import itertools
import json
import statistics

import numpy as np
import pytest
from click.testing import CliRunner

from hmh_train.cli import main
from hmh_train.study.stats import bootstrap_weights
from tests.train.study.conftest import write_hand_study

METHODS = ("I_d", "bad", "good")
RATERS = ("ann", "bob", "cy")


def line(rater, item, score, **extra):
    return json.dumps(
        {"time": "2026-01-01T00:00:00.000Z", "rater": rater, "item": item, "score": score, **extra}
    )


@pytest.fixture
def hand_made(tmp_path):
    """A study of 8 samples × (I_d, bad, good) and a ratings file written line by line here:
    the three raters score every item by a fixed rule, dee (a constant rater) gives 3 to five
    items, ann re-scores one item, and the file has a junk line, a rating of an unknown item
    and a last line cut short. Returns (study dir, counted ratings {(rater, item): score})."""
    study = write_hand_study(tmp_path / "study", samples=8, methods=METHODS)
    by = {(e["sample"], e["method"]): item for item, e in study["items"].items()}
    base = {
        "I_d": lambda r, s: 2 + (r + s) % 3,
        "bad": lambda r, s: 1 + s % 2,
        "good": lambda r, s: 4 + (r * s) % 2,
    }
    counted, lines = {}, []
    for s, sample in enumerate(study["samples"]):
        for r, rater in enumerate(RATERS):
            for method in METHODS:
                counted[(rater, by[(sample, method)])] = base[method](r, s)
                lines.append(line(rater, by[(sample, method)], base[method](r, s)))
    first_good = by[(study["samples"][0], "good")]
    lines.insert(2, line("ann", first_good, 1))  # ann's first score of it, replaced later
    lines.insert(5, "this is not JSON")
    lines.append(line("ann", "ffffffffffff", 5))
    for s in range(5):
        counted[("dee", by[(study["samples"][s], "I_d")])] = 3
        lines.append(line("dee", by[(study["samples"][s], "I_d")], 3))
    text = "\n".join(lines) + "\n" + line("bob", first_good, 2)[:30]
    (tmp_path / "study" / "ratings.jsonl").write_text(text, encoding="utf-8")
    return tmp_path / "study", study, counted


def independent(study, counted):
    """Per method: MOS, Std over per-image means, Std over all ratings, n_ratings, n_raters."""
    out = {}
    for method in METHODS:
        mine = [
            (rater, study["items"][item]["sample"], score)
            for (rater, item), score in counted.items()
            if study["items"][item]["method"] == method
        ]
        images = sorted({sample for _, sample, _ in mine})
        per_image = [statistics.fmean([sc for _, sa, sc in mine if sa == image]) for image in images]
        out[method] = {
            "MOS": statistics.fmean([sc for *_, sc in mine]),
            "std_images": statistics.stdev(per_image),
            "std_ratings": statistics.stdev([sc for *_, sc in mine]),
            "n_ratings": len(mine),
            "n_raters": len({rater for rater, *_ in mine}),
            "per_image": dict(zip(images, per_image, strict=False)),
        }
    return out


def exact_p(d):
    flips = [
        abs(sum(s * x for s, x in zip(signs, d, strict=False)))
        for signs in itertools.product((-1, 1), repeat=len(d))
    ]
    return sum(f >= abs(sum(d)) - 1e-12 for f in flips) / len(flips)


def test_score_equals_an_independent_computation(hand_made, tmp_path):
    study_dir, study, counted = hand_made
    result = CliRunner().invoke(
        main,
        ["study", "score", str(study_dir), "--out", str(tmp_path / "res"), "--n-boot", "300", "--seed", "5"],
    )
    assert result.exit_code == 0, result.output
    truth = independent(study, counted)

    with open(tmp_path / "res" / "mos.csv", newline="") as handle:
        assert handle.readline() == "method,MOS,Std,n_ratings,n_raters,ci_low,ci_high\n"
        handle.seek(0)
        rows = list(csv.DictReader(handle))
    assert [r["method"] for r in rows] == list(METHODS)
    report = json.loads((tmp_path / "res" / "mos.json").read_text())
    for row, full in zip(rows, report["methods"], strict=False):
        t = truth[row["method"]]
        assert float(row["MOS"]) == pytest.approx(t["MOS"], abs=5e-5)
        assert float(row["Std"]) == pytest.approx(t["std_images"], abs=5e-5)
        assert (int(row["n_ratings"]), int(row["n_raters"])) == (t["n_ratings"], t["n_raters"])
        assert full["MOS"] == pytest.approx(t["MOS"], abs=1e-12)
        assert full["std_ratings"] == pytest.approx(t["std_ratings"], abs=1e-12)
        assert float(row["ci_low"]) <= t["MOS"] <= float(row["ci_high"])
    assert [m["n_ratings"] for m in report["methods"]] == [
        29,
        24,
        24,
    ]  # 24 + dee's 5; the re-score counts once

    # the bootstrap CI: replicate MOS by explicit resampling with the documented draws
    raters, samples = sorted({r for r, _ in counted}), study["samples"]
    wr, ws = bootstrap_weights(np.random.default_rng(5), len(raters), len(samples), 300)
    for m, method in enumerate(METHODS):
        reps = []
        for b in range(300):
            drawn = [
                score
                for (rater, item), score in counted.items()
                if study["items"][item]["method"] == method
                for _ in range(
                    int(wr[b, raters.index(rater)] * ws[b, samples.index(study["items"][item]["sample"])])
                )
            ]
            if drawn:
                reps.append(statistics.fmean(drawn))
        assert [report["methods"][m]["ci_low"], report["methods"][m]["ci_high"]] == pytest.approx(
            np.percentile(reps, [2.5, 97.5]), abs=1e-12
        )

    # pairs: exact sign-flip p over the 8 images, Holm by hand
    pairs = {(p["a"], p["b"]): p for p in report["pairs"]}
    raw = {}
    for a, b in itertools.combinations(METHODS, 2):
        d = [truth[a]["per_image"][s] - truth[b]["per_image"][s] for s in samples]
        raw[(a, b)] = exact_p(d)
        assert pairs[(a, b)]["p"] == pytest.approx(raw[(a, b)])
        assert pairs[(a, b)]["mean_diff"] == pytest.approx(statistics.fmean(d))
    ordered = sorted(raw, key=raw.get)
    running = 0.0
    for k, pair in enumerate(ordered):
        running = max(running, min(1.0, (3 - k) * raw[pair]))
        assert pairs[pair]["p_holm"] == pytest.approx(running)
        assert pairs[pair]["significant"] == (running < 0.05)
    assert pairs[("bad", "good")]["significant"] and pairs[("bad", "good")]["p"] == pytest.approx(2 / 256)

    # ratings.csv: every counted rating once, with its sample and method
    with open(tmp_path / "res" / "ratings.csv", newline="") as handle:
        exported = list(csv.DictReader(handle))
    assert {(r["rater"], r["item"]): int(r["score"]) for r in exported} == counted and len(exported) == len(
        counted
    )
    assert all(study["items"][r["item"]] == {"sample": r["sample"], "method": r["method"]} for r in exported)

    # what was skipped or looks odd is said, on stderr and in mos.md
    md = (tmp_path / "res" / "mos.md").read_text()
    for needle in (
        "line 6: not a rating",
        "incomplete (the server stopped while writing it)",
        "1 ratings of items this study does not have",
        "rater 'dee' gave 3 to all 5 pictures",
    ):
        assert needle in result.output and needle in md
    assert "| bad | good | 8 |" in md and "**yes**" in md
    assert str(tmp_path) not in md and str(tmp_path) not in (tmp_path / "res" / "mos.json").read_text()
    assert (tmp_path / "res" / "mos.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote mos.csv, mos.json, mos.md, mos.png, raters.csv, ratings.csv" in result.output


def test_std_over_all_ratings_and_excluded_raters(hand_made, tmp_path):
    study_dir, study, counted = hand_made
    result = CliRunner().invoke(
        main,
        [
            "study",
            "score",
            str(study_dir),
            "--std",
            "ratings",
            "--exclude-rater",
            "dee",
            "--no-plot",
            "--n-boot",
            "50",
        ],
    )
    assert result.exit_code == 0, result.output
    kept = {k: v for k, v in counted.items() if k[0] != "dee"}
    truth = independent(study, kept)
    with open(study_dir / "results" / "mos.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        assert float(row["Std"]) == pytest.approx(truth[row["method"]]["std_ratings"], abs=5e-5)
        assert int(row["n_ratings"]) == truth[row["method"]]["n_ratings"]
    assert not (study_dir / "results" / "mos.png").exists()
    assert "dee" not in (study_dir / "results" / "ratings.csv").read_text()


def test_score_is_reproducible_and_refuses_what_it_cannot_score(hand_made, tmp_path):
    study_dir, _, _ = hand_made
    runner = CliRunner()
    for out in ("a", "b"):
        assert (
            runner.invoke(
                main, ["study", "score", str(study_dir), "--out", str(tmp_path / out), "--no-plot"]
            ).exit_code
            == 0
        )
    assert (tmp_path / "a" / "mos.json").read_bytes() == (tmp_path / "b" / "mos.json").read_bytes()
    (study_dir / "ratings.jsonl").unlink()
    result = runner.invoke(main, ["study", "score", str(study_dir)])
    assert result.exit_code == 1 and "no ratings yet" in result.output and "Traceback" not in result.output
    (study_dir / "ratings.jsonl").write_text("")
    result = runner.invoke(main, ["study", "score", str(study_dir)])
    assert result.exit_code == 1 and "no ratings to score" in result.output
