"""The end of a batch command (``matte``, ``harmonize``, ``composite`` with folders): the
failed inputs, then the exit status ``hmh-build`` uses."""

from __future__ import annotations

import sys

import click

#: How many failed inputs are printed; all of them are in failures.csv.
SHOWN_FAILURES = 10


def finish_batch(result: dict, nothing_done: str) -> None:
    """Print the first failures (stderr); ``nothing_done`` (one line) when every input failed;
    exit 3 when some failed and the others were written, as ``hmh-build`` does."""
    for stem, reason in result["failures"][:SHOWN_FAILURES]:
        click.echo(f"  {stem}: {reason}", err=True)
    if result["failed"] and not result["written"]:
        raise click.ClickException(nothing_done)
    if result["failed"]:
        sys.exit(3)  # some inputs failed (failures.csv), all others were written
