"""Click-through rate by rank, one curve per click model."""

import numpy as np

from simulator.atomic import atomic_path

# Okabe-Ito: distinguishable with the common forms of colour blindness.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def plot_ctr_by_rank(ctr_by_model, path, title="Click-through rate by rank"):
    """Plot the CTR of each rank for several click models and save PNG (150 dpi) and SVG.

    Parameters
    ----------
    ctr_by_model : dict of str to array-like of shape (k,)
        Click-through rate at ranks 1..k, per model label.
    path : str or pathlib.Path
        Output path without suffix or with ``.png``; ``.png`` and ``.svg`` are written.
    title : str

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    import pathlib

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    base = pathlib.Path(path).with_suffix("")
    base.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (label, ctr) in enumerate(ctr_by_model.items()):
        ctr = np.asarray(ctr, dtype=float)
        ax.plot(np.arange(1, ctr.size + 1), ctr, marker=MARKERS[i % len(MARKERS)],
                color=OKABE_ITO[i % len(OKABE_ITO)], label=label)
    ax.set_xticks(np.arange(1, max(len(np.atleast_1d(c)) for c in ctr_by_model.values()) + 1))
    ax.set_xlabel("rank (1 = top)")
    ax.set_ylabel("click-through rate (clicks per impression)")
    ax.set_title(title)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    written = []
    for suffix in (".png", ".svg"):
        out = base.with_suffix(suffix)
        with atomic_path(out) as temporary:
            fig.savefig(temporary, dpi=150, format=suffix[1:])
        written.append(out)
    plt.close(fig)
    return written
