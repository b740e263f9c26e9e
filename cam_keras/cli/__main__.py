"""``python -m cam_keras.cli``: the ``cam-keras`` command."""

import sys

from cam_keras.cli import main

sys.exit(main())
