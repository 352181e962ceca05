"""``hmh-train`` command line. Only the modules in this package import click."""

import click

from hmh_train.cli.apply import harmonize_command, matte_command
from hmh_train.cli.composite import composite_command
from hmh_train.cli.eval import eval_command
from hmh_train.cli.figure import figure_command, table1_command
from hmh_train.cli.study import study_command
from hmh_train.cli.summary import summary_command
from hmh_train.cli.sweep import sweep_command
from hmh_train.cli.train import harmonization, joint, matting


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """Train, evaluate and apply the joint matting + harmonization GAN on HMH shards."""


# One module per sub-command (or family of sub-commands); add a new one to this tuple.
for _command in (
    matting,
    harmonization,
    joint,
    eval_command,
    composite_command,
    sweep_command,
    summary_command,
    matte_command,
    harmonize_command,
    study_command,
    table1_command,
    figure_command,
):
    main.add_command(_command)
