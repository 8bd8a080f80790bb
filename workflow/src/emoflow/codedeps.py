"""Which package files a rule runs: its script's imports within ``emoflow``, followed transitively.

Snakemake tracks a rule's script but not the modules the script imports, so every rule lists those
modules as inputs, and editing one reruns exactly the jobs that run it. The lists are derived here by
reading the import statements (an AST walk, nothing is imported): ``import emoflow.x``, ``from emoflow.x
import y`` (``y`` a module or a name), relative imports, and imports inside functions. Imports under
``if TYPE_CHECKING:`` do not run and are skipped. Importing ``emoflow.a.b`` also runs the ``__init__``
files of ``emoflow`` and ``emoflow.a``, so those count too.

Modules loaded by name at run time (a registry entry: one bio signal, one modality's adapter) are not
imports: the rule names them as extra roots, so a job depends on its own entry only.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path
from typing import Iterable

PACKAGE = "emoflow"


def module_path(src: Path, name: str) -> Path | None:
    """The file of module ``name`` (``emoflow.x.y``) under ``src``, or None when it is not a package module."""
    if name != PACKAGE and not name.startswith(PACKAGE + "."):
        return None
    base = Path(src).joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST) -> Iterable[ast.Import | ast.ImportFrom]:
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    parts = package.split(".")
    base = parts[: len(parts) - node.level + 1] if node.level > 1 else parts
    return ".".join(base + ([node.module] if node.module else []))


def imported_modules(src: Path, path: Path, package: str = "") -> set[str]:
    """Package modules that the file ``path`` imports directly; ``package`` resolves relative imports."""
    found: set[str] = set()
    for node in _import_nodes(ast.parse(Path(path).read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            base = _absolute(node, package)
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        found.update(n for n in names if module_path(src, n) is not None)
    return found


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


@lru_cache(maxsize=None)
def _module_closure(src: Path, name: str) -> frozenset[str]:
    seen: set[str] = set()
    todo = [name]
    while todo:
        mod = todo.pop()
        if mod in seen:
            continue
        seen.add(mod)
        path = module_path(src, mod)
        is_package = path.name == "__init__.py"
        package = mod if is_package else mod.rpartition(".")[0]
        todo.extend(imported_modules(src, path, package))
        todo.extend(_parents(mod))
    return frozenset(seen)


def closure(src: Path | str, scripts: Iterable[Path | str] = (), modules: Iterable[str] = ()) -> list[str]:
    """Sorted files of every package module that ``scripts`` (files outside the package) and ``modules``
    (names such as ``emoflow.models.bio``) run, directly or through other package modules."""
    src = Path(src)
    roots = set(modules)
    for script in scripts:
        roots |= imported_modules(src, Path(script))
    names: set[str] = set()
    for root in roots:
        if module_path(src, root) is None:
            raise ValueError(f"{root!r} is not a module of {src / PACKAGE}")
        names |= _module_closure(src, root)
    return sorted(str(module_path(src, n)) for n in names)
