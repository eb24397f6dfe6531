"""The package's structure, read from the code with `ast`: no import cycles (lazy and type-checking
imports included), a core that knows no game, and functions short enough to read."""

import ast
from pathlib import Path

import textgan
from textgan.core import schema

PACKAGE = Path(textgan.__file__).parent
GAME_PACKAGES = ("textgan.text", "textgan.image", "textgan.toy", "textgan.doctor", "textgan.games")
LONGEST_FUNCTION = 60


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the textgan modules it imports anywhere in its code."""
    mods = modules()

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                deps |= {resolve(a.name) for a in node.names if a.name.startswith("textgan")}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                if base.startswith("textgan"):
                    deps |= {f"{base}.{a.name}" if f"{base}.{a.name}" in mods else resolve(base)
                             for a in node.names}
        graph[name] = deps - {name, None}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_import_graph_has_no_cycles():
    graph = import_graph()
    assert "textgan.core.trainer" in graph and cycles(graph) == []


def test_a_cycle_would_be_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_core_imports_no_game_and_not_the_doctor():
    for name, deps in import_graph().items():
        if name.startswith("textgan.core"):
            assert not [d for d in deps if d.startswith(GAME_PACKAGES)], name


def test_the_core_names_no_game_metric():
    """Every metric a game declares for plots or for the doctor is absent from the core's string literals."""
    from textgan.games import GAME_MODULES, game_module

    names = set()
    for game in GAME_MODULES:
        module = game_module(game)
        names |= {k for panel in module.METRIC_PANELS for k in panel.keys}
        roles = module.METRIC_ROLES
        names |= ({k for k, _ in roles.quality} | set(roles.diversity) | set(roles.similarity)
                  | set(roles.spread))
    logged = {v for k, v in vars(schema).items() if k.isupper() and isinstance(v, str)}
    game_only = names - logged
    assert {"nll_oracle", "modes_covered", "domain_fid"} <= game_only
    for path in (PACKAGE / "core").glob("*.py"):
        literals = {n.value for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                    if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        assert not literals & game_only, (path.name, literals & game_only)
        assert not [s for s in literals if s.startswith("model.")], path.name  # no game recipe key


def test_every_function_is_short():
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length >= LONGEST_FUNCTION:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({length} lines)")
    assert long == []
