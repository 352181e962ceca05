"""The house rules of the layout, checked on the source: no import cycles between modules
(lazy imports inside functions included), modules import only their own stage and the stages
below, no private name imported from another module (nor reached as ``module._name``),
``hmh_train`` uses only the builder's public API (``schema``, ``imageio``, ``fsio``), only the
``cli`` stages import click, and the architecture map (docs/architecture.md) lists every
module. Relative imports (``from ..cli import main``) count exactly like absolute ones."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hmh_builder", "hmh_train")
BUILDER_PUBLIC_API = {"hmh_builder", "hmh_builder.schema", "hmh_builder.imageio", "hmh_builder.fsio"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def resolve_relative(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute name of ``from <level dots><target> import …`` written in ``module``."""
    parts = module.split(".") if is_package else module.split(".")[:-1]
    parts = parts[: len(parts) - (level - 1)] if level > 1 else parts
    return ".".join(parts + ([target] if target else []))


def imports_in(source: str, module: str, is_package: bool, modules) -> list[tuple[str, str]]:
    """``(imported module, imported name or "")`` for every project import in ``source`` (the
    text of ``module``), relative imports resolved; a ``from pkg import mod`` that names a
    submodule counts as importing that submodule."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(a.name, "") for a in node.names if a.name.split(".")[0] in PACKAGES]
        elif isinstance(node, ast.ImportFrom):
            target = (
                node.module
                if node.level == 0
                else resolve_relative(module, is_package, node.level, node.module)
            )
            if not target or target.split(".")[0] not in PACKAGES:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.append((sub, "") if sub in modules else (target, alias.name))
    return found


def imports_of(path: Path, modules: dict) -> list[tuple[str, str]]:
    """:func:`imports_in` of the module file ``path``."""
    return imports_in(path.read_text("utf-8"), module_name(path), path.name == "__init__.py", modules)


def external_roots(source: str) -> set[str]:
    """Top-level names of the absolute imports of ``source`` (``import click.testing``,
    ``from click import echo`` → ``click``), lazy imports inside functions included."""
    roots = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def private_attributes(source: str, module: str, is_package: bool, modules) -> list[str]:
    """``module._name`` reached through an imported project module (``import a.b as m;
    m._x``, ``from a import b; b._x``, ``import a.b; a.b._x``): a private import by another
    route. Dunder names (``__version__``) are allowed."""
    bound = {}  # local name → the project module (or package) it stands for
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in PACKAGES:  # import a.b binds a; import a.b as m binds m
                    bound[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            target = (
                node.module
                if node.level == 0
                else resolve_relative(module, is_package, node.level, node.module)
            )
            for a in node.names:
                if target and f"{target}.{a.name}" in modules:
                    bound[a.asname or a.name] = f"{target}.{a.name}"
    found = []
    for node in ast.walk(ast.parse(source)):
        if (
            not isinstance(node, ast.Attribute)
            or not node.attr.startswith("_")
            or (node.attr.startswith("__") and node.attr.endswith("__"))
        ):
            continue
        chain, value = [], node.value
        while isinstance(value, ast.Attribute):
            chain.insert(0, value.attr)
            value = value.value
        if isinstance(value, ast.Name) and value.id in bound:
            owner = ".".join([bound[value.id]] + chain)
            if owner in modules and owner != module:
                found.append(f"{owner}.{node.attr}")
    return found


def graph() -> dict[str, set[str]]:
    modules = all_modules()
    edges = {}
    for name, path in modules.items():
        targets = set()
        for target, _ in imports_of(path, modules):
            # importing a.b.c runs a/__init__ and a/b/__init__ too, but those are not cycles
            # of ours unless they import back; keep the edge to the named module only
            if target in modules and target != name:
                targets.add(target)
        edges[name] = targets
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if state.get(nxt) is None:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if state.get(node) is None:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles():
    cycle = find_cycle(graph())
    assert cycle is None, " -> ".join(cycle)


def test_no_private_names_imported_from_other_modules():
    modules = all_modules()
    bad = [
        f"{name}: {target}.{imported}"
        for name, path in modules.items()
        for target, imported in imports_of(path, modules)
        if imported.startswith("_") and imported != "__version__"
    ]
    assert bad == []


def test_relative_imports_are_resolved_like_absolute_ones():
    modules = {"hmh_train.cli", "hmh_train.data", "hmh_train.data.shards", "hmh_train.data.augment"}
    source = "from ..cli import main\nfrom . import shards\ndef f():\n    from .shards import _load\n"
    assert imports_in(source, "hmh_train.data.augment", False, modules) == [
        ("hmh_train.cli", "main"),
        ("hmh_train.data.shards", ""),
        ("hmh_train.data.shards", "_load"),
    ]
    assert imports_in("from .shards import ShardDataset\n", "hmh_train.data", True, modules) == [
        ("hmh_train.data.shards", "ShardDataset")
    ]


def test_private_names_reached_through_an_imported_module_are_found():
    modules = {
        "hmh_builder",
        "hmh_builder.fsio",
        "hmh_builder.schema",
        "hmh_train.nets",
        "hmh_train.nets.forward",
        "hmh_train.data.augment",
    }
    source = (
        "import hmh_builder.fsio as fsio\nfrom hmh_train.nets import forward\nimport hmh_builder.schema\n"
        "def f(self):\n    fsio._walk(); forward._mask; hmh_builder.schema._seed(1)\n"
        "    self._ok; forward.harmonize; hmh_builder.__version__\n"
    )
    assert sorted(private_attributes(source, "hmh_train.data.augment", False, modules)) == [
        "hmh_builder.fsio._walk",
        "hmh_builder.schema._seed",
        "hmh_train.nets.forward._mask",
    ]


def test_no_private_names_reached_through_other_modules():
    modules = all_modules()
    bad = [
        f"{name}: {use}"
        for name, path in modules.items()
        for use in private_attributes(path.read_text("utf-8"), name, path.name == "__init__.py", modules)
    ]
    assert bad == []


def test_external_roots_include_lazy_and_dotted_imports():
    source = (
        "import click.testing\nfrom click import echo\ndef f():\n    import numpy as np\nfrom . import x\n"
    )
    assert external_roots(source) == {"click", "numpy"}


def test_only_the_cli_stages_import_click():
    bad = sorted(
        name
        for name, path in all_modules().items()
        if ".cli." not in f"{name}." and "click" in external_roots(path.read_text("utf-8"))
    )
    assert bad == []


def test_hmh_train_uses_only_the_builder_public_api():
    modules = all_modules()
    bad = sorted(
        {
            f"{name}: {target}"
            for name, path in modules.items()
            if name.startswith("hmh_train")
            for target, _ in imports_of(path, modules)
            if target.startswith("hmh_builder") and target not in BUILDER_PUBLIC_API
        }
    )
    assert bad == []


#: Stages from the bottom up: a module imports from its own stage and the stages below it.
#: The builder's top-level modules (schema, imageio, fsio) are its public API, below everything.
STAGE_ORDER = {
    "hmh_builder": ["", "kernels", "pipeline", "ingest", "inspect", "release", "cli"],
    "hmh_train": ["", "data", "nets", "train", "infer", "evaluate", "study", "cli"],
}


def stage_rank(module: str) -> tuple[int, int]:
    parts = module.split(".")
    pkg = parts[0]
    stage = parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in STAGE_ORDER[pkg]) else ""
    return PACKAGES.index(pkg), STAGE_ORDER[pkg].index(stage)


#: Folder names that linters' default excludes (ruff, black, isort), GitHub's standard Python
#: .gitignore and pytest's norecursedirs skip: a package folder with one of them silently drops out.
SKIPPED_FOLDER_NAMES = {
    "build",
    "dist",
    "_build",
    "buck-out",
    "site-packages",
    "venv",
    "env",
    "eggs",
    "sdist",
    "wheels",
}


def test_no_package_folder_is_named_like_a_build_output():
    folders = sorted(
        path.relative_to(ROOT).as_posix()
        for pkg in PACKAGES
        for path in (ROOT / pkg).rglob("*")
        if path.is_dir() and path.name in SKIPPED_FOLDER_NAMES
    )
    assert folders == []


def test_every_module_belongs_to_a_known_stage():
    """A new stage folder must be added to STAGE_ORDER (its place decides what it may import)."""
    unknown = sorted(
        name
        for name in all_modules()
        if len(name.split(".")) > 2 and name.split(".")[1] not in STAGE_ORDER[name.split(".")[0]]
    )
    assert unknown == [], "add the stage to STAGE_ORDER (and to docs/architecture.md and the README)"


#: A package root may expose its public facade (``hmh_train.load``): its ``__init__`` imports
#: this one module, and only lazily (inside a function such as ``__getattr__``, or under ``if
#: TYPE_CHECKING``), so ``import hmh_train`` stays light and this is the only upward edge.
FACADES = {"hmh_train": "hmh_train.infer.model"}


def test_modules_import_only_their_own_stage_and_the_stages_below():
    upward = sorted(
        f"{a} -> {b}"
        for a, targets in graph().items()
        for b in targets
        if stage_rank(b) > stage_rank(a) and FACADES.get(a) != b
    )
    assert upward == []


def eager_imports(source: str, module: str, is_package: bool, modules) -> list[str]:
    """Project modules imported when ``source`` runs: its top-level statements, ``if``/``try``
    bodies included, ``if TYPE_CHECKING:`` blocks and function bodies excluded."""
    found, pending = [], list(ast.parse(source).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            pending += node.orelse
        elif isinstance(node, (ast.If, ast.Try)):
            pending += (
                node.body + node.orelse + getattr(node, "finalbody", []) + getattr(node, "handlers", [])
            )
        elif isinstance(node, ast.ExceptHandler):
            pending += node.body
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            found += [t for t, _ in imports_in(ast.unparse(node), module, is_package, modules)]
    return found


def test_eager_imports_skip_functions_and_type_checking_blocks():
    modules = {"hmh_train", "hmh_train.infer.model", "hmh_train.nets"}
    source = (
        "from typing import TYPE_CHECKING\nimport hmh_train.nets\nif TYPE_CHECKING:\n"
        "    from hmh_train.infer.model import load\ndef __getattr__(name):\n"
        "    import hmh_train.infer.model as m\n"
    )
    assert eager_imports(source, "hmh_train", True, modules) == ["hmh_train.nets"]


def test_package_facades_are_imported_lazily_and_exist():
    modules = all_modules()
    for package, facade in FACADES.items():
        assert facade in modules
        path = ROOT / package / "__init__.py"
        assert facade not in eager_imports(path.read_text("utf-8"), package, True, modules)
        assert facade in [t for t, _ in imports_of(path, modules)]  # the rule is in use


def test_readme_architecture_map_has_one_line_per_module():
    """The per-module table lives in docs/architecture.md (the README keeps a stage map)."""
    table = (ROOT / "docs" / "architecture.md").read_text("utf-8")
    listed = set()
    for line in table.splitlines():
        if line.startswith("| `"):
            listed.add(line.split("`")[1])
    expected = set()
    for path in all_modules().values():
        rel = path.relative_to(ROOT).as_posix()
        if "/cli/" in rel:
            expected.add(rel[: rel.index("/cli/") + 5])
        elif path.name != "__init__.py" or path.read_text("utf-8").strip():
            if path.name == "__init__.py" and path.parent.name in PACKAGES:
                continue  # package version only
            expected.add(rel)
    assert sorted(expected - listed) == []
    assert sorted(p for p in listed - expected if p.endswith(".py") and p.startswith(PACKAGES)) == []
