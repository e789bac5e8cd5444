"""clickloop's main command as a script: ``python run_simulation.py`` equals ``clickloop``.

The command lives in :mod:`clickloop.cli` (also ``python -m clickloop``); see
``python run_simulation.py --help`` and the README.
"""

import sys

from clickloop.cli import main

if __name__ == "__main__":
    sys.exit(main())
