"""The house rules of the layout, checked on the source: no import cycles between modules
(lazy imports inside functions included), no private name imported from another module, and
``hmh_train`` uses only the builder's public API (``schema``, ``imageio``, ``fsio``)."""
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


def imports_of(path: Path, modules: dict) -> list[tuple[str, str]]:
    """``(imported module, imported name or "")`` for every project import in ``path``; a
    ``from pkg import mod`` that names a submodule counts as importing that submodule."""
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name, "") for a in node.names if a.name.split(".")[0] in PACKAGES]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] in PACKAGES:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.append((sub, "") if sub in modules else (node.module, alias.name))
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
                return stack[stack.index(nxt):] + [nxt]
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
    bad = [f"{name}: {target}.{imported}"
           for name, path in modules.items()
           for target, imported in imports_of(path, modules)
           if imported.startswith("_") and imported != "__version__"]
    assert bad == []


def test_hmh_train_uses_only_the_builder_public_api():
    modules = all_modules()
    bad = sorted({f"{name}: {target}"
                  for name, path in modules.items() if name.startswith("hmh_train")
                  for target, _ in imports_of(path, modules)
                  if target.startswith("hmh_builder") and target not in BUILDER_PUBLIC_API})
    assert bad == []


#: Stages from the bottom up: a module imports from its own stage and the stages below it.
#: The builder's top-level modules (schema, imageio, fsio) are its public API, below everything.
STAGE_ORDER = {
    "hmh_builder": ["", "kernels", "build", "ingest", "inspect", "release", "cli"],
    "hmh_train": ["", "data", "nets", "train", "infer", "evaluate", "study", "cli"],
}


def stage_rank(module: str) -> tuple[int, int]:
    parts = module.split(".")
    pkg = parts[0]
    stage = parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in STAGE_ORDER[pkg]) else ""
    return PACKAGES.index(pkg), STAGE_ORDER[pkg].index(stage)


def test_modules_import_only_their_own_stage_and_the_stages_below():
    upward = sorted(f"{a} -> {b}" for a, targets in graph().items() for b in targets
                    if stage_rank(b) > stage_rank(a))
    assert upward == []


def test_readme_architecture_map_has_one_line_per_module():
    readme = (ROOT / "README.md").read_text("utf-8")
    table = readme[readme.index("## Architecture"):]
    table = table[:table.index("\n## ", 1)]
    listed = set()
    for line in table.splitlines():
        if line.startswith("| `"):
            listed.add(line.split("`")[1])
    expected = set()
    for name, path in all_modules().items():
        rel = path.relative_to(ROOT).as_posix()
        if "/cli/" in rel:
            expected.add(rel[:rel.index("/cli/") + 5])
        elif path.name != "__init__.py" or path.read_text("utf-8").strip():
            if path.name == "__init__.py" and path.parent.name in PACKAGES:
                continue  # package version only
            expected.add(rel)
    assert sorted(expected - listed) == []
    assert sorted(p for p in listed - expected if p.endswith(".py") and p.startswith(PACKAGES)) == []
