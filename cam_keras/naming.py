"""Output names that mirror input paths: every input gets its own stem, safe to write under an
output folder and short enough for any file system, whoever writes the files (heatmap jobs,
evaluation overlays)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from cam_keras.safe_text import FS_NAMES

_NAME_MAX = 255  # bytes per file name on ext4, XFS, APFS and most others
_SUFFIX_ROOM = 8  # bytes kept free for an output suffix (".png", ".npz", ".jpeg")


def relative_name(path: Path, root: Path) -> Path:
    """``path`` relative to its input ``root``, or its bare name when it is the root or outside it."""
    return path.relative_to(root) if path != root and path.is_relative_to(root) else Path(path.name)


def _fit_name(name: str) -> str:
    """``name`` if an output suffix still fits in 255 bytes, else its head plus a hash of the
    whole name (so two long names that share a head stay apart)."""
    encoded = name.encode("utf-8", FS_NAMES)
    room = _NAME_MAX - _SUFFIX_ROOM
    if len(encoded) <= room:
        return name
    digest = hashlib.sha1(encoded).hexdigest()[:10]
    return encoded[: room - 11].decode("utf-8", "ignore") + "~" + digest


def output_names(paths: Sequence[Path], roots: Sequence[Path]) -> dict[Path, Path]:
    """Relative output stems for input paths, mirroring folders under their input root.

    Stems never contain ``..`` or absolute parts, two inputs never share a stem
    (``a/x.jpg``/``b/x.jpg`` keep their folders; ``x.jpg``/``x.png`` become ``x``/``x_png``),
    and a stem plus its suffix fits in 255 bytes however long the input's name.
    """
    names: dict[Path, Path] = {}
    taken: set[str] = set()
    for path, root in zip(paths, roots):
        stem = relative_name(path, root).with_suffix("")
        candidate = stem.with_name(_fit_name(stem.name))
        if str(candidate).lower() in taken:
            candidate = stem.with_name(_fit_name(f"{stem.name}_{path.suffix.lstrip('.').lower()}"))
        counter = 2
        while str(candidate).lower() in taken:
            candidate = stem.with_name(_fit_name(f"{stem.name}_{counter}"))
            counter += 1
        taken.add(str(candidate).lower())
        names[path] = candidate
    return names
