"""An exception with an empty message (``OSError()``) raised inside a command is still one
``Error: …`` line naming its type, never an IndexError traceback (each command's own
``except`` clause turns it into a ClickException through ``fsio.first_line``)."""

from __future__ import annotations

import pytest

from tests.train.cli_helpers import invoke, one_line_error

# (module and function the command calls, arguments that reach that call)
COMMANDS = [
    ("hmh_train.evaluate.run.evaluate", ["eval", "--ckpt", "c.pt", "--shards", "s", "--no-progress"]),
    (
        "hmh_train.infer.apply.matte",
        ["matte", "--ckpt", "c.pt", "--image", "i.png", "--trimap", "t.png", "--out", "a.png"],
    ),
    (
        "hmh_train.infer.apply.harmonize",
        ["harmonize", "--ckpt", "c.pt", "--image", "i.png", "--mask", "m.png", "--out", "h.png"],
    ),
    (
        "hmh_train.infer.composite_cmd.run",
        ["composite", "--ckpt", "c.pt", "--image", "i.png", "--background", "b.png", "--out", "o.png"],
    ),
    (
        "hmh_train.evaluate.sweep.sweep",
        ["sweep", "--grid", "lambda1=0.01,0.02", "--shards", "s", "--out", "o"],
    ),
    ("hmh_train.study.make.make_study", ["study", "make", "--out", "o", "--shards", "s", "--ckpt", "c.pt"]),
    ("hmh_train.study.server.serve", ["study", "serve", "st"]),
    ("hmh_train.study.score.score_study", ["study", "score", "st"]),
    ("hmh_train.cli.train.load_config", ["matting", "--shards", "s", "--out", "o"]),
]


@pytest.mark.parametrize("target, args", COMMANDS, ids=[" ".join(a[:2]).strip(" -") for _, a in COMMANDS])
def test_empty_message_is_one_line(monkeypatch, target, args):
    def raise_empty(*_args, **_kwargs):
        raise OSError()

    monkeypatch.setattr(target, raise_empty)
    result = invoke(*args)
    assert result.exit_code == 1, result.output
    assert one_line_error(result) == "Error: OSError"


def test_batch_commands_list_failures_alike(monkeypatch, tmp_path):
    """matte/harmonize/composite (finish_batch) and eval --benchmark show the same ten failed
    inputs, then one count of the rest, and exit 3 (the others were written / scored)."""
    failures = [(f"img{k}", "cannot be decoded (truncated)") for k in range(13)]
    result = {"written": 2, "failed": 13, "failures": failures, "out": str(tmp_path), "loaded": []}
    monkeypatch.setattr("hmh_train.infer.apply.matte", lambda cfg: result)
    args = ["--ckpt", "c.pt", "--images", "i", "--trimaps", "t", "--out", tmp_path, "--no-progress"]
    batch = invoke("matte", *args)
    assert batch.exit_code == 3, batch.output
    shown = [line for line in batch.output.splitlines() if line.startswith("  ")]
    expected = [f"  img{k}: cannot be decoded (truncated)" for k in range(10)]
    assert shown == expected + ["  … and 3 more (see failures.csv)"]

    scored = {
        "problems": [f"img{k}: cannot be decoded (truncated)" for k in range(13)],
        "table": "| table |",
        "evaluated": 2,
        "listed": 15,
        "out": str(tmp_path),
    }
    monkeypatch.setattr("hmh_train.evaluate.benchmark_run.run_benchmark", lambda cfg: scored)
    run = invoke("eval", "--benchmark", "iharmony4", "--src", "s", "--ckpt", "c.pt", "--out", tmp_path)
    assert run.exit_code == 3, run.output
    lines = run.output.splitlines()
    assert lines[: len(expected) + 1] == expected + ["  … and 3 more (see failures.txt)"]
