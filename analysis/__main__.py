"""Re-plot a finished output folder: ``python -m analysis OUTDIR``.

Writes ``OUTDIR/plots/*.{png,svg}`` and ``OUTDIR/summary.md`` (of a run, or of
a sweep: its per-key and per-round plots) and prints the paths. A missing folder, a malformed file, or a folder whose run manifest
says it is unfinished (or belongs to another configuration) prints one line
to stderr and exits with status 2.
"""

import argparse
import sys

from ._manifest import check_complete, read_manifest
from ._plots import replot
from ._results import ResultsError
from ._sweep_summary import write_sweep_summary


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
        manifest = read_manifest(args.outdir)
        sweep = manifest is not None and manifest.kind == "sweep"  # its metrics.csv leads with the grid keys
        written = write_sweep_summary(args.outdir) if sweep else replot(args.outdir)
    except (ResultsError, OSError) as error:
        message = " ".join(str(error).split())
        print(f"python -m analysis: error: {message}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
