"""``archc runs [DIR]``: a table of the runs under DIR (default runs/); ``archc compare RUN... -o FILE.png``: their
curves on shared axes and the same table. See docs/experiments.md."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

RUNS_EPILOG = """examples:
  archc runs
  archc runs sweeps/width --json
"""
COMPARE_EPILOG = """example:
  archc compare runs/resnet20-20261201-081500 runs/plain20-20261201-083000 -o resnet_vs_plain.png
"""
COLUMNS = [("name", "left"), ("spec", "left"), ("params", "right"), ("MACs", "right"), ("epochs", "right"),
           ("best acc", "right"), ("last acc", "right"), ("img/s", "right"), ("wall time", "right")]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("runs", help="list training runs: spec, size, accuracy, speed, time",
                              description=__doc__, epilog=RUNS_EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", nargs="?", default="runs", metavar="DIR",
                   help="a folder of run folders, searched recursively (default runs/)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.set_defaults(func=cmd_runs)
    p = subparsers.add_parser("compare", help="plot several runs' curves on shared axes, with their table",
                              description=__doc__, epilog=COMPARE_EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders written by `archc train`")
    p.add_argument("-o", "--output", required=True, metavar="FILE.png", help="the plot to write (.png, .svg, .pdf)")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    p.add_argument("--json", action="store_true", help="print the table's rows as JSON")
    p.set_defaults(func=cmd_compare)


def table_rows(runs: list[Any]) -> list[dict[str, Any]]:
    from archc.train.runs import add_costs

    return [add_costs(run.row(), run) for run in runs]


def cmd_runs(args: argparse.Namespace) -> int:
    import json

    from archc.cli import UsageError
    from archc.train.errors import TrainError
    from archc.train.runs import find_runs

    try:
        runs = find_runs(args.folder)
    except TrainError as exc:
        raise UsageError(str(exc)) from None
    rows = table_rows(runs)
    if args.json:
        print(json.dumps(rows, indent=1))
    elif not rows:
        print(f"no runs under {args.folder}")
    else:
        print_table(rows, f"{len(rows)} run{'s' if len(rows) != 1 else ''} under {args.folder}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    import json

    from archc.cli import UsageError, _check_writable
    from archc.train.errors import TrainError
    from archc.train.runs import Run

    output = Path(args.output)
    if output.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise UsageError(f"cannot tell the format of {output}: use .png, .svg or .pdf")
    try:
        runs = [Run.open(path, "RUN") for path in args.runs]
    except TrainError as exc:
        raise UsageError(str(exc)) from None
    _check_writable(output, args.force)
    from archc.train.result_plots import plot_runs

    labels = unique_labels(runs)
    plot_runs({label: run.metrics for label, run in zip(labels, runs)}, output,
              " vs ".join(dict.fromkeys(run.spec_name for run in runs)))
    rows = table_rows(runs)
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print_table(rows, "compared runs")
    print(f"wrote {output}")
    return 0


def unique_labels(runs: list[Any]) -> list[str]:
    """Each run's legend label: its name, which is unique unless runs from two folders share one."""
    names = [run.name for run in runs]
    return [name if names.count(name) == 1 else str(run.path) for name, run in zip(names, runs)]


def print_table(rows: list[dict[str, Any]], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column, justify in COLUMNS:
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(row["name"], row["spec"], _count(row["params"]), _count(row["macs"]),
                      f"{row['epochs']}/{row['epochs_planned']}", _acc(row["best_test_acc"]),
                      _acc(row["last_test_acc"]), _count(row["images_per_s"]), _duration(row["wall_time_s"]))
    console = Console(highlight=False)
    console.width = max(console.width, 150)  # run names are long; a pipe or a narrow terminal would cut them
    console.print(table)


def _count(value: Any) -> str:
    if value is None:
        return "-"
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.2f}{suffix}"
    return f"{value:.0f}"


def _acc(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, rest = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else (f"{minutes}m{rest:02d}s" if minutes else f"{seconds:.1f}s")
