"""Plots of results: a confusion matrix (``archc eval``) and several runs' curves on shared axes
(``archc compare``). matplotlib's Agg backend, written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from archc.train.plots import _pyplot, _series
from archc.train.rundir import atomic_path


def plot_confusion(confusion: list[list[int]], classes: list[str], path: str | Path, title: str = "") -> None:
    """Rows: the true class, columns: the predicted one; each cell the share of its row, with its count."""
    import numpy as np

    plt = _pyplot()
    matrix = np.asarray(confusion, dtype=np.float64)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.55 * len(classes) + 2.5)
    figure, axis = plt.subplots(figsize=(size + 1, size))
    image = axis.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04, label="share of the true class")
    ticks = range(len(classes))
    axis.set_xticks(ticks, labels=classes, rotation=45, ha="right")
    axis.set_yticks(ticks, labels=classes)
    axis.set(xlabel="predicted", ylabel="true", title=title)
    if len(classes) <= 20:
        for row in ticks:
            for col in ticks:
                if matrix[row, col]:
                    axis.text(col, row, f"{int(matrix[row, col])}", ha="center", va="center", fontsize=7,
                              color="white" if shares[row, col] > 0.5 else "black")
    figure.tight_layout()
    with atomic_path(Path(path)) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)


def plot_runs(runs: dict[str, list[dict[str, Any]]], path: str | Path, title: str = "") -> None:
    """Loss and accuracy per epoch of each run (train dashed, test solid, one colour per run) on shared axes."""
    plt = _pyplot()
    figure, (loss_axis, acc_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    for index, (label, rows) in enumerate(runs.items()):
        color = f"C{index % 10}"
        for key, style, axis in (("train_loss", "--", loss_axis), ("test_loss", "-", loss_axis),
                                 ("train_acc", "--", acc_axis), ("test_acc", "-", acc_axis)):
            kind = "train" if key.startswith("train") else "test"
            axis.plot(*_series(rows, key), style, color=color, marker="o", markersize=3, label=f"{label} {kind}")
    loss_axis.set(xlabel="epoch", ylabel="loss", title="loss")
    acc_axis.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    from matplotlib.ticker import MaxNLocator

    for axis in (loss_axis, acc_axis):
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    with atomic_path(Path(path)) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)
