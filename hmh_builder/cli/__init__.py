"""``hmh-build`` command line. Only the modules in this package import click."""
import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """Build, verify, preview and package HMH datasets."""


# Sub-commands register themselves below, one module each (build, verify, preview, ...).
