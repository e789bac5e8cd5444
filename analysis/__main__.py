"""Re-plot a finished output folder: ``python -m analysis OUTDIR``.

Writes ``OUTDIR/plots/*.{png,svg}`` and ``OUTDIR/summary.md`` and prints the
paths. A missing folder, a malformed file, or a folder whose run manifest
says it is unfinished (or belongs to another configuration) prints one line
to stderr and exits with status 2.
"""

import argparse
import sys

from ._manifest import check_complete
from ._plots import replot
from ._results import ResultsError


def main(argv=None):
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m analysis",
        description="Re-draw the plots and summary.md of a finished clickloop output folder.",
    )
    parser.add_argument("outdir", metavar="OUTDIR", help="output folder holding metrics.csv")
    args = parser.parse_args(argv)
    try:
        check_complete(args.outdir)  # never re-plot a folder that mixes two runs or holds half of one
        written = replot(args.outdir)
    except (ResultsError, OSError) as error:
        message = " ".join(str(error).split())
        print(f"python -m analysis: error: {message}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
