"""What the gated twins of a run decided, against their ungated twins (issue 16; the README's gate paragraph).

For every variant ``NAME_gated`` (or ``NAME_gated_SUFFIX``) of a finished run
whose ``NAME`` is also in it, from ``metrics.csv``, paired per seed at the final round with 95 % t
intervals: the served (``ndcg@10``) and held-out (``heldout_ndcg@10``) gap to
the ungated twin; how many candidates were deployed; the held-out gap of the
last candidate (``candidate_heldout_ndcg@10``); over the refused rounds, the
share in which the refused candidate was the better one held out, and the
mean difference; and the exact change in NDCG@10 of the served queries
(``exact_ndcg_improvement``) of the refused and of the deployed candidates.

Usage::

    python run_simulation.py --jobs 2                  # the default run, into results/
    python experiments/gate_decisions.py results
    python experiments/gate_decisions.py OUT --seeds 5,6,7,8,9   # a subset of the run's seeds
"""

import sys

import numpy as np

from analysis import ResultsError, check_complete, read_metrics, t_interval
from clickloop._arguments import OneLineParser, existing_folder, seed_list


def _final_gap(rows, gated, ungated, metric):
    """Paired final-round difference gated - ungated over the seeds both have: (mean, low, high) text."""
    _, values = rows.final(gated, metric)
    _, base = rows.final(ungated, metric)
    mean, low, high, _ = t_interval(values - base)
    return f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]"


def _per_round(rows, variant, metric):
    """Rounds 1.. x seeds of one metric (the gate's metrics start at round 1)."""
    rounds, _, grid = rows.curve(variant, metric)
    return grid[:, rounds >= 1].T


def report(rows, gated, ungated):
    """Lines describing the decisions of ``gated`` against ``ungated``."""
    deployed = _per_round(rows, gated, "deployed")
    exact = _per_round(rows, gated, "exact_ndcg_improvement")
    lines = [f"{gated} - {ungated}: served {_final_gap(rows, gated, ungated, 'ndcg@10')}, held-out "
             f"{_final_gap(rows, gated, ungated, 'heldout_ndcg@10')}",
             f"  deployed {int(np.nansum(deployed))} of {int(np.isfinite(deployed).sum())} candidates"]
    if "candidate_heldout_ndcg@10" in rows.metrics:
        _, last = rows.final(gated, "candidate_heldout_ndcg@10")
        _, base = rows.final(ungated, "heldout_ndcg@10")
        mean, low, high, _ = t_interval(last - base)
        refused = deployed == 0
        better = (_per_round(rows, gated, "candidate_heldout_ndcg@10")
                  - _per_round(rows, gated, "heldout_ndcg@10"))[refused]
        lines += [f"  last candidate held out - {ungated}: {mean:+.3f} [{low:+.3f}, {high:+.3f}]",
                  f"  refused rounds {int(refused.sum())}: the refused candidate better held out in "
                  f"{100 * np.mean(better > 0):.0f} %, mean {better.mean():+.3f}"]
    refused_exact, deployed_exact = exact[deployed == 0], exact[deployed == 1]
    lines.append(f"  exact NDCG@10 change on served queries: refused mean {refused_exact.mean():+.3f} "
                 f"({100 * np.mean(refused_exact > 0):.0f} % up, at most {refused_exact.max():+.3f}); deployed mean "
                 f"{deployed_exact.mean():+.3f} ({int((deployed_exact < 0).sum())} lost, at worst "
                 f"{deployed_exact.min():+.3f})")
    return lines


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=existing_folder, help="a finished run's folder (with metrics.csv)")
    parser.add_argument("--seeds", type=seed_list, default=None, help="only these seeds of the run (e.g. 5,6,7,8,9)")
    args = parser.parse_args(argv)
    try:
        check_complete(args.run)
        rows = read_metrics(args.run / "metrics.csv")
    except ResultsError as exc:
        parser.error(str(exc))
    if args.seeds is not None:
        try:
            rows = rows.for_seeds(args.seeds)
        except ValueError as exc:
            parser.error(f"argument --seeds: the run has {exc}")
    pairs = [(name, name.partition("_gated")[0]) for name in rows.variants
             if "_gated" in name and name.partition("_gated")[0] in rows.variants]
    if not pairs:
        parser.error(f"{args.run / 'metrics.csv'} has no variant NAME_gated beside its NAME")
    for gated, ungated in pairs:
        print("\n".join(report(rows, gated, ungated)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
