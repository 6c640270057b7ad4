"""``archc train``: train a spec on the best device present (see docs/training.md).

Imports nothing heavy at import time: the CLI imports every command module to build its parser.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

DESCRIPTION = """train a spec and write runs/<name>-<timestamp>/ (metrics.jsonl, curves.png, spec.yaml,
config.json, checkpoints/)"""

EPILOG = """examples:
  archc train resnet20 --data fashion-mnist --epochs 10
  archc train specs/my_net.yaml --data mnist --subset 5000 --epochs 3 --optimizer adamw --lr 2e-3
  archc train resnet50 --data ./images --set num_classes=5 --random-crop 4 --hflip --channels-last --compile
  archc train --resume runs/resnet20-20250101-120000 --epochs 20
  torchrun --nproc-per-node 4 -m archc train resnet56 --data fashion-mnist --batch-size 512
  archc train densenet121 --backend keras --data fashion-mnist --epochs 2
  archc train resnet18 --set num_classes=10 --init-from resnet18.pth --freeze 'layer1.*' --ema --grad-clip 5
"""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("train", help="train a spec on the best device present (CUDA, MPS or CPU)",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec", nargs="?", help="a spec file or zoo name (with --resume: optional, must match the run)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a spec parameter (repeatable): --set num_classes=10")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    add_train_options(p)
    group = p.add_argument_group("run folder")
    group.add_argument("--out", metavar="DIR", help="root of the run folders (default runs/)")
    group.add_argument("--name", help="run name, one folder name (default: the spec's name)")
    from archc.cli import add_limit_options

    add_limit_options(p.add_argument_group("limits (checked before the model is built; docs/limits.md)"),
                      dests=("param_limit", "activation_limit"))
    group.add_argument("--json", action="store_true",
                       help="print the final result (run folder, best and last epoch) as JSON on stdout")
    p.set_defaults(func=cmd_train)


def add_train_options(p: argparse.ArgumentParser) -> None:
    """The options of a training run (data, optimization, device, checkpoints); `archc sweep` takes them too."""
    p.add_argument("--backend", choices=["torch", "keras"], help="torch (default) or keras (model.fit)")
    group = p.add_argument_group("data")
    group.add_argument("--data", help="fashion-mnist (default), mnist, synthetic, an .npz file (x_train, y_train, "
                                      "x_test, y_test), an IDX folder, or a folder of class sub-folders")
    group.add_argument("--data-dir", help="folder of the IDX files of --data fashion-mnist / mnist")
    group.add_argument("--subset", type=int, metavar="N", help="train on a seeded random N of the training images")
    group.add_argument("--test-subset", type=int, metavar="N", help="evaluate on a seeded random N of the test images")
    group.add_argument("--random-crop", type=int, metavar="PAD", help="random crops after zero padding by PAD")
    group.add_argument("--hflip", action="store_true", default=None, help="random horizontal flips")
    group.add_argument("--workers", type=int, help="DataLoader workers for image folders (default: up to 4)")

    group = p.add_argument_group("optimization")
    group.add_argument("--epochs", type=int, help="epochs to train (default 10; on --resume: may be raised)")
    group.add_argument("--batch-size", type=int, help="global batch size, split among DDP processes (default 128)")
    group.add_argument("--eval-batch-size", type=int, help="batch size for evaluation (default 2x --batch-size)")
    group.add_argument("--optimizer", choices=["sgd", "adam", "adamw"], help="default sgd")
    group.add_argument("--lr", type=float, help="peak learning rate (default: sgd 0.1, adam/adamw 1e-3)")
    group.add_argument("--momentum", type=float, help="SGD momentum (default 0.9)")
    group.add_argument("--nesterov", action="store_true", default=None, help="Nesterov momentum for SGD")
    group.add_argument("--weight-decay", type=float,
                       help="weight decay of conv and linear weights; none on biases and BatchNorm (default 5e-4)")
    group.add_argument("--schedule", choices=["constant", "step", "cosine", "onecycle"], help="default cosine")
    group.add_argument("--step-size", type=int, help="step schedule: epochs between decays (default 30)")
    group.add_argument("--gamma", type=float, help="step schedule: decay factor (default 0.1)")
    group.add_argument("--warmup-epochs", type=float, help="linear warm-up before the schedule (default 0)")
    group.add_argument("--label-smoothing", type=float, help="cross-entropy label smoothing (default 0)")
    group.add_argument("--seed", type=int, help="seed for weights, data order and augmentation (default 0)")

    group.add_argument("--grad-clip", type=float, metavar="NORM",
                       help="clip the global gradient norm to NORM before each step (default: no clipping)")
    group.add_argument("--ema", type=float, nargs="?", const=0.9998, metavar="DECAY",
                       help="also keep an exponential moving average of the weights (default decay 0.9998, as "
                            "timm), evaluated each epoch and checkpointed beside them")

    group = p.add_argument_group("initialization")
    group.add_argument("--init-from", metavar="FILE",
                       help="start from weights matched by name: a run folder, a checkpoint, a state_dict .pth, "
                            ".safetensors, .keras or .weights.h5 (a classifier of another width is skipped)")
    group.add_argument("--freeze", action="append", metavar="PATTERN",
                       help="do not train the parameters matching PATTERN, e.g. 'layer1.*' (repeatable)")

    group = p.add_argument_group("device and speed")
    group.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: CUDA, then MPS, then CPU)")
    group.add_argument("--precision", choices=["auto", "fp32", "bf16"],
                       help="auto (default): bf16 autocast on CUDA (keras: mixed_bfloat16 on GPUs), fp32 elsewhere")
    group.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                       help="NHWC memory format (torch; default: on for CUDA)")
    group.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                       help="torch.compile the model (default: on for CUDA unless --memory-efficient); keras: XLA "
                            "jit_compile (default: on GPUs)")
    group.add_argument("--fused-optimizer", action=argparse.BooleanOptionalAction, default=None,
                       help="torch's fused SGD / Adam / AdamW kernels (default: on for CUDA)")
    group.add_argument("--memory-efficient", action="store_true", default=None,
                       help="torch: BatchNorm -> ReLU -> conv chains (dense blocks) recompute BN + ReLU in backward "
                            "instead of keeping them: less memory, same results (docs/optimize.md)")
    group.add_argument("--sync-bn", action="store_true", default=None,
                       help="DDP: BatchNorm statistics over the global batch (SyncBatchNorm)")
    group.add_argument("--threads", type=int, help="torch CPU threads (torch.set_num_threads)")

    group = p.add_argument_group("progress and checkpoints")
    group.add_argument("--checkpoint-every", type=int, metavar="STEPS",
                       help="also checkpoint every STEPS optimizer steps within an epoch (default: per epoch only)")
    group.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="show the progress bar (default: yes)")


def cmd_train(args: argparse.Namespace) -> int:
    from rich.console import Console

    from archc.cli import UsageError
    from archc.train.config import TrainConfig, option_names
    from archc.train.errors import TrainError, TrainingInterrupted
    from archc.train.progress import format_row
    from archc.train.runner import run

    given = {name: getattr(args, name) for name in option_names()
             if name not in ("spec", "overrides") and getattr(args, name, None) is not None}
    # log lines stay whole in files and narrow terminals; with --json they go to stderr, the result alone to stdout
    console = Console(soft_wrap=True, stderr=bool(getattr(args, "json", False)))
    try:
        if args.resume:
            import archc

            # SPEC (with its --set) given on resume must be the run's spec; it is checked against the checkpoint
            spec = archc.parse(args.spec, args.overrides) if args.spec else None
            changes = dict(given, **({"overrides": args.overrides} if args.overrides and not args.spec else {}))
            result = run(resume=args.resume, spec=spec, changes=changes, console=console)
        else:
            if not args.spec:
                raise UsageError("give a SPEC to train (a spec file or zoo name), or --resume RUN_DIR")
            result = run(TrainConfig(spec=args.spec, overrides=list(args.overrides), **given), console=console)
    except TrainError as exc:
        raise UsageError(str(exc)) from None
    except TrainingInterrupted as exc:
        print(f"archc: {exc}\ncontinue with: {exc.resume_command()}", file=sys.stderr)
        return 130
    if getattr(args, "json", False):
        print(json.dumps(_result_json(result), indent=1))
        return 0
    if result.history and result.run_dir is not None:
        best = max(result.history, key=lambda row: row["test_acc"])
        console.print(f"best test accuracy {best['test_acc']:.4f} at epoch {best['epoch']}; last: "
                      f"{format_row(result.history[-1])}", highlight=False)
        console.print(f"run folder {result.run_dir}", highlight=False)
    return 0


def _result_json(result: Any) -> dict[str, Any]:
    history = result.history or []
    best = max(history, key=lambda row: row["test_acc"]) if history else None
    return {"run_dir": str(result.run_dir) if result.run_dir is not None else None, "epochs": len(history),
            "best": best, "last": history[-1] if history else None}
