"""``hmh-train summary`` prints one row per network with its parameter count and shapes."""

from click.testing import CliRunner

from hmh_train.cli import main
from hmh_train.nets import build_matting_net, count_parameters


def test_summary_command_small():
    result = CliRunner().invoke(main, ["summary", "--width", "0.125", "--size", "64", "--num-downs", "6"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].startswith("matting (IndexNet)")
    assert f"{count_parameters(build_matting_net(0.125)):,d}" in lines[1]
    assert "(1, 4, 64, 64)" in lines[2] and "(1, 3, 64, 64)" in lines[2]
    assert lines[3].rstrip().endswith("(1,)") and lines[4].startswith("total")


def test_summary_command_bad_size_is_one_line():
    result = CliRunner().invoke(main, ["summary", "--size", "96"])
    assert result.exit_code != 0
    assert "Error: size 96 must be a multiple of 32 and of 2**num_downs = 256" in result.output
    assert "Traceback" not in result.output
