"""``hmh-build`` command line. Only the modules in this package import click."""
import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """Build, verify, preview and package HMH datasets."""


# Sub-commands register themselves below, one module each (build, verify, preview, ...).
from hmh_builder.cli.verify import verify_command  # noqa: E402
main.add_command(verify_command)
from hmh_builder.cli.preview import preview_command  # noqa: E402
main.add_command(preview_command)
from hmh_builder.cli.stats import stats_command  # noqa: E402
main.add_command(stats_command)
from hmh_builder.cli.package import package_command  # noqa: E402
main.add_command(package_command)
from hmh_builder.cli.backgrounds import backgrounds_command  # noqa: E402
main.add_command(backgrounds_command)
