"""Training curves with matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _series(rows: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    points = [(row["epoch"], row[key]) for row in rows if row.get(key) is not None]
    return [p[0] for p in points], [p[1] for p in points]


def plot_curves(rows: list[dict[str, Any]], path: str | Path, title: str = "") -> None:
    """Loss (left) and accuracy (right) per epoch, train and test, from metrics.jsonl rows."""
    plt = _pyplot()
    figure, (loss_axis, acc_axis) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label, style in (("train_loss", "train", "--"), ("test_loss", "test", "-")):
        loss_axis.plot(*_series(rows, key), style, marker="o", markersize=3, label=label)
    for key, label, style in (("train_acc", "train", "--"), ("test_acc", "test", "-")):
        acc_axis.plot(*_series(rows, key), style, marker="o", markersize=3, label=label)
    losses = [row[key] for row in rows for key in ("train_loss", "test_loss") if row.get(key) is not None]
    positive = [v for v in losses if v > 0]
    log_scale = bool(positive) and len(positive) == len(losses) and max(positive) > 50 * min(positive)
    if log_scale:  # an early blow-up (a deep plain net's first test loss, say) would flatten everything else
        loss_axis.set_yscale("log")
    loss_axis.set(xlabel="epoch", ylabel="loss (log scale)" if log_scale else "loss", title="loss")
    acc_axis.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for axis in (loss_axis, acc_axis):
        axis.grid(alpha=0.3)
        axis.legend()
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100)
    plt.close(figure)


def plot_error_comparison(runs: dict[str, list[dict[str, Any]]], path: str | Path, title: str = "") -> None:
    """He et al. Fig. 6 style: training error (dashed) and test error (bold) in % per epoch, one colour per run."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for index, (label, rows) in enumerate(runs.items()):
        color = f"C{index}"
        epochs, train_acc = _series(rows, "train_acc")
        axis.plot(epochs, [100 * (1 - a) for a in train_acc], "--", color=color, linewidth=1,
                  label=f"{label} train")
        epochs, test_acc = _series(rows, "test_acc")
        axis.plot(epochs, [100 * (1 - a) for a in test_acc], "-", color=color, linewidth=2.2,
                  label=f"{label} test")
    axis.set(xlabel="epoch", ylabel="error (%)", title=title)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=110)
    plt.close(figure)
