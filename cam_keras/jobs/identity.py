"""What a heatmap job's outputs depend on, so that a resumed job or a shard is compared with the
others before its rows join theirs: the model (its weights and what its contract read or was
told), the method, the classes and the options that change what is written.

:func:`model_identity` fingerprints the explainer's model; :func:`identity_changes` names what
differs between two identities; :func:`job_identity` is a whole job's. The pipeline records
it in each job's report and job file, :mod:`~cam_keras.jobs.resume` refuses a resumed job
whose identity changed, and :mod:`~cam_keras.jobs.merge` refuses to merge shards that differ.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cam_keras.jobs.request import PACE_OPTIONS, HeatmapOptions
from cam_keras.models.graph import producer_names
from cam_keras.records import jsonable
from cam_keras.safe_text import FS_NAMES

INPUTS = "inputs"  # the identity's entry for the input set (see input_set)

if TYPE_CHECKING:
    import keras

    from cam_keras.cam import BaseCAM


def weights_fingerprint(model: keras.Model) -> str:
    """SHA-1 of every weight array of ``model`` (dtype, shape and bytes), in the model's order:
    the same for the same weights however the file was saved or named; about 0.1 s for
    ResNet50's 100 MB."""
    digest = hashlib.sha1()
    for variable in model.weights:
        array = np.ascontiguousarray(variable.numpy())
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.data)
    return digest.hexdigest()


def model_identity(explainer: BaseCAM) -> dict:
    """The model an explainer explains: its weights' fingerprint and what its contract read
    from the model or was told (``preprocess``, ``input_size``, ``resize``, ``output``), the
    layer mapped and the map augmentation (scales and mirrors)."""
    inputs, outputs = explainer.contract.inputs, explainer.contract.outputs
    return {
        "weights": weights_fingerprint(explainer.model),
        "preprocessing": inputs.preprocessing.name,
        "input_size": list(inputs.size),
        "channels": inputs.channels,
        "resize": inputs.resize,
        "output": producer_names(explainer.model.outputs),
        "output_kind": outputs.kind,
        "target_layer": explainer.target_layer_name,
        "augmentation": explainer.augmentation.as_dict(),
    }


def input_set(names: Iterable[str]) -> dict:
    """The inputs of a job as ``{"count": n, "sha256": hex}``: their number and a SHA-256 of
    their output names in job order (machine-independent: relative to the input folders).

    Example:
        >>> input_set(["a/0", "b/1"])["count"]
        2
    """
    digest, count = hashlib.sha256(), 0
    for name in names:
        digest.update(name.encode("utf-8", FS_NAMES) + b"\n")
        count += 1
    return {"count": count, "sha256": digest.hexdigest()}


def input_change(earlier: Mapping, now: Mapping) -> str | None:
    """How the input set ``now`` differs from ``earlier``, in words (``None``: the same)."""
    if earlier == now:
        return None
    if earlier.get("count") != now.get("count"):
        return f"{now.get('count')} images where it had {earlier.get('count')}"
    return f"the same number of images ({now.get('count')}) but other files"


def job_differences(earlier: Mapping, now: Mapping) -> tuple[str | None, list[str]]:
    """Between two job identities: how their input sets differ (``None``: the same) and the
    other changes, as :func:`identity_changes` names them."""

    def rest(job: Mapping) -> dict:
        return {key: value for key, value in job.items() if key != INPUTS}

    inputs = input_change(earlier.get(INPUTS) or {}, now.get(INPUTS) or {})
    return inputs, identity_changes(rest(earlier), rest(now))


def identity_changes(earlier: Mapping, now: Mapping) -> list[str]:
    """``key: earlier value`` for each entry that differs (``model.weights: ...`` inside the
    model's), sorted.

    Example:
        >>> identity_changes({"top_k": 1, "model": {"weights": "ab"}}, {"top_k": 2, "model": {"weights": "cd"}})
        ["model.weights: 'ab'", 'top_k: 1']
    """
    changes = []
    for key in sorted(set(earlier) | set(now)):
        before, after = earlier.get(key), now.get(key)
        if isinstance(before, Mapping) and isinstance(after, Mapping):
            changes += [f"{key}.{change}" for change in identity_changes(before, after)]
        elif before != after:
            changes.append(f"{key}: {before!r}")
    return changes


def job_identity(explainer: BaseCAM, options: HeatmapOptions, items: Sequence[tuple[Path, Path]]) -> dict:
    """What decides a job's outputs (the model, method, classes, options but those that only
    set the pace, and the whole input set, sharded or not), as JSON gives it back, so that a
    resumed job or a shard can be compared with the others."""
    settings = {key: value for key, value in asdict(options).items() if key not in PACE_OPTIONS}
    job = {"method": explainer.method, "class_names": list(explainer.class_names), **settings}
    inputs = input_set(stem.as_posix() for _, stem in items)
    return json.loads(json.dumps({**job, "model": model_identity(explainer), INPUTS: inputs}, default=jsonable))
