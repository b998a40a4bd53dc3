"""`train report RUNDIR`: training loss and held-out metrics over steps, as one PNG."""
from __future__ import annotations

from pathlib import Path

from .runlog import read_log

VAL_KEYS = ("token_accuracy", "exact_match", "box_miou", "max_iou")


def plot_run(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the learning curves of a run; return the PNG path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_log(run_dir)
    train = [r for r in rows if r["kind"] == "train"]
    val = [r for r in rows if r["kind"] == "val"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for key in ("loss", "structural", "geometric"):
        ax1.plot([r["step"] for r in train], [r[key] for r in train], label=key)
    ax1.set_xlabel("step")
    ax1.set_title("training loss")
    ax1.legend()
    for key in VAL_KEYS:
        pts = [(r["step"], r[key]) for r in val if r.get(key) is not None]
        if pts:
            ax2.plot(*zip(*pts), marker="o", label=key)
    ax2.set_xlabel("step")
    ax2.set_ylim(0, 1)
    ax2.set_title("held-out metrics")
    ax2.legend()
    fig.tight_layout()
    dest = Path(out) if out else Path(run_dir) / "curves.png"
    fig.savefig(dest, dpi=100)
    plt.close(fig)
    return dest
