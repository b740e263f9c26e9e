"""An Explanation holds arrays: its drawing, saving and display methods are each one call into
cam_keras.render.explanations, so pictures are made in one place."""

import ast
from pathlib import Path

import cam_keras

EXPLANATION = Path(cam_keras.__file__).parent / "cam" / "explanation.py"

DELEGATING = ("overlay", "panel", "captioned_overlays", "grid", "show", "save", "_repr_png_")


def delegations(source: str) -> dict[str, str]:
    """Each method of ``Explanation`` in :data:`DELEGATING` -> the ``drawing`` function its one
    statement returns the call of, or ``""`` when its body does anything else."""
    found = {}
    cls = next(n for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name == "Explanation")
    for method in cls.body:
        if isinstance(method, ast.FunctionDef) and method.name in DELEGATING:
            body = method.body[1:] if ast.get_docstring(method) else method.body
            call = body[0].value if len(body) == 1 and isinstance(body[0], ast.Return) else None
            func = getattr(call, "func", None)
            is_drawing = isinstance(func, ast.Attribute) and getattr(func.value, "id", "") == "drawing"
            found[method.name] = func.attr if is_drawing else ""
    return found


def test_drawing_saving_and_display_are_one_call_into_render():
    found = delegations(EXPLANATION.read_text())
    assert set(found) == set(DELEGATING)
    assert [name for name, target in found.items() if not target] == []


def test_a_method_drawing_by_itself_is_caught():
    source = (
        "class Explanation:\n"
        "    def grid(self):\n        return drawing.explanation_grid(self)\n"
        "    def _repr_png_(self):\n        return encode_png(self.grid())\n"
    )
    assert delegations(source) == {"grid": "explanation_grid", "_repr_png_": ""}
