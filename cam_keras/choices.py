"""Lists of choices that training settings name, each defined once here, free of TensorFlow, so
the command line builds its flags, checks and help without importing it. The modules that act on
a choice (``data.resize``, ``data.augmentation``, ``train.strategy``) import their list from here."""

RESIZE_POLICIES = ("squash", "crop", "pad")
AUGMENTATIONS = ("none", "flip", "standard")
STRATEGIES = ("auto", "default", "mirrored", "multiworker")
