"""``python -m clickloop``: the clickloop command (see :mod:`clickloop.cli`)."""

import sys

from clickloop.cli import main

sys.exit(main())
