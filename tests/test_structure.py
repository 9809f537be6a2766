"""The layout rules of the package, checked on its source (the structure issue's acceptance)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "dask_openvino"
MAX_LINES = 500


def _modules() -> dict[str, ast.Module]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(("dask_openvino", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        modules[name] = ast.parse(path.read_text(), filename=str(path))
    return modules


def _top_level_imports(tree: ast.Module) -> list[ast.ImportFrom | ast.Import]:
    """Imports that run when the module is imported (not under ``if TYPE_CHECKING``, not in functions)."""
    return [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]


def test_every_module_is_at_most_500_lines() -> None:
    long = {
        str(path.relative_to(PACKAGE)): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_no_private_name_is_imported_from_another_module() -> None:
    crossing = []
    for name, tree in _modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dask_openvino"):
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.endswith("__")]
                if private and node.module != name:
                    crossing.append(f"{name} imports {private} from {node.module}")
    assert crossing == []


def test_module_imports_form_no_cycle() -> None:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, tree in modules.items():
        for node in _top_level_imports(tree):
            targets = (
                [node.module or ""] + [f"{node.module}.{alias.name}" for alias in node.names]
                if isinstance(node, ast.ImportFrom)
                else [alias.name for alias in node.names]
            )
            # Importing from an enclosing package (``from dask_openvino import state``) needs only the
            # submodule: the package itself is already being imported.
            graph[name] |= {t for t in targets if t in modules and t != name and not name.startswith(t + ".")}
    visiting: set[str] = set()
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in done:
            return
        assert node not in visiting, " -> ".join([*path, node])
        visiting.add(node)
        for target in sorted(graph[node]):
            visit(target, [*path, node])
        visiting.discard(node)
        done.add(node)

    for module in sorted(graph):
        visit(module, [])
