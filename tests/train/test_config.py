"""Config precedence (defaults < mode YAML < user YAML < command line), validation, saving."""

from __future__ import annotations

import pytest
import yaml

from hmh_train.train.config import (
    ConfigError,
    TrainConfig,
    load_config,
    parse_set,
    resume_config,
    save_config,
)


def test_mode_yaml_overrides_dataclass_defaults():
    assert TrainConfig().batch_size == 8
    assert load_config("matting").batch_size == 16
    assert load_config("matting").crop_min == 0.75


def test_precedence_defaults_yaml_cli(tmp_path):
    user = tmp_path / "my.yaml"
    user.write_text("batch_size: 5\nlr_harmonization: 1.0e-3\nseed: 9\n")
    cfg = load_config("joint", user, {"batch_size": 2, "seed": None})
    assert (cfg.batch_size, cfg.lr_harmonization, cfg.seed, cfg.lambda1) == (2, 1e-3, 9, 0.02)


def test_set_strings_are_parsed_as_yaml_and_typed():
    cfg = load_config(
        "joint",
        None,
        parse_set(["lambda1=0.5", "amp=false", "lr_milestones=[3, 4]", "max_steps=7", "matting_ckpt=runs/a"]),
    )
    assert (cfg.lambda1, cfg.amp, cfg.lr_milestones, cfg.max_steps, cfg.matting_ckpt) == (
        0.5,
        False,
        [3, 4],
        7,
        "runs/a",
    )


def test_dashes_in_keys_are_accepted():
    assert load_config("joint", None, {"max-steps": "4"}).max_steps == 4


@pytest.mark.parametrize(
    "layer, message",
    [
        ({"no_such_key": 1}, "unknown config key 'no_such_key'"),
        ({"batch_size": "many"}, "batch_size must be int"),
        ({"amp": "maybe"}, "amp must be bool"),
        ({"gan_loss": "lsgan"}, "gan_loss must be one of paper, hinge, wgan-gp"),
        ({"crop_min": 0}, "crop_min must be in"),
    ],
)
def test_bad_values_are_one_line_naming_the_key(layer, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_config("joint", None, layer)
    assert "\n" not in str(info.value)


def test_unknown_key_in_yaml_names_the_file(tmp_path):
    user = tmp_path / "bad.yaml"
    user.write_text("epochz: 3\n")
    with pytest.raises(ConfigError, match=f"{user}: unknown config key 'epochz'"):
        load_config("joint", user)


def test_missing_yaml_and_bad_set_item(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config("joint", tmp_path / "none.yaml")
    with pytest.raises(ConfigError, match="key=value"):
        parse_set(["lambda1"])


def test_saved_config_round_trips(tmp_path):
    cfg = load_config("harmonization", None, {"seed": 3, "out": str(tmp_path)})
    save_config(cfg, tmp_path / "config.yaml")
    assert load_config("harmonization", tmp_path / "config.yaml") == cfg
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["seed"] == 3


def test_mode_mismatch_is_an_error(tmp_path):
    save_config(load_config("matting"), tmp_path / "config.yaml")
    with pytest.raises(ConfigError, match="mode 'matting'"):
        load_config("joint", tmp_path / "config.yaml")


def test_resume_takes_the_run_settings_and_only_what_the_command_line_changes(tmp_path):
    save_config(
        load_config("joint", None, {"batch_size": 3, "seed": 4, "out": "old/place"}), tmp_path / "config.yaml"
    )
    cfg = resume_config(load_config("joint", None, {"resume": str(tmp_path), "max_steps": 9}))
    assert (cfg.batch_size, cfg.seed, cfg.max_steps, cfg.out, cfg.resume) == (
        3,
        4,
        9,
        str(tmp_path),
        str(tmp_path),
    )
    with pytest.raises(ConfigError, match="not a run folder"):
        resume_config(load_config("joint", None, {"resume": str(tmp_path / "nothing")}))


@pytest.mark.parametrize(
    "text, where",
    [
        ("lambda1: [0.1\n", "line 2, column 1: expected ',' or ']'"),
        ("epochs: 3\n lr_gamma: 0.5\n", "line 2, column 10: mapping values are not allowed here"),
    ],
)
def test_yaml_syntax_error_names_line_and_problem(tmp_path, text, where):
    user = tmp_path / "typo.yaml"
    user.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config("joint", user)
    assert str(info.value).startswith(f"{user}: not valid YAML (") and where in str(info.value)
    assert "\n" not in str(info.value)


def test_check_image_size_per_mode():
    from hmh_train.train.config import check_image_size

    check_image_size(load_config("matting"), (100, 100))  # IndexNet input is resized inside
    check_image_size(load_config("joint"), (256, 512))
    with pytest.raises(ConfigError, match="need multiples of 256 .*use --num-downs 6 or less"):
        check_image_size(load_config("harmonization"), (64, 128))
    with pytest.raises(ConfigError, match="need multiples of 32 .*rebuild the shards"):
        check_image_size(load_config("joint", None, {"num_downs": 5}), (100, 100))
