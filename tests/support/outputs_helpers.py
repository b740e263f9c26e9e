"""Helpers for tests that prove no user file changed: hashes of whole folder trees."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def tree_hashes(folder: Path) -> dict[str, str]:
    """``relative path -> sha256`` of every file under ``folder`` (empty if it is missing)."""
    hashes = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = Path(root, name)
            hashes[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes
