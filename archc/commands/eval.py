"""``archc eval RUN_DIR``: evaluate a trained run's checkpoint (loss, top-1 / top-5, per-class accuracy, confusion
matrix PNG). See docs/experiments.md."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

EPILOG = """examples:
  archc eval runs/small_resnet-20261201-081500
  archc eval runs/small_resnet-20261201-081500 --checkpoint last --json
  archc eval runs/small_resnet-20261201-081500 --data mnist --confusion mnist_confusion.png
"""


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by `archc train`")
    parser.add_argument("--checkpoint", default="best",
                        help="best (default), last, or the path of a checkpoint of this run's spec")
    parser.add_argument("--ema", action="store_true",
                        help="the checkpoint's EMA weights (a run trained with --ema) instead of the raw ones")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("eval", help="evaluate a trained run: loss, top-1/top-5, per-class accuracy",
                              description=__doc__, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(p)
    p.add_argument("--data", help="evaluate on another dataset's test split (default: the run's own test data)")
    p.add_argument("--data-dir", help="folder of the IDX files of --data fashion-mnist / mnist")
    p.add_argument("--test-subset", type=int, metavar="N", help="a seeded random N of the test images")
    p.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: the best present; torch runs)")
    p.add_argument("--confusion", metavar="FILE.png",
                   help="where to write the confusion matrix (default RUN_DIR/eval/confusion-CHECKPOINT.png)")
    p.add_argument("--force", action="store_true", help="overwrite --confusion FILE if it exists")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=cmd_eval)


def confusion_path(args: argparse.Namespace) -> tuple[Path, bool]:
    """The PNG to write, and whether it is archc's own default file (replaced without --force)."""
    if args.confusion:
        return Path(args.confusion), False
    which = args.checkpoint if args.checkpoint in ("best", "last") else Path(args.checkpoint).stem
    data = f"-{Path(args.data).name}" if args.data else ""
    ema = "-ema" if args.ema else ""
    return Path(args.run_dir) / "eval" / f"confusion-{which}{ema}{data}.png", True


def cmd_eval(args: argparse.Namespace) -> int:
    import json

    from archc.cli import UsageError, _check_writable
    from archc.train.errors import TrainError
    from archc.train.runs import Run

    try:
        Run.open(args.run_dir)
    except TrainError as exc:
        raise UsageError(str(exc)) from None
    if args.test_subset is not None and args.test_subset <= 0:
        raise UsageError(f"--test-subset must be positive, got {args.test_subset}")
    output, default = confusion_path(args)
    if output.suffix.lower() != ".png":
        raise UsageError(f"--confusion {output}: the confusion matrix is a .png file")
    if not default:
        _check_writable(output, args.force)
    import torch  # noqa: F401  (torch before TensorFlow, whichever backend the run used)

    from archc.train.evaluate import evaluate_run
    from archc.train.result_plots import plot_confusion

    try:
        result = evaluate_run(args.run_dir, args.checkpoint, args.data, args.data_dir, args.test_subset, args.device,
                              args.ema)
    except TrainError as exc:
        raise UsageError(str(exc)) from None
    output.parent.mkdir(parents=True, exist_ok=True)
    names = [row["name"] for row in result["per_class"]]
    plot_confusion(result["confusion"], names, output,
                   f"{result['spec']} ({Path(result['run']).name}, {args.checkpoint}) on {result['data']}: "
                   f"top-1 {result['top1']:.4f}")
    result["confusion_png"] = str(output)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print_result(result)
    return 0


def print_result(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=True)
    epoch = f", epoch {result['epoch']}" if result.get("epoch") else ""
    console.print(f"{result['spec']}: {result['checkpoint']}{epoch} on {result['data']} "
                  f"({result['samples']:,} test images)")
    line = f"loss {result['loss']:.4f}  top-1 {result['top1']:.4f}"
    if "top5" in result:
        line += f"  top-5 {result['top5']:.4f}"
    if result.get("recorded_test_acc") is not None:
        line += f"  (recorded in metrics.jsonl: {result['recorded_test_acc']:.4f})"
    console.print(line)
    table = Table(title="per class", title_justify="left")
    for column, justify in (("class", "right"), ("name", "left"), ("images", "right"), ("accuracy", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in result["per_class"]:
        accuracy = "-" if row["accuracy"] is None else f"{row['accuracy']:.4f}"
        table.add_row(str(row["class"]), row["name"], f"{row['samples']:,}", accuracy)
    console.print(table)
    console.print(f"confusion matrix: {result['confusion_png']}")
