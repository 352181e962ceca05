"""``hmh-train`` command line. Only the modules in this package import click."""
import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """Train, evaluate and apply the joint matting + harmonization GAN on HMH shards."""


# Sub-commands register themselves below, one module each (summary, matting, joint, eval, ...).
from hmh_train.cli.train import harmonization as _harmonization, joint as _joint, matting as _matting  # noqa: E402
main.add_command(_matting)
main.add_command(_harmonization)
main.add_command(_joint)
from hmh_train.cli.eval import eval_command as _eval  # noqa: E402
main.add_command(_eval)
from hmh_train.cli.composite import composite_command as _composite  # noqa: E402
main.add_command(_composite)
from hmh_train.cli.sweep import sweep_command as _sweep  # noqa: E402
main.add_command(_sweep)
from hmh_train.cli.summary import summary_command as _summary  # noqa: E402
main.add_command(_summary)
from hmh_train.cli.apply import harmonize_command as _harmonize, matte_command as _matte  # noqa: E402
main.add_command(_matte)
main.add_command(_harmonize)
from hmh_train.cli.study import study_command as _study  # noqa: E402
main.add_command(_study)
