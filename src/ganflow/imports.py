"""The source files a module runs: the import closure of ``ganflow.*`` modules, read from the code.

The stage graph (stages/graph.py) makes every stage depend on these files, so a dependency on code
cannot be forgotten: a new ``from ganflow.x import y`` anywhere in a stage's closure adds x's file
to that stage's deps the next time the graph is derived.

Static, by reading the syntax tree (nothing is imported): every ``import ganflow...`` and
``from ganflow... import ...`` statement counts, at module level or inside a function, because a
function-level import runs as surely as a top-level one.  Importing ``a.b.c`` runs ``a/__init__``
and ``a/b/__init__`` too, so those are part of the closure.  Dynamic imports (``importlib``) are
not seen: the graph names those roots itself (the task module, the model module, the data source).
"""
from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

PACKAGE = "ganflow"
PACKAGE_DIR = Path(__file__).resolve().parent


def module_file(module: str, package_dir: Path = PACKAGE_DIR) -> Path | None:
    """The file of a ``ganflow.*`` module (a .py file or a package's __init__.py), or None."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = package_dir.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _package_inits(module: str) -> list[str]:
    """``a.b.c`` -> [``a``, ``a.b``]: the packages Python initialises before the module."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _resolve_relative(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    parts = module.split(".")
    if not is_package:
        parts = parts[:-1]
    if node.level > 1:
        parts = parts[: len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


@lru_cache(maxsize=None)
def _direct_imports(path: Path, module: str) -> frozenset[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_relative(module, node, path.name == "__init__.py") if node.level else node.module or ""
            found.add(base)
            # `from ganflow.stages import paths` imports the submodule ganflow.stages.paths.
            found.update(f"{base}.{a.name}" for a in node.names if a.name != "*")
    return frozenset(m for m in found if m == PACKAGE or m.startswith(PACKAGE + "."))


def closure(modules: list[str], package_dir: Path = PACKAGE_DIR) -> set[Path]:
    """Every ganflow source file that importing ``modules`` runs (the modules' own files included)."""
    seen: set[str] = set()
    files: set[Path] = set()
    todo = list(modules)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        path = module_file(module, package_dir)
        if path is None:
            continue  # `from ganflow.x import name`: name is an attribute, not a module
        files.add(path)
        todo += _package_inits(module)
        todo += _direct_imports(path, module)
    return files
