"""README's ```python and ```bash examples run as written, in README order, in a folder holding
generated stand-ins for the user's files: ``photos/<class>/``, ``a.jpg``, ``b.jpg``, the
demo's ``cam_keras_demo/run/model.keras`` and ``configs/``. Python blocks share one namespace
(as in a notebook) that starts empty, so a block uses only what README defines; shell blocks run
with ``cam-keras`` on PATH. A block preceded by ``<!-- not-run: REASON -->`` is skipped; every other block runs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNNABLE = ("python", "bash")
NOT_RUN = re.compile(r"<!--\s*not-run:\s*(\S.*?)\s*-->")
#: The user's things a README line names that this machine lacks, and their stand-ins.
SUBSTITUTIONS = {'weights="imagenet"': "weights=None", '"resnet50"': '"small_cnn"', "input_size=224": "input_size=32"}


@dataclass(frozen=True)
class Block:
    language: str
    line: int  # of the opening fence, 1-based
    code: str
    not_run: str | None  # the reason, if marked


def readme_blocks(text: str) -> list[Block]:
    """Fenced blocks with their language and the ``not-run`` reason from the HTML comments
    directly above the fence."""
    blocks, lines, index = [], text.splitlines(), 0
    while index < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[index])
        if not fence:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
        above, reason = index - 1, None
        while above >= 0 and lines[above].lstrip().startswith("<!--"):
            marked = NOT_RUN.search(lines[above])
            reason = reason or (marked.group(1) if marked else None)
            above -= 1
        blocks.append(Block(fence.group(1), index + 1, "\n".join(lines[index + 1 : end]), reason))
        index = end + 1
    return blocks


BLOCKS = readme_blocks((ROOT / "README.md").read_text(encoding="utf-8"))


def substituted(code: str) -> str:
    for original, stand_in in SUBSTITUTIONS.items():
        code = code.replace(original, stand_in)
    return code


def test_the_extractor_honours_markers_and_languages():
    text = "<!-- not-run: needs a GPU -->\n```bash\nnvidia-smi\n```\n\n```python\nx = 1\n```\n```text\nnot code\n```\n"
    blocks = readme_blocks(text)
    assert [(b.language, b.line, b.code, b.not_run) for b in blocks] == [
        ("bash", 2, "nvidia-smi", "needs a GPU"),
        ("python", 6, "x = 1", None),
        ("text", 9, "not code", None),
    ]


def test_readme_has_runnable_examples_of_both_kinds():
    runnable = {b.language for b in BLOCKS if b.language in RUNNABLE and b.not_run is None}
    assert runnable == {"python"} or runnable == {"python", "bash"}
    assert all(b.not_run for b in BLOCKS if "pip install" in b.code), "pip install lines need a not-run marker"


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A folder with the files README names, as a user would have them."""
    from PIL import Image

    import cam_keras

    rng = np.random.default_rng(0)
    for name, color in [("cat", (200, 120, 40)), ("dog", (40, 90, 200))]:
        (tmp_path / "photos" / name).mkdir(parents=True)
        for index in range(8):
            picture = rng.normal(128, 30, (48, 56, 3))
            picture[10:30, 12:34] = color
            Image.fromarray(np.uint8(np.clip(picture, 0, 255))).save(tmp_path / "photos" / name / f"{index}.jpg")
    shutil.copy(tmp_path / "photos" / "cat" / "0.jpg", tmp_path / "a.jpg")
    shutil.copy(tmp_path / "photos" / "dog" / "0.jpg", tmp_path / "b.jpg")
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    model = cam_keras.build_model("small_cnn", class_names=["cat", "dog"], input_size=32, base_channels=8)
    cam_keras.save_model(model, tmp_path / "cam_keras_demo" / "run" / "model.keras")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.slow
def test_readme_examples_run_as_written(workspace, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    namespace = {}  # issue 25: README used `images` and `image` without defining them
    ran = 0
    for block in BLOCKS:
        if block.language not in RUNNABLE or block.not_run:
            continue
        where = f"README.md line {block.line}"
        if block.language == "python":
            exec(compile(substituted(block.code), where, "exec"), namespace)
        else:
            result = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", substituted(block.code)],
                capture_output=True,
                text=True,
                env=env,
                timeout=900,
            )
            assert result.returncode == 0, f"{where}:\n{block.code}\n{result.stdout}\n{result.stderr}"
        ran += 1
    assert ran >= 3
