"""Module layering: the model modules import each other without cycles (function-level imports
included), so each can be read, tested and changed from the leaves up."""

import ast
from pathlib import Path

import cam_keras

PACKAGE = Path(cam_keras.__file__).parent


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The ``cam_keras`` modules ``path`` imports anywhere in its body."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cam_keras"):
            found |= {f"{node.module}.{alias.name}" for alias in node.names} | {node.module}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found & modules


def test_the_model_modules_import_each_other_without_a_cycle():
    files = {f"cam_keras.models.{p.stem}": p for p in (PACKAGE / "models").glob("*.py") if p.stem != "__init__"}
    graph = {name: imports_of(path, set(files)) - {name} for name, path in files.items()}
    done, path = set(), []

    def visit(name):
        assert name not in path, f"import cycle: {' -> '.join([*path[path.index(name) :], name])}"
        if name in done:
            return
        path.append(name)
        for imported in sorted(graph[name]):
            visit(imported)
        path.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)
    assert "cam_keras.models.applications" in graph and not graph["cam_keras.models.applications"]
