"""What both command lines report about failures (``hmh_builder.fsio``): an exception's first
line (safe on empty messages), and one failure listing with one shown-line count."""

from __future__ import annotations

import pytest

from hmh_builder import schema
from hmh_builder.fsio import SHOWN_FAILURES, failure_listing, first_line
from hmh_builder.pipeline.summary import summary_lines


@pytest.mark.parametrize(
    "exc, plain, typed",
    [
        (OSError(), "OSError", "OSError"),
        (ValueError(""), "ValueError", "ValueError"),
        (RuntimeError("  \n\n"), "RuntimeError", "RuntimeError"),
        (ValueError("first\nsecond"), "first", "ValueError: first"),
        (RuntimeError("\n  padded first  \nsecond\n"), "padded first", "RuntimeError: padded first"),
        (OSError(2, "No such file or directory"), "[Errno 2] No such file or directory", None),
        (KeyError("k"), "'k'", "KeyError: 'k'"),
    ],
)
def test_first_line(exc, plain, typed):
    assert first_line(exc) == plain
    if typed is not None:
        assert first_line(exc, with_type=True) == typed


def test_failure_listing_shows_ten_then_counts_the_rest():
    assert SHOWN_FAILURES == 10
    assert failure_listing([], "failures.csv") == []
    assert failure_listing(["a: x", "b: y"], "failures.csv") == ["  a: x", "  b: y"]
    ten = [f"f{k}: bad" for k in range(10)]
    assert failure_listing(ten, "failures.csv") == [f"  f{k}: bad" for k in range(10)]
    listed = failure_listing([f"f{k}: bad" for k in range(13)], "failures.txt")
    assert listed == [f"  f{k}: bad" for k in range(10)] + ["  … and 3 more (see failures.txt)"]


def test_build_summary_uses_the_same_listing():
    failures = [{"stage": "decode", "reason": f"img{k}.jpg is truncated"} for k in range(12)]
    counts = {"discovered": 20, "written": 8, "failed": 12, **{s: 0 for s in schema.SPLITS}}
    manifest = {"counts": counts, "shards": [], "content_digest": "d"}
    lines = summary_lines(manifest, failures, 1.0)
    assert lines[1] == "failed by stage: decode 12 (reasons in failures.jsonl)"
    assert lines[2:13] == [f"  decode: img{k}.jpg is truncated" for k in range(10)] + [
        "  … and 2 more (see failures.jsonl)"
    ]
    assert lines[13].startswith(f"{schema.SPLITS[0]}: 0 samples")


@pytest.mark.parametrize(
    "target, command",
    [
        ("hmh_builder.inspect.stats.compute_stats", ["stats"]),
        ("hmh_builder.inspect.preview.write_preview", ["preview", "-o", "p.png"]),
        (
            "hmh_builder.release.package.package_release",
            ["package", "--release", "r", "--name", "n", "--version", "1.0.0"],
        ),
    ],
)
def test_builder_commands_say_an_empty_error_in_one_line(monkeypatch, tmp_path, target, command):
    """An exception with an empty message (``OSError()``) is ``Error: OSError``, not a blank."""
    from click.testing import CliRunner

    from hmh_builder.cli import main

    def raise_empty(*_args, **_kwargs):
        raise OSError()

    monkeypatch.setattr(target, raise_empty)
    result = CliRunner().invoke(main, [command[0], str(tmp_path), *command[1:]])
    assert result.exit_code == 1, result.output
    assert [line for line in result.output.splitlines() if line.strip()] == ["Error: OSError"]
