"""Build settings: the ``auto`` background resolution and recipe precedence."""

import json

import pytest

from hmh_builder.pipeline.config import BuildConfig, ConfigError, resolve_config


@pytest.mark.parametrize("background, expected", [("multilevel", "output"), ("telea", "source")])
def test_auto_background_resolution_per_method(background, expected):
    assert BuildConfig(source="/src", background=background).background_resolution == expected
    assert resolve_config("/src", background=background).background_resolution == expected
    assert (
        resolve_config("/src", background=background, background_resolution="auto").background_resolution
        == expected
    )


def test_explicit_background_resolution_wins_over_auto():
    assert resolve_config("/src", background_resolution="source").background_resolution == "source"
    assert (
        resolve_config("/src", background="telea", background_resolution="output").background_resolution
        == "output"
    )
    with pytest.raises(ConfigError, match="background_resolution"):
        resolve_config("/src", background_resolution="half")


@pytest.mark.parametrize("background", [None, "multilevel", "telea"])
def test_default_recipe_equals_no_recipe_for_every_background(background):
    """manifests/default.json claims to be identical to no --recipe, also with --background."""
    assert resolve_config("/src", "default", background=background) == resolve_config(
        "/src", background=background
    )


def test_recipe_auto_resolution_and_command_line_override(tmp_path):
    recipe = tmp_path / "r.json"
    recipe.write_text(json.dumps({"background": "telea", "background_resolution": "auto"}))
    assert resolve_config("/src", str(recipe)).background_resolution == "source"
    assert resolve_config("/src", str(recipe), background="multilevel").background_resolution == "output"
    assert resolve_config("/src", "paper").background_resolution == "source"
