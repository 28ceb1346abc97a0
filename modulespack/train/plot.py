"""The loss curve of a training run as a PNG beside its checkpoints.

matplotlib's object API with the Agg canvas: no pyplot state, no display needed, safe in a
worker thread. Written atomically so a viewer never shows a half-written image.
"""
from __future__ import annotations

from collections.abc import Sequence

from ..io.atomic import atomic_path


def plot_losses(path, train: Sequence[float], val: Sequence[float] | None = None,
                best_epoch: int | None = None, title: str = "") -> None:
    """Plot per-epoch training (and validation) loss against the epoch index into `path` (PNG)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(6, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    epochs = list(range(len(train)))
    ax.plot(epochs, list(train), marker="o", markersize=3, label="train")
    if val:
        ax.plot(epochs[:len(val)], list(val), marker="o", markersize=3, label="validation")
        if best_epoch is not None and 0 <= best_epoch < len(val):
            ax.plot([best_epoch], [val[best_epoch]], marker="*", markersize=12, linestyle="none",
                    color="tab:red", label=f"best (epoch {best_epoch})")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
