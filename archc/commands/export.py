"""``archc export RUN_DIR -o FILE``: write a trained run's model as .pt2, .onnx, .keras or .safetensors (by the
suffix); the file loads without archc. See docs/experiments.md."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from archc.commands.eval import add_run_arguments

EPILOG = """examples:
  archc export runs/small_resnet-20261201-081500 -o small_resnet.pt2
  archc export runs/small_resnet-20261201-081500 -o small_resnet.onnx --checkpoint last
  archc export runs/small_resnet-20261201-081500 -o small_resnet.keras
  archc export runs/small_resnet-20261201-081500 -o small_resnet.safetensors
  archc export runs/small_resnet-20261201-081500 -o small_resnet.onnx --optimize
"""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("export", help="write a trained run's model (.pt2, .onnx, .keras, .safetensors)",
                              description=__doc__, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="the file to write; its suffix chooses the format: .pt2, .onnx, .keras, .safetensors")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    p.add_argument("--optimize", action="store_true",
                   help="BatchNorm folded into convs, activations fused (.pt2, .onnx, .keras; docs/optimize.md)")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from archc.cli import UsageError, _check_writable
    from archc.train.errors import TrainError
    from archc.train.export import FORMATS, export_format, export_run
    from archc.train.runs import Run

    output = Path(args.output)
    try:
        Run.open(args.run_dir)
        suffix = export_format(output)
    except TrainError as exc:
        raise UsageError(str(exc)) from None
    _check_writable(output, args.force)
    if FORMATS[suffix] != "keras":
        import torch  # noqa: F401  (torch before TensorFlow in one process)
    try:
        trained = export_run(args.run_dir, output, args.checkpoint, args.ema, optimize=args.optimize)
    except TrainError as exc:
        raise UsageError(str(exc)) from None
    epoch = f", epoch {trained.epoch}" if trained.epoch else ""
    print(f"wrote {output} ({trained.spec.name} from {trained.checkpoint}{epoch})")
    return 0
