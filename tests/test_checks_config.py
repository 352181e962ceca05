"""The lint/type set-up holds together: mypy checks modules that exist (a renamed module would
otherwise drop out silently), both packages ship ``py.typed``, the lint extra pins its tools,
and ``.ci/run`` runs ruff and mypy before the tests."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_checks_the_public_api_and_only_files_that_exist():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    mypy = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    files = mypy["files"]
    assert {"hmh_builder/schema.py", "hmh_builder/imageio.py", "hmh_builder/fsio.py"} <= set(files)
    assert "hmh_train/__init__.py" in files
    assert all((ROOT / f).is_file() for f in files), files
    assert mypy["strict"] is True


def test_both_packages_ship_py_typed_and_the_lint_extra_is_pinned():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    for package in ("hmh_builder", "hmh_train"):
        assert (ROOT / package / "py.typed").is_file()
        assert "py.typed" in cfg["options.package_data"][package]
    lint = cfg["options.extras_require"]["lint"].split()
    assert sorted(req.split("==")[0] for req in lint) == ["mypy", "ruff"] and all("==" in r for r in lint)


def test_ci_runs_the_checks_before_the_tests_and_pre_commit_runs_the_same():
    steps = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    order = [
        steps.index(cmd) for cmd in ("ruff check .", "ruff format --check .", "mypy", "python -m pytest -q")
    ]
    assert order == sorted(order)
    installs = [line for line in steps if line.startswith("python -m pip install") and ".[" in line]
    assert any("lint" in line.split(".[", 1)[1].split("]")[0].split(",") for line in installs)
    hooks = (ROOT / ".pre-commit-config.yaml").read_text()
    for entry in ("entry: ruff check", "entry: ruff format", "entry: mypy"):
        assert entry in hooks
