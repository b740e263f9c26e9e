"""No function in cam_keras/ is over 60 lines (its body, without the docstring): a longer one
does several jobs and is split into named steps."""

import ast
from pathlib import Path

import cam_keras

PACKAGE = Path(cam_keras.__file__).parent
MOST_LINES = 60


def body_lines(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the first statement after the docstring to the end of the last one."""
    body = function.body
    if ast.get_docstring(function, clean=False) is not None:
        body = body[1:]
    return body[-1].end_lineno - body[0].lineno + 1 if body else 0


def long_functions(package: Path) -> list[str]:
    """``file:line name (N lines)`` for every function or method of ``package`` over the limit."""
    found = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and body_lines(node) > MOST_LINES:
                found.append(f"{path.relative_to(package.parent)}:{node.lineno} {node.name} ({body_lines(node)} lines)")
    return found


def test_no_function_is_over_60_lines():
    assert long_functions(PACKAGE) == []


def test_a_long_method_is_named_and_a_docstring_does_not_count(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    statements = [f"x{i} = {i}" for i in range(MOST_LINES)]
    fits = ["def fits():", '    """' + "\n" * 20 + '    """', *(f"    {line}" for line in statements)]
    too_long = ["class A:", "    def too_long(self):", *(f"        {line}" for line in [*statements, "return 1"])]
    source = "\n".join([*fits, *too_long]) + "\n"
    (package / "m.py").write_text(source)
    line = source.splitlines().index("    def too_long(self):") + 1
    assert long_functions(package) == [f"pkg/m.py:{line} too_long ({MOST_LINES + 1} lines)"]
