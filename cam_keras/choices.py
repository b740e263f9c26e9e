"""Lists of choices that training settings name, each defined once here, free of TensorFlow, so
the command line builds its flags, checks and help without importing it. The modules that act on
a choice (``data.resize``, ``data.augmentation``, ``train.strategy``, ``data.synthetic``) import
their list from here."""

from cam_keras.errors import UsageError, option

RESIZE_POLICIES = ("squash", "crop", "pad")
AUGMENTATIONS = ("none", "flip", "standard")
STRATEGIES = ("auto", "default", "mirrored", "multiworker")
FILLS = ("flat", "texture")  # how the demo's synthetic shapes are filled


def check_resize_policy(policy: str) -> str:
    """``policy`` if it is one of :data:`RESIZE_POLICIES`, else :class:`UsageError`."""
    if policy not in RESIZE_POLICIES:
        raise UsageError(
            f"resize policy must be one of {', '.join(RESIZE_POLICIES)} ({option('resize')}), got {policy!r}"
        )
    return policy
