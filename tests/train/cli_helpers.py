"""Running ``hmh-train`` in-process in tests, and the one-line error contract of its commands."""

from __future__ import annotations

from click.testing import CliRunner

from hmh_train.cli import main


def invoke(*args):
    """``hmh-train ARGS`` in this process (every argument passed through ``str``)."""
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result) -> str:
    """The single ``Error: …`` line of a failed command (no traceback, no other output)."""
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]
