"""The rooms stand in layers, and an import only runs down them: shared modules (errors, atomic,
records, ...) -> the base rooms (data, models, render) -> cam -> evaluate, train, jobs -> api,
demo -> cli -> the package root. So a change in cam, evaluate or train can never reach into how
images are read or drawn, and no module is imported by what it imports."""

import ast
from pathlib import Path

import pytest

import cam_keras

PACKAGE = Path(cam_keras.__file__).parent
ROOT = "cam_keras"  # the package itself: `import cam_keras`, `from cam_keras import explain`
# What the base rooms may use: compat (Keras and TensorFlow internals in one place) and outdir
# (render/explanations.py saves an Explanation into a guarded folder) came with the layers work.
BASE_SHARED = {"atomic", "choices", "compat", "errors", "naming", "outdir", "records", "safe_text"}
SHARED = {*BASE_SHARED, "lockfile", "outdir", "progress", "quiet_import"}
LAYERS = [
    SHARED,
    {"data", "gallery", "models", "render"},
    {"cam"},
    {"evaluate", "train", "jobs"},
    {"api", "demo"},
    {"cli"},
    {ROOT},
]
LAYER = {room: level for level, rooms in enumerate(LAYERS) for room in rooms}


def _module(name: str, package: Path = PACKAGE) -> str:
    """The module (file or package) that a dotted import name lands in: ``cam_keras.records.write_csv``
    is ``cam_keras.records``; ``cam_keras.explain`` is the package root."""
    parts = name.split(".")
    while len(parts) > 1:
        path = package.parent.joinpath(*parts)
        if path.with_suffix(".py").is_file() or (path / "__init__.py").is_file():
            break
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.AST) -> bool:
    """``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``): a block that never runs."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _running_nodes(tree: ast.AST):
    """Every node of ``tree`` but those under ``if TYPE_CHECKING:`` (its ``else`` runs)."""
    for child in ast.iter_child_nodes(tree):
        for node in child.orelse if _is_type_checking(child) else [child]:
            yield node
            yield from _running_nodes(node)


def _absolute(node: ast.ImportFrom, path: Path, package: Path) -> str:
    """The dotted module a ``from`` import names, relative ones (``from .. import x``) resolved
    against the package ``path`` lies in."""
    if not node.level:
        return node.module or ""
    here = path.relative_to(package.parent).parent.parts
    base = ".".join(here[: len(here) - node.level + 1])
    return f"{base}.{node.module}" if node.module else base


def imported_modules(path: Path, package: Path = PACKAGE) -> set[str]:
    """The ``cam_keras`` modules a file imports anywhere it runs (functions too), the package
    root included, relative imports too. Imports for type hints only (``if TYPE_CHECKING:``)
    never run and do not count."""
    names = set()
    for node in _running_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            names.update(f"{_absolute(node, path, package)}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {_module(name, package) for name in names if name == ROOT or name.startswith(f"{ROOT}.")}


def room(module: str) -> str:
    """``cam_keras.cam.base`` -> ``cam``; the package root is its own room."""
    return module.split(".")[1] if "." in module else ROOT


def imported_rooms(path: Path) -> set[str]:
    """The rooms a module imports."""
    return {room(module) for module in imported_modules(path)}


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_graph(package: Path) -> dict[str, set[str]]:
    """Each module of the package folder ``package`` -> the package's modules it imports."""
    return {
        module_name(path, package): imported_modules(path, package) - {module_name(path, package)}
        for path in sorted(package.rglob("*.py"))
    }


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """``module -> target`` for each import between rooms that does not run down the layers
    (among the shared modules of layer 0, any may import another)."""
    return sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        for target in targets
        if room(module) != room(target)
        and (LAYER[room(target)] > LAYER[room(module)] or LAYER[room(target)] == LAYER[room(module)] > 0)
    )


