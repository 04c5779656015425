"""The package's import graph, read from the source with ``ast`` (nothing is imported).

    python -m tests.import_graph              # cycles, pairs importing each other, imports inside functions
    python -m tests.import_graph --loaded conductor.strategies.canary   # modules one import loads

Every ``import``/``from … import`` of a ``conductor`` module is an edge, classified by where it sits:

    module         at the top of the file: runs when the module is imported
    type_checking  under ``if TYPE_CHECKING:``: annotations only, never runs
    function       inside a function: runs when the function is first called

A function-level import is *deferred* when a ``# deferred: <reason>`` comment sits on its line or
just above the run of imports it belongs to. The one accepted reason to import late is to keep a
heavy or optional SDK (and the adapter wrapping it) off the import path of everyone who does not
use it; every other function-level import is a cycle or a layer violation in disguise, so
``tests/test_layers.py`` counts it as a module-level edge.
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "conductor"
DEFERRED = "# deferred:"


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    where: str  # "module", "type_checking" or "function"
    line: int
    deferred: bool  # a function-level import with a "# deferred: reason" comment


def module_files() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _has_reason(lines: list[str], index: int) -> bool:
    """A ``# deferred:`` comment on the import's line, or above the run of imports it belongs to."""
    if DEFERRED in lines[index]:
        return True
    above = index - 1
    while above >= 0 and lines[above].strip().startswith(("from ", "import ")):
        above -= 1
    return above >= 0 and DEFERRED in lines[above]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _targets(node: ast.Import | ast.ImportFrom, source: str, is_package: bool, known: set[str]) -> list[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:  # relative import
            anchor = source.split(".") if is_package else source.split(".")[:-1]
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        # `from conductor.x import y` imports conductor.x, and conductor.x.y too when y is a module
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
    out = []
    for name in names:
        while name and name not in known:  # `import conductor.x.y` of a non-module attribute: its module
            name = name.rpartition(".")[0]
        if name.startswith("conductor") and name not in out:
            out.append(name)
    return out


def edges() -> list[Edge]:
    files = module_files()
    known = set(files)
    found: list[Edge] = []
    for source, path in files.items():
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        is_package = path.name == "__init__.py"

        def visit(node: ast.AST, where: str, source: str = source, lines: list[str] = lines,
                  is_package: bool = is_package) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.Import | ast.ImportFrom):
                    deferred = where == "function" and _has_reason(lines, child.lineno - 1)
                    for target in _targets(child, source, is_package, known):
                        if target != source:
                            found.append(Edge(source, target, where, child.lineno, deferred))
                elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                    visit(child, "function")
                elif isinstance(child, ast.If) and _is_type_checking(child.test) and where == "module":
                    for stmt in child.body:
                        visit(ast.Module(body=[stmt], type_ignores=[]), "type_checking")
                    for stmt in child.orelse:
                        visit(ast.Module(body=[stmt], type_ignores=[]), "module")
                else:
                    visit(child, where)

        visit(ast.parse(text), "module")
    return found


def runtime_graph(all_edges: list[Edge]) -> dict[str, set[str]]:
    """What can run at import or call time: module-level and function-level imports, except the
    deferred SDK imports (they point at adapters nothing else imports)."""
    graph: dict[str, set[str]] = {m: set() for m in module_files()}
    for e in all_edges:
        if e.where == "module" or (e.where == "function" and not e.deferred):
            graph[e.source].add(e.target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return sorted(found)


def mutual_pairs(all_edges: list[Edge]) -> list[tuple[str, str]]:
    """Pairs of modules that import each other in any way (module, type-checking or function level)."""
    pairs = {(e.source, e.target) for e in all_edges}
    return sorted({(a, b) for a, b in pairs if (b, a) in pairs and a < b})


def loaded_by(module: str) -> list[str]:
    """The conductor modules in ``sys.modules`` after importing ``module`` in a fresh interpreter."""
    code = f"import sys, {module}; print('\\n'.join(sorted(m for m in sys.modules if m.startswith('conductor'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return out.stdout.split()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loaded", metavar="MODULE", help="list the conductor modules importing MODULE loads")
    args = parser.parse_args(argv)
    if args.loaded:
        names = loaded_by(args.loaded)
        print(f"{len(names)} conductor modules loaded by `import {args.loaded}`:")
        print("  " + "\n  ".join(names))
        return 0
    all_edges = edges()
    function_level = [e for e in all_edges if e.where == "function"]
    components = cycles(runtime_graph(all_edges))
    print(f"modules: {len(module_files())}, conductor imports: {len(all_edges)}")
    print(f"import statements inside functions (conductor targets): {len(function_level)}, "
          f"of which deferred with a reason: {sum(e.deferred for e in function_level)}")
    print(f"pairs importing each other (any level): {len(mutual_pairs(all_edges))}")
    for a, b in mutual_pairs(all_edges):
        print(f"  {a} <-> {b}")
    print(f"import cycles (module + undeferred function-level imports): {len(components)}")
    for component in components:
        print("  " + " -> ".join(component))
    return 1 if components else 0


if __name__ == "__main__":
    raise SystemExit(main())
