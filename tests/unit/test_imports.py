"""The import graph of Accord's own modules: no cycles, and the bottom layers import nothing
from above them: events ← rules ← step cores ← runtime (which may also use the two
infrastructure modules below it, the settings object and the Kafka client factories; the key
store is injected) ← services/projections ← cli."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("events", "services", "projections")


def _graph() -> dict[str, set[str]]:
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            modules[name] = path
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_of_accord_imports_itself_through_others() -> None:
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_event_contract_imports_nothing_but_itself() -> None:
    graph = _graph()
    assert {
        (m, t) for m, ts in graph.items() if m.startswith("events") for t in ts if not t.startswith("events")
    } == set()


def test_the_rule_tables_import_only_the_contract_and_each_other() -> None:
    graph = _graph()
    wrong = {
        (m, t)
        for m, ts in graph.items()
        if m.startswith("services.rules")
        for t in ts
        if not t.startswith(("events", "services.rules"))
    }
    assert wrong == set()


def test_the_step_cores_import_only_the_contract_the_rules_and_each_other() -> None:
    graph = _graph()
    wrong = {
        (m, t)
        for m, ts in graph.items()
        if m.startswith("services.steps")
        for t in ts
        if not t.startswith(("events", "services.rules", "services.steps"))
    }
    assert wrong == set()


def test_the_runtime_imports_nothing_above_it() -> None:
    graph = _graph()
    below = ("events", "services.rules", "services.steps", "services.runtime", "services.settings")
    wrong = {
        (m, t)
        for m, ts in graph.items()
        if m.startswith("services.runtime")
        for t in ts
        if not t.startswith(below) and t not in ("services", "services.clients")
    }
    assert wrong == set()