GRAPH = module_graph(PACKAGE)


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The groups of modules that import each other in a loop (strongly connected, two or more)."""
    order, low, stack, found, counter = {}, {}, [], [], iter(range(len(graph) + 1))

    def visit(module: str) -> None:
        order[module] = low[module] = next(counter)
        stack.append(module)
        for target in graph.get(module, ()):
            if target not in order:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], order[target])
        if low[module] == order[module]:
            group = {stack.pop()}
            while module not in group:
                group.add(stack.pop())
            if len(group) > 1:
                found.append(group)

    for module in graph:
        if module not in order:
            visit(module)
    return found


def test_imported_rooms_reads_from_and_plain_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import cam_keras.render.writers\nfrom cam_keras.records import write_csv\nimport numpy\n")
    assert imported_rooms(module) == {"render", "records"}


def test_imports_for_type_hints_only_do_not_count(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from cam_keras.cam import BaseCAM\n"
        "else:\n    import cam_keras.data\ndef f():\n    from cam_keras.render import write_png\n"
    )
    assert imported_modules(module) == {"cam_keras.data", "cam_keras.render"}


def test_the_package_root_counts_as_an_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import cam_keras\nfrom cam_keras import explain, cli\nfrom cam_keras.jobs import Shard\n")
    assert imported_modules(module) == {"cam_keras", "cam_keras.cli", "cam_keras.jobs"}


def test_cycles_finds_loops_and_only_loops():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert cycles(graph) == [{"a", "b", "c"}]


@pytest.mark.parametrize("room_name", ["data", "models", "render"])
def test_base_rooms_import_only_themselves_and_shared_modules(room_name):
    outside = {
        f"{path.relative_to(PACKAGE)} imports {module}"
        for path in sorted((PACKAGE / room_name).glob("*.py"))
        for module in imported_modules(path)
        if room(module) not in BASE_SHARED | {room_name}
    }
    assert not outside


def test_every_room_has_a_layer():
    assert {room(module) for module in GRAPH} - set(LAYER) == set(), "give the new room a layer in LAYERS"


def test_imports_run_only_down_the_layers():
    """Within a room anything goes (its loops are caught below); between rooms an import goes to
    a lower layer, or, among the shared modules, to another shared one."""
    assert upward_imports(GRAPH) == []


def test_no_import_cycle():
    assert [sorted(group) for group in cycles(GRAPH)] == []


def test_a_lower_layer_importing_the_package_root_is_caught(tmp_path):
    """A fake package tree whose base room imports ``cam_keras`` itself (plain and ``from``), and
    whose cam room imports the jobs room: all three upward edges are reported, the downward one not."""
    package = tmp_path / ROOT
    for folder, source in {
        ".": "from cam_keras.cam import x\n",
        "data": "",
        "cam": "",
        "jobs": "",
    }.items():
        (package / folder).mkdir(parents=True, exist_ok=True)
        (package / folder / "__init__.py").write_text(source)
    (package / "data" / "plain.py").write_text("import cam_keras\n")
    (package / "data" / "named.py").write_text("from cam_keras import explain\n")
    (package / "data" / "relative.py").write_text("from .. import explain\nfrom ..cam import x\nfrom . import plain\n")
    (package / "cam" / "x.py").write_text("from cam_keras.jobs import plan\nfrom cam_keras.data import plain\n")
    assert upward_imports(module_graph(package)) == [
        "cam_keras.cam.x -> cam_keras.jobs",
        "cam_keras.data.named -> cam_keras",
        "cam_keras.data.plain -> cam_keras",
        "cam_keras.data.relative -> cam_keras",
        "cam_keras.data.relative -> cam_keras.cam.x",
    ]


def test_a_loop_in_a_fake_tree_is_caught(tmp_path):
    package = tmp_path / ROOT
    (package / "train").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "train" / "__init__.py").write_text("")
    (package / "train" / "a.py").write_text("def f():\n    from cam_keras.train.b import g\n")
    (package / "train" / "b.py").write_text("from cam_keras.train import a\n")
    assert cycles(module_graph(package)) == [{"cam_keras.train.a", "cam_keras.train.b"}]


def reached(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module ``start`` imports, however indirectly."""
    found, todo = set(), [start]
    while todo:
        for target in graph.get(todo.pop(), ()):
            if target not in found:
                found.add(target)
                todo.append(target)
    return found


def test_the_heatmap_command_reaches_nothing_of_training():
    """Drawing heatmaps with a saved model needs nothing of fine-tuning (issue 24): the learning
    note it prints lives with the model file, in ``models/``."""
    assert sorted(module for module in reached(GRAPH, "cam_keras.cli.heatmap") if room(module) == "train") == []
