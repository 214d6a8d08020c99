"""``python -m hologram``: the command line (see :mod:`hologram.cli`)."""

import sys

from .cli import main

sys.exit(main())
