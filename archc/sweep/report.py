"""A sweep's result: a table of its trials (rich) and a plot of test accuracy against cost, the Pareto front
highlighted (matplotlib, ``sweep.png`` in the sweep folder)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from archc.sweep.budget import human

PLOT_FILE = "sweep.png"


def trial_rows(study: Any, space: Any) -> list[dict[str, Any]]:
    """One plain dict per trial: number, state, the candidate, its counts and, for a trained one, its accuracy."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        spec_values, train_values = space.split(trial.params)
        attrs = trial.user_attrs
        rows.append({"number": trial.number, "state": trial.state.name.lower(), "params": {**spec_values,
                                                                                         **train_values},
                     "macs": attrs.get("macs"), "param_count": attrs.get("params"), "test_acc": attrs.get("test_acc"),
                     "best_test_acc": attrs.get("best_test_acc"), "run": attrs.get("run"),
                     "note": attrs.get("over_budget") or (f"same as trial {attrs['same_as']}"
                                                          if "same_as" in attrs else "")})
    return rows


def pareto_front(rows: list[dict[str, Any]], cost: str) -> set[int]:
    """Numbers of the trained trials that no other beats on both accuracy (higher) and ``cost`` (lower).

    ``cost`` is a row key: ``macs`` or ``param_count``. Repeats of a trained candidate (note "same as") count once.
    """
    trained = [r for r in rows if r["state"] == "complete" and r["test_acc"] is not None and r[cost] is not None
               and not r["note"]]
    front = set()
    for row in trained:
        beaten = any(o["test_acc"] >= row["test_acc"] and o[cost] <= row[cost]
                     and (o["test_acc"] > row["test_acc"] or o[cost] < row[cost]) for o in trained)
        if not beaten:
            front.add(row["number"])
    return front


def print_table(rows: list[dict[str, Any]], names: list[str], cost: str, console: Any) -> None:
    from rich.table import Table

    front = pareto_front(rows, "macs" if cost == "macs" else "param_count")
    table = Table(title="sweep trials (best first; * = on the Pareto front of accuracy and "
                        f"{'MACs' if cost == 'macs' else 'params'})", title_justify="left")
    for column in ["trial", "state", *names, "MACs", "params", "test acc", "best acc", "", "run / note"]:
        table.add_column(column, justify="right" if column not in ("state", "run / note") else "left")
    order = sorted(rows, key=lambda r: (r["test_acc"] is None, -(r["test_acc"] or 0), r["number"]))
    for row in order:
        acc, best = row["test_acc"], row["best_test_acc"]
        note = Path(row["run"]).name if row["run"] and not row["note"] else row["note"]
        table.add_row(str(row["number"]), row["state"], *(str(row["params"].get(n, "")) for n in names),
                      human(row["macs"]) if row["macs"] is not None else "",
                      human(row["param_count"]) if row["param_count"] is not None else "",
                      f"{acc:.4f}" if acc is not None else "", f"{best:.4f}" if best is not None else "",
                      "*" if row["number"] in front else "", note)
    if not console.is_terminal:
        console.width = max(console.width, 160)  # a log file: whole rows rather than wrapped cells
    console.print(table)


def plot_sweep(rows: list[dict[str, Any]], path: Path, cost: str, limit: int | None, title: str) -> bool:
    """Test accuracy against ``cost`` of the trained trials, the front joined; False when nothing was trained."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from archc.train.rundir import atomic_path

    key = "macs" if cost == "macs" else "param_count"
    trained = [r for r in rows if r["state"] == "complete" and r["test_acc"] is not None and r[key] is not None
               and not r["note"]]
    if not trained:
        return False
    front_numbers = pareto_front(rows, key)
    front = sorted((r for r in trained if r["number"] in front_numbers), key=lambda r: r[key])
    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=120)
    axes.scatter([r[key] for r in trained], [r["test_acc"] for r in trained], s=28, color="0.6", label="trained")
    axes.plot([r[key] for r in front], [r["test_acc"] for r in front], "o-", color="tab:red", ms=6,
              label="Pareto front")
    for row in trained:
        axes.annotate(str(row["number"]), (row[key], row["test_acc"]), textcoords="offset points", xytext=(4, 3),
                      fontsize=7, color="0.3")
    pruned = sum(r["state"] == "pruned" and not r["note"].startswith("same as") for r in rows)
    if limit:
        axes.axvline(limit, color="0.3", ls="--", lw=1, label=f"budget ({pruned} over it, not trained)")
    values = [r[key] for r in trained]
    from matplotlib.ticker import EngFormatter, LogLocator, NullFormatter

    if max(values) > 8 * min(values):
        axes.set_xscale("log")
        axes.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axes.xaxis.set_minor_formatter(NullFormatter())
    axes.xaxis.set_major_formatter(EngFormatter(sep=""))  # 500k, 1M, 2M rather than 5x10^5
    axes.set_xlabel("MACs per image" if cost == "macs" else "parameters")
    axes.set_ylabel("test accuracy (last epoch)")
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    with atomic_path(Path(path)) as tmp:
        figure.savefig(tmp, format="png")
    plt.close(figure)
    return True
