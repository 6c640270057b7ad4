"""``archc predict RUN_DIR IMAGE...``: the top-k classes of image files under a trained run, with the class names of
the run's data. See docs/experiments.md."""

from __future__ import annotations

import argparse
from typing import Any

from archc.commands.eval import add_run_arguments

EPILOG = """examples:
  archc predict runs/small_resnet-20261201-081500 shoe.png shirt.jpg
  archc predict runs/small_resnet-20261201-081500 photos/*.png --top 3 --json
"""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("predict", help="classify image files with a trained run (top-k classes)",
                              description=__doc__, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(p)
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (any format Pillow reads)")
    p.add_argument("--top", type=int, default=5, metavar="K", help="how many classes to show per image (default 5)")
    p.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: the best present)")
    p.add_argument("--json", action="store_true", help="print the predictions as JSON")
    p.set_defaults(func=cmd_predict)


def cmd_predict(args: argparse.Namespace) -> int:
    import json

    from archc.cli import UsageError
    from archc.train.errors import TrainError
    from archc.train.runs import Run

    if args.top < 1:
        raise UsageError(f"--top must be at least 1, got {args.top}")
    try:
        Run.open(args.run_dir)
        import torch  # noqa: F401  (torch before TensorFlow)

        from archc.train.predict import predict

        results = predict(args.run_dir, args.images, args.checkpoint, args.top, args.device, args.ema)
    except TrainError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    for result in results:
        ranked = "  ".join(f"{i + 1}. {t['name']} {t['probability']:.3f}" for i, t in enumerate(result["top"]))
        print(f"{result['image']}: {ranked}")
    return 0
