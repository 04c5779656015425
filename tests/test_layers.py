"""Imports point down only, and nothing imports in a circle (read from the source by
:mod:`tests.import_graph`; ``python -m tests.import_graph`` prints the same figures).

    front ends (frontends/: cli, repl, mcp, evals, install)  ->  session  ->  agent, models  ->  dispatch, toolbox
      ->  guards  ->  tools  ->  strategies  ->  platforms, metrics, journal  ->  config, errors

The strategies sit *below* the guards: they are pure rules over journaled state (where the canary
goes next, what an approval means) that the guards enforce, so a guard may import a strategy's
rule and a strategy never imports a guard, a tool or a platform backend.

Edges counted: module-level imports, imports under ``TYPE_CHECKING`` (a type pointing up is a
dependency pointing up) and function-level imports without a ``# deferred: <reason>`` comment.
The known exceptions are listed here with what would remove them; the lists must match exactly,
so fixing one means deleting its line, and a new one fails.
"""

from __future__ import annotations

from tests import import_graph as graph

LAYERS: list[tuple[str, tuple[str, ...]]] = [  # top first; the longest matching prefix wins
    ("front ends", ("conductor.__main__", "conductor.frontends", "conductor.bundled")),
    ("session", ("conductor.session", "conductor.report", "conductor.starting", "conductor.predeploy",
                 "conductor.watchdog", "conductor.verbs", "conductor.history", "conductor.result",
                 "conductor.starter_config")),
    ("agent", ("conductor.agent", "conductor.models")),
    ("dispatch", ("conductor.dispatch", "conductor.toolbox", "conductor.project")),
    ("guards", ("conductor.guards",)),
    ("tools", ("conductor.tools",)),
    ("strategies", ("conductor.strategies",)),
    ("platforms, metrics, journal", ("conductor.config_file", "conductor.platforms", "conductor.metrics",
                                     "conductor.journal", "conductor.notify", "conductor.readonly_journal",
                                     "conductor.scrubbed_journal", "conductor.locks", "conductor.output",
                                     "conductor.release_history")),
    ("config, errors", ("conductor.config", "conductor.errors", "conductor.clock", "conductor.paths",
                        "conductor.redact", "conductor.faults", "conductor.command", "conductor.signals",
                        "conductor.schema")),
]

# (importer, imported): why it points up, and what removes it. None left: keep it that way.
KNOWN_UPWARD: set[tuple[str, str]] = set()

# Modules in a cycle (TYPE_CHECKING and undeferred function-level imports included). None left.
KNOWN_CYCLES: list[list[str]] = []


def _layer(module: str) -> int:
    if module == "conductor":
        return 0  # the public API: its heavy names are loaded lazily from the session
    matches = [(len(prefix), rank) for rank, (_, prefixes) in enumerate(LAYERS) for prefix in prefixes
               if module == prefix or module.startswith(prefix + ".")]
    assert matches, f"{module} is in no layer: add it to LAYERS in tests/test_layers.py"
    return max(matches)[1]


def _counted(edge: graph.Edge) -> bool:
    return not (edge.where == "function" and edge.deferred)


def test_every_module_has_a_layer() -> None:
    for module in graph.module_files():
        _layer(module)


def test_imports_point_down() -> None:
    upward = {(e.source, e.target) for e in graph.edges() if _counted(e) and _layer(e.target) < _layer(e.source)}
    assert upward == KNOWN_UPWARD


def test_no_import_cycles() -> None:
    edges = [e for e in graph.edges() if _counted(e)]
    modules: dict[str, set[str]] = {m: set() for m in graph.module_files()}
    for e in edges:
        modules[e.source].add(e.target)
    assert graph.cycles(modules) == KNOWN_CYCLES


def test_the_cycle_finder_finds_cycles() -> None:
    assert graph.cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert graph.cycles({"a": {"b"}, "b": set()}) == []


def test_importing_a_strategy_loads_no_guard_tool_brain_or_backend() -> None:
    loaded = graph.loaded_by("conductor.strategies.canary")
    assert "conductor.strategies.canary" in loaded
    above = [m for m in loaded if m.startswith(("conductor.guards", "conductor.tools", "conductor.dispatch",
                                                "conductor.toolbox", "conductor.models", "conductor.agent",
                                                "conductor.session", "conductor.platforms.sim",
                                                "conductor.platforms.local", "conductor.platforms.kubernetes"))]
    assert above == []


def test_the_engine_layers_import_late_only_with_a_reason() -> None:
    """Below the session, an import inside a function is a heavy SDK kept off the import path,
    and says so; anything else belongs at the top of the module."""
    engine = ("conductor.agent", "conductor.models", "conductor.dispatch", "conductor.toolbox", "conductor.project",
              "conductor.guards", "conductor.tools", "conductor.strategies", "conductor.journal", "conductor.metrics")
    late = [f"{e.source}:{e.line} imports {e.target}" for e in graph.edges()
            if e.where == "function" and not e.deferred and e.source.startswith(engine)]
    assert late == []
