"""Package hygiene, read from the source (nothing is imported): the expanse package's module-level
imports form no cycle, only the graph module (job graph and lock patch) imports Snakemake, and every
ExpanseError subclass lives in expanse/errors.py."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = "expanse"
# The modules that may import Snakemake: the reading of its job graph and the patch of its locks, and
# the warm worker, which imports Snakemake's command line once and runs it in forked children.
ALLOWED = {"expanse/graph.py", "expanse/worker.py"}
# ExpanseError subclasses still defined outside expanse/errors.py, as (file, class); to move there.
ERRORS_ELSEWHERE: set[tuple[str, str]] = set()


def _sources(root: Path = REPO) -> dict[str, ast.Module]:
    """Path relative to root -> parsed source, for every module of the package under root."""
    return {
        path.relative_to(root).as_posix(): ast.parse(path.read_bytes(), filename=str(path))
        for path in sorted((root / PACKAGE).rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def _module_name(rel: str) -> tuple[str, bool]:
    """(dotted name, whether it is a package's __init__) of a file of the package."""
    parts = rel[: -len(".py")].split("/")
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST, *, module_level: bool):
    """Import statements of a module; with module_level, only those that run when it is imported
    (not inside a function, not in an `if TYPE_CHECKING:` block)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
            continue
        if module_level and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if module_level and isinstance(node, ast.If) and _is_type_checking(node.test):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))


def _absolute(node: ast.ImportFrom, rel: str) -> str:
    """The absolute module name a `from ... import` statement imports from."""
    if not node.level:
        return node.module or ""
    name, is_package = _module_name(rel)
    base = name.split(".") if is_package else name.split(".")[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


def import_graph(sources: dict[str, ast.Module]) -> dict[str, set[str]]:
    """module -> the package's modules its module-level imports execute. Importing a.b.c runs the
    packages a and a.b first, but those of them the importer is inside of are already imported (or
    being imported) before the importer runs, so they are no edge unless named themselves."""
    modules = {_module_name(rel)[0] for rel in sources}
    graph: dict[str, set[str]] = {}
    for rel, tree in sources.items():
        me = _module_name(rel)[0]
        parts = me.split(".")
        mine = {".".join(parts[:i]) for i in range(1, len(parts))}  # the packages it is inside of
        edges: set[str] = set()
        for node in _import_nodes(tree, module_level=True):
            if isinstance(node, ast.Import):
                targets = [(a.name, False) for a in node.names]
            else:
                base = _absolute(node, rel)
                targets = [(base, True)] + [(f"{base}.{a.name}", False) for a in node.names]
            for target, named in targets:
                if target.split(".")[0] != PACKAGE or target not in modules:
                    continue
                t = target.split(".")
                for i in range(1, len(t)):  # the packages on the way, run first
                    if ".".join(t[:i]) in modules and ".".join(t[:i]) not in mine:
                        edges.add(".".join(t[:i]))
                if named or target not in mine:
                    edges.add(target)
        graph[me] = edges - {me}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_package_has_no_import_cycle():
    graph = import_graph(_sources())
    assert "expanse.errors" in graph["expanse.config"]  # the graph is read: config imports errors
    cycle = find_cycle(graph)
    assert cycle is None, "module-level imports form a cycle: " + " -> ".join(cycle)


def test_the_import_graph_counts_what_runs_at_import_only(tmp_path):
    files = {
        "expanse/a.py": "from expanse import b\n",
        "expanse/b.py": "import expanse.c\n\ndef f():\n    from expanse import a\n",
        "expanse/c.py": "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from expanse import a\n"
        "from . import d\n",
        "expanse/d.py": "import json\n",
    }
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    graph = import_graph(_sources(tmp_path))
    assert graph == {
        "expanse.a": {"expanse.b"},
        "expanse.b": {"expanse.c"},
        "expanse.c": {"expanse.d"},
        "expanse.d": set(),
    }
    assert find_cycle(graph) is None
    (tmp_path / "expanse/d.py").write_text("try:\n    from .b import f\nexcept ImportError:\n    pass\n")
    assert find_cycle(import_graph(_sources(tmp_path))) == ["expanse.b", "expanse.c", "expanse.d", "expanse.b"]


def _snakemake_imports(sources: dict[str, ast.Module]) -> list[str]:
    """'path:line' of every import of Snakemake (or one of its plugin packages), at any depth."""
    found = []
    for rel, tree in sources.items():
        for node in _import_nodes(tree, module_level=False):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if isinstance(node, ast.ImportFrom) and node.level:
                continue
            if any(n.split(".")[0] == "snakemake" or n.startswith("snakemake_") for n in names):
                found.append((rel, node.lineno))
    return [f"{rel}:{line}" for rel, line in sorted(found)]


def test_only_the_graph_and_lock_modules_import_snakemake():
    offenders = [where for where in _snakemake_imports(_sources()) if where.split(":")[0] not in ALLOWED]
    assert not offenders, "Snakemake is imported outside " + ", ".join(sorted(ALLOWED)) + ": " + ", ".join(offenders)


def test_every_expanse_error_is_defined_in_errors_py():
    sources = _sources()
    errors = sources[f"{PACKAGE}/errors.py"]
    known = {node.name for node in errors.body if isinstance(node, ast.ClassDef)}
    assert "ExpanseError" in known
    elsewhere = []
    changed = True
    while changed:  # a subclass of a subclass defined elsewhere counts too
        changed = False
        for rel, tree in sources.items():
            if rel == f"{PACKAGE}/errors.py":
                continue
            aliases = {
                a.asname or a.name: a.name
                for node in _import_nodes(tree, module_level=False)
                if isinstance(node, ast.ImportFrom)
                for a in node.names
            }
            for node in ast.walk(tree):
                if not isinstance(node, ast.ClassDef) or (rel, node.name, node.lineno) in elsewhere:
                    continue
                bases = {b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", None) for b in node.bases}
                if {aliases.get(b, b) for b in bases} & known:
                    elsewhere.append((rel, node.name, node.lineno))
                    known.add(node.name)
                    changed = True
    unexpected = [f"{rel}:{line} ({name})" for rel, name, line in elsewhere if (rel, name) not in ERRORS_ELSEWHERE]
    assert not unexpected, "ExpanseError subclasses defined outside expanse/errors.py: " + ", ".join(unexpected)
