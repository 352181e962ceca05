"""``hmh-build verify OUT``: check a build, release or backgrounds folder against its manifest."""

import sys
from dataclasses import dataclass

import click


@dataclass(frozen=True)
class VerifyOptions:
    out_dir: str
    progress: bool


@click.command("verify")
@click.argument("out_dir", metavar="OUT", type=click.Path(file_okay=False))
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar on stderr (default: only when stderr is a terminal).",
)
def verify_command(out_dir, progress):
    """Check every shard of OUT against manifest.json.

    Recomputes each shard's size and SHA-256, opens it and checks the FORMAT.md schema
    (names, dtypes, shapes, attributes), the sample counts, the invariants F = round(A·I/255)
    ± 1 and I_d = I where A = 255, the split rule, failures.jsonl, and the content digest;
    reports any file the manifest does not list. On a release folder it also checks
    SHA256SUMS and the per-split virtual files.

    Prints one line per problem ("PATH: what is wrong") and exits with status 1 when there
    is any; otherwise ends with the line "content-digest: <hex>" and exits 0.
    """
    options = VerifyOptions(out_dir, sys.stderr.isatty() if progress is None else progress)
    from hmh_builder.inspect.verify import inspect_build, summary_line

    report = inspect_build(options.out_dir, progress=options.progress)
    for problem in report.problems:
        click.echo(str(problem))
    click.echo(summary_line(report))
    if not report.ok:
        sys.exit(1)
    click.echo(f"content-digest: {report.content_digest}")
