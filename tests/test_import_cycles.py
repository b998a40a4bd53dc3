"""No import cycle among the project's packages (house rule): every `import` of shards/,
augment/, train/ and benchmarks/ (module level or inside a function: a deferred import that
closes a circle still ties the two modules' ideas together), read with `ast`, none run."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("shards", "augment", "train", "benchmarks")


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the project's packages."""
    out = {}
    for pkg in PACKAGES:
        for f in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(f.relative_to(ROOT).with_suffix("").parts)
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return out


def _type_checking_only(tree: ast.Module) -> set[int]:
    """ids of import nodes under `if TYPE_CHECKING:` (never run)."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skip


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules `name` imports: `from a.b import c` is a.b.c when that is a module,
    else a.b; a relative import is resolved against the module's package."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_only(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in modules:  # `import a.b.c` of a name inside a module: its module
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return components


def project_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def test_finds_a_cycle():
    """The check itself: a circle of three is found, a chain is not."""
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_reads_relative_and_deferred_imports(tmp_path):
    """A relative import and one inside a function are both edges; TYPE_CHECKING ones are not."""
    f = tmp_path / "m.py"
    f.write_text("from typing import TYPE_CHECKING\nfrom . import x\nfrom .y import f\n"
                 "if TYPE_CHECKING:\n    from .z import T\ndef g():\n    from ..w import h\n")
    modules = dict.fromkeys(["p.q.m", "p.q.x", "p.q.y", "p.q.z", "p.w"], f)
    assert imports_of("p.q.m", f, modules) == {"p.q.x", "p.q.y", "p.w"}


def test_no_import_cycles():
    graph = project_graph()
    assert sum(map(len, graph.values())) > 300  # the walk found the imports (about 500 edges)
    cycles = find_cycles(graph)
    assert not cycles, "import cycles (each: the modules that import each other round a circle; move the " \
                       "shared piece down into the module both use):\n" + "\n".join(" <-> ".join(c) for c in cycles)


# shards/ by role, bottom up: each part may import only itself and the parts before it (what
# each folder's __init__ says); shards/__init__ and __main__ sit above them all
SHARDS_LAYERS = ("shards.tokens", "shards.schema", "shards.storage", "shards.pairs", "shards.views", "shards.cli")


def _layer(module: str) -> int:
    """The module's place in SHARDS_LAYERS; -1 outside shards/, len(SHARDS_LAYERS) for shards itself."""
    if not (module == "shards" or module.startswith("shards.")):
        return -1
    return next((i for i, p in enumerate(SHARDS_LAYERS) if module == p or module.startswith(p + ".")),
                len(SHARDS_LAYERS))


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Imports from a part of shards/ to a part above it."""
    return [f"{m} imports {t}" for m, targets in sorted(graph.items()) if 0 <= _layer(m) < len(SHARDS_LAYERS)
            for t in sorted(targets) if _layer(t) > _layer(m)]


def test_shards_parts_import_only_the_parts_below():
    assert layer_violations({"shards.storage.writer": {"shards.views.show", "shards.schema", "numpy"},
                             "shards.schema": {"shards.tokens.vocab"}}) == ["shards.storage.writer imports "
                                                                            "shards.views.show"]
    wrong = layer_violations(project_graph())
    assert not wrong, "shards/ parts import only those listed before them in SHARDS_LAYERS:\n" + "\n".join(wrong)
