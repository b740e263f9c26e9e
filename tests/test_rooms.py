"""The base rooms (data, models, render) import only themselves and the shared top-level modules,
so a change in cam, evaluate or train can never reach into how images are read or drawn."""

import ast
from pathlib import Path

import pytest

import cam_keras

PACKAGE = Path(cam_keras.__file__).parent
SHARED = {"atomic", "choices", "errors", "records", "safe_text"}


def imported_rooms(path: Path) -> set[str]:
    """The ``cam_keras.<room>`` names a module imports (room: first part after the package)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name.split(".")[1] for name in names if name.startswith("cam_keras.")}


def test_imported_rooms_reads_from_and_plain_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import cam_keras.render.writers\nfrom cam_keras.records import write_csv\nimport numpy\n")
    assert imported_rooms(module) == {"render", "records"}


@pytest.mark.parametrize("room", ["data", "models", "render"])
def test_base_rooms_import_only_themselves_and_shared_modules(room):
    outside = {
        f"{path.relative_to(PACKAGE)} imports cam_keras.{name}"
        for path in sorted((PACKAGE / room).glob("*.py"))
        for name in imported_rooms(path) - SHARED - {room}
    }
    assert not outside
