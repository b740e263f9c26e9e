"""Held-out images that are not held out: the files a validation or calibration set shares
with the images it should be independent of (the same folder, a link, or a copy)."""

from __future__ import annotations

import hashlib
import logging
import os
from collections import defaultdict
from collections.abc import Sequence

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike


def shared_images(held_out: Sequence[PathLike], used: Sequence[PathLike]) -> list[str]:
    """The files of ``held_out`` that are also in ``used``: the same file (by any path, symlink
    or hard link) or a byte-identical copy. Only files of equal size are read; a file that
    cannot be read counts as not shared.

    Example:
        >>> shared_images(["val/cat/1.jpg", "val/cat/2.jpg"], ["train/cat/1.jpg"])  # 1.jpg copied
        ['val/cat/1.jpg']
    """
    identities, by_size = set(), defaultdict(list)
    for path in used:
        stat = _stat(path)
        if stat is not None:
            identities.add((stat.st_dev, stat.st_ino))
            by_size[stat.st_size].append(path)
    digests: dict[int, set[str | None]] = {}
    shared = []
    for path in held_out:
        stat = _stat(path)
        if stat is None:
            continue
        if (stat.st_dev, stat.st_ino) in identities:
            shared.append(str(path))
        elif stat.st_size in by_size:
            if stat.st_size not in digests:
                digests[stat.st_size] = {_digest(other) for other in by_size[stat.st_size]}
            if (digest := _digest(path)) is not None and digest in digests[stat.st_size]:
                shared.append(str(path))
    return shared


def warn_if_shared(held_out: Sequence[PathLike], used: Sequence[PathLike], held_out_name: str, consequence: str) -> int:
    """Warn, naming ``held_out_name`` (the option that named them), when ``held_out`` shares images with ``used`` (see
    :func:`shared_images`), saying the ``consequence``; return how many it shares."""
    shared = shared_images(held_out, used)
    if shared:
        logger.warning(
            "%s shares %d of its %d images with DATA_DIR (%s%s): %s",
            held_out_name,
            len(shared),
            len(held_out),
            shared[0],
            ", ..." if len(shared) > 1 else "",
            consequence,
        )
    return len(shared)


def _stat(path: PathLike) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def _digest(path: PathLike) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()
