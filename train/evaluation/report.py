"""`train report RUNDIR`: training losses and held-out scores over steps, as one PNG.

The held-out panel draws each score of the model on the untouched held-out pages (variant
00) with its 95% interval as a band, and the layout prior's score as a dashed line of the
same colour: a model's margin over the prior is what it read from the screenshots.
"""
from __future__ import annotations

from pathlib import Path

from ..runlog import read_log

VAL_KEYS = ("count", "miou", "type", "token")
LOSS_KEYS = ("loss", "element", "presence", "geometric", "region")


def plot_run(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the learning curves of a run; return the PNG path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_log(run_dir)
    train = [r for r in rows if r["kind"] == "train"]
    val = [r for r in rows if r["kind"] == "val" and r.get("pages")]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for key in LOSS_KEYS:
        pts = [(r["step"], r[key]) for r in train if r.get(key) is not None]
        if pts:
            ax1.plot(*zip(*pts), label=key)
    ax1.set_xlabel("step")
    ax1.set_yscale("log")
    ax1.set_title("training losses")
    ax1.legend(fontsize=8)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for key, colour in zip(VAL_KEYS, colours):
        pts = [(r["step"], r["pages"]["model"]["value"].get(key), r["pages"]["model"]["ci"].get(key)) for r in val]
        pts = [p for p in pts if p[1] is not None]
        if not pts:
            continue
        steps = [p[0] for p in pts]
        ax2.plot(steps, [p[1] for p in pts], marker="o", color=colour, label=f"{key} (model)")
        bands = [(s, ci) for s, _, ci in pts if ci]
        if bands:
            ax2.fill_between([s for s, _ in bands], [c[0] for _, c in bands], [c[1] for _, c in bands],
                             color=colour, alpha=0.15, linewidth=0)
        prior = [r["pages"].get("prior", {}).get("value", {}).get(key) for r in val]
        if prior and prior[-1] is not None:
            ax2.axhline(prior[-1], color=colour, linestyle="--", linewidth=1, label=f"{key} (prior)")
    ax2.set_xlabel("step")
    ax2.set_ylim(0, 1)
    ax2.set_title("held-out pages (variant 00), 95% interval; dashed: layout prior")
    ax2.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    dest = Path(out) if out else Path(run_dir) / "curves.png"
    fig.savefig(dest, dpi=100)
    plt.close(fig)
    return dest
