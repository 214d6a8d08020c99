"""The package's modules import each other without cycles: every import counts, at module
level, inside functions and under ``if TYPE_CHECKING``."""

from __future__ import annotations

import ast
import importlib.machinery
from pathlib import Path
from typing import Dict, List, Set

import pytest

import hologram

PKG = Path(hologram.__file__).resolve().parent


def _modules() -> Dict[str, Path]:
    """hologram module name -> source file (packages as their __init__.py; the compiled
    modules, which import no hologram module, as their binary)."""
    out = {}
    for path in PKG.rglob("*.py"):
        parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        for path in PKG.rglob("*" + suffix):
            stem = path.name[:-len(suffix)]
            out[".".join(path.relative_to(PKG.parent).parent.parts + (stem,))] = path
    return out


def _imports(name: str, path: Path, modules: Dict[str, Path]) -> Set[str]:
    """The hologram modules that `name` imports anywhere in its source."""
    if path.suffix != ".py":
        return set()
    is_pkg = path.name == "__init__.py"
    out: Set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[:len(base) - node.level + (1 if is_pkg else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target not in modules:
                continue
            subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in modules]
            out.update(subs)
            # `from pkg import submodule` imports the submodule; any other name comes from
            # the module itself
            if len(subs) < len(node.names):
                out.add(target)
    out.discard(name)
    return out


def _cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    found: List[List[str]] = []

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
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert len(graph) > 20 and graph["hologram.backend"], graph
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("module, imported", [
    ("hologram.isa", "hologram.disasm"),          # the disassembler is below Instruction
    ("hologram.backend", "hologram.launch"),
    ("hologram.reference", "hologram.launch"),
])
def test_layering(module, imported):
    modules = _modules()
    assert imported in _imports(module, modules[module], modules)
    assert module not in _imports(imported, modules[imported], modules)
