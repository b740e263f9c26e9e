"""Jobs room: heatmap jobs over many images, from request to report, sharded, resumed and merged.

``request`` (options and request, checked once) -> ``plan`` (shard slice, resume) ->
``decode`` -> ``writes`` (explain, render in ``workers`` processes sized by ``pool``, rows to
``table``) -> ``report``; ``identity`` and ``resume`` keep a resumed job the same job;
``shards`` and ``merge`` split a job and join it again; ``pipeline`` runs the stages; ``masks``
runs a job whose outputs are label masks.
Names load on first use (PEP 562): a render worker imports ``cam_keras.jobs.workers`` without
TensorFlow, and the command line reads the defaults of ``request`` without it.
"""

from __future__ import annotations

from cam_keras.quiet_import import lazy_exports

_EXPORTS = {
    "HeatmapOptions": "cam_keras.jobs.request",
    "HeatmapRequest": "cam_keras.jobs.request",
    "HeatmapReport": "cam_keras.jobs.report",
    "Shard": "cam_keras.jobs.shards",
    "merge_shards": "cam_keras.jobs.merge",
    "run_request": "cam_keras.jobs.pipeline",
    "write_heatmaps": "cam_keras.jobs.pipeline",
    "mask_options": "cam_keras.jobs.masks",
    "run_masks": "cam_keras.jobs.masks",
    "write_masks": "cam_keras.jobs.masks",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
