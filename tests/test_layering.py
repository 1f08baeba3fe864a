"""The import graph of skmipool points one way (records and arithmetic at the bottom,
results, then adapters and fits, the estimator on top) and nothing dodges a cycle with an
import inside a function."""

import ast
from pathlib import Path

import skmipool

PACKAGE = Path(skmipool.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(node, module: str, is_package: bool) -> list[str]:
    """skmipool modules named by an import statement (relative imports resolved)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "skmipool"]
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - node.level + 1]
        target = ".".join([*base, node.module] if node.module else base)
    else:
        target = node.module or ""
    if target.split(".")[0] != "skmipool":
        return []
    return [target]


def _graph():
    """module -> (skmipool modules imported at module level, those imported in functions)."""
    graph = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        tree = ast.parse(path.read_text(), filename=str(path))
        top, inner = set(), set()
        functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
        in_function = {id(n) for f in functions for n in ast.walk(f) if n is not f}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = _imported(node, module, path.name == "__init__.py")
                (inner if id(node) in in_function else top).update(names)
        graph[module] = (top, inner)
    return graph


def _resolve(name: str, modules) -> str:
    # "from skmipool.impute import ChainedImputer" depends on the package module
    while name not in modules and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def test_graph_sees_every_module():
    graph = _graph()
    assert {"skmipool._pool", "skmipool._results", "skmipool._estimator"} <= set(graph)
    assert "skmipool._estimate" in graph["skmipool._adapters"][0]


def test_module_level_imports_have_no_cycle():
    graph = _graph()
    edges = {
        m: {_resolve(t, graph) for t in top if _resolve(t, graph) != m}
        for m, (top, _) in graph.items()
    }
    # a package imports its own submodules to re-export them: that is not a cycle
    for m in edges:
        edges[m] = {t for t in edges[m] if not (m.startswith(t + ".") and t in edges)}
    state, path = {}, []

    def visit(m):
        state[m] = "open"
        path.append(m)
        for t in sorted(edges.get(m, ())):
            if state.get(t) == "open":
                cycle = [*path[path.index(t) :], t]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if t not in state:
                visit(t)
        path.pop()
        state[m] = "done"

    for m in sorted(edges):
        if m not in state:
            visit(m)


def test_no_skmipool_import_inside_a_function():
    graph = _graph()
    # the one allowed: skmipool/__init__ loads the optional submodules on first attribute access
    offenders = {m: sorted(inner) for m, (_, inner) in graph.items() if inner and m != "skmipool"}
    assert offenders == {}


def test_layers_point_down():
    """Bottom modules import nothing above them."""
    graph = _graph()
    allowed = {
        "skmipool._scales": set(),
        "skmipool._validation": set(),
        "skmipool._tokens": set(),
        "skmipool._pool": {"skmipool._validation"},
        "skmipool._estimate": {"skmipool._pool", "skmipool._scales"},
        "skmipool._constraints": {"skmipool._tokens"},
        "skmipool._wald": {"skmipool._constraints", "skmipool._pool", "skmipool._validation"},
        "skmipool._results": {
            "skmipool._estimate",
            "skmipool._pool",
            "skmipool._scales",
            "skmipool._validation",
            "skmipool._wald",
        },
    }
    for module, ok in allowed.items():
        assert graph[module][0] <= ok, (module, graph[module][0] - ok)
