"""The end of a batch command (``matte``, ``harmonize``, ``composite`` with folders): the
failed inputs, then the exit status ``hmh-build`` uses."""

from __future__ import annotations

import sys

import click

from hmh_builder.fsio import EXIT_FAILED_INPUTS, failure_listing


def finish_batch(result: dict, nothing_done: str) -> None:
    """Print the first failures (stderr); ``nothing_done`` (one line) when every input failed;
    exit 3 when some failed and the others were written, as ``hmh-build`` does."""
    for line in failure_listing([f"{stem}: {reason}" for stem, reason in result["failures"]], "failures.csv"):
        click.echo(line, err=True)
    if result["failed"] and not result["written"]:
        raise click.ClickException(nothing_done)
    if result["failed"]:
        sys.exit(EXIT_FAILED_INPUTS)  # all others were written
