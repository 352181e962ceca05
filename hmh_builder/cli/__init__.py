"""``hmh-build`` command line. Only the modules in this package import click."""

import click

from hmh_builder.cli.backgrounds import backgrounds_command
from hmh_builder.cli.build import build_command, build_options, run_cli
from hmh_builder.cli.iharmony4 import iharmony4_command
from hmh_builder.cli.package import package_command
from hmh_builder.cli.preview import preview_command
from hmh_builder.cli.stats import stats_command
from hmh_builder.cli.verify import verify_command


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@build_options
@click.pass_context
def main(ctx, **build_kw):
    """Build, verify, preview and package HMH datasets.

    With no sub-command, builds: hmh-build --src SRC --out OUT [--workers N] (the options
    below; also available as "hmh-build build"). Exit status: 0 all inputs written (or at
    most --max-failures failed); 3 some inputs failed (see OUT/failures.jsonl); 1 the build
    could not finish (rerun the same command to resume); 2 usage error; 130 interrupted.
    """
    if ctx.invoked_subcommand is None:
        if not build_kw.get("src") and not build_kw.get("out"):
            click.echo(ctx.get_help())
            ctx.exit(0)
        run_cli(**build_kw)


# One module per sub-command; add a new one to this tuple.
for _command in (
    build_command,
    verify_command,
    preview_command,
    stats_command,
    package_command,
    backgrounds_command,
    iharmony4_command,
):
    main.add_command(_command)
