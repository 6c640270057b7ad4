"""archc gradflow SPEC [SPEC ...] -o gradflow.png: per-layer gradient norms at initialisation (and after N training
steps), measured with autograd, plotted against depth with one curve per spec."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

EXAMPLES = """examples:
  archc gradflow plain56 resnet56 -o gradflow.png
  archc gradflow plain56 resnet56 highway_cifar --steps 100 --data fashion-mnist -o gradflow.png
  archc gradflow resnet20 --json > resnet20_gradients.json
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("gradflow", help="plot per-layer gradient norms at init (and after N steps)",
                                   description=__doc__, epilog=EXAMPLES,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("specs", nargs="*", metavar="SPEC", help="spec files or zoo names, one curve each")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a parameter of every spec (repeatable)")
    parser.add_argument("-o", "--output", help="plot to write (.png, .svg, .pdf; default gradflow.png unless --json)")
    parser.add_argument("--steps", type=int, default=0, help="also measure after N SGD steps (default 0: init only)")
    parser.add_argument("--data", default="synthetic", choices=["synthetic", "fashion-mnist"],
                        help="the batch: standard-normal noise with random labels, or Fashion-MNIST images")
    parser.add_argument("--data-dir", help="folder of the Fashion-MNIST IDX files (default: "
                        "/usr/share/datasets/fashion-mnist)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.01, help="SGD learning rate for --steps (momentum 0.9)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights and the synthetic batch")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    parser.add_argument("--json", action="store_true", help="print every measured number as JSON")
    parser.add_argument("--force", action="store_true", help="overwrite an existing plot")
    parser.add_argument("--from-json", metavar="FILE", action="append", default=[],
                        help="plot measurements saved by --json instead of measuring (repeatable; with SPECs too)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    import archc
    from archc.cli import UsageError, _check_writable

    if args.steps < 0 or args.batch_size < 1:
        raise UsageError("--steps must be >= 0 and --batch-size >= 1")
    output = Path(args.output) if args.output else (None if args.json else Path("gradflow.png"))
    if output is not None:
        if output.suffix.lower() not in (".png", ".svg", ".pdf"):
            raise UsageError(f"cannot tell the format of {output}: use .png, .svg or .pdf")
        _check_writable(output, args.force)
    if not args.specs and not args.from_json:
        raise UsageError("name at least one SPEC (or --from-json FILE)")
    if output is not None:
        try:
            import matplotlib  # noqa: F401  (checked before minutes of measuring, not after)
        except ModuleNotFoundError:
            hint = "the plot needs matplotlib: pip install matplotlib (or print the numbers with --json)"
            raise UsageError(hint) from None
    graphs = [archc.build_graph(archc.parse(spec, args.overrides)) for spec in args.specs]
    if graphs:
        try:
            import torch  # noqa: F401
        except ModuleNotFoundError:
            raise UsageError("gradflow needs PyTorch: pip install 'archc[torch]'") from None
    from archc.viz.gradflow import Profile, measure, plot

    profiles = []
    for saved in args.from_json:
        try:
            profiles += [Profile.from_dict(item) for item in json.loads(Path(saved).read_text(encoding="utf-8"))]
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise UsageError(f"{saved}: not a file written by `archc gradflow --json` ({exc})") from None
    for graph in graphs:
        try:
            profile = measure(graph, steps=args.steps, batch_size=args.batch_size, data=args.data, lr=args.lr,
                              seed=args.seed, device=args.device, data_dir=args.data_dir,
                              progress=lambda line: print(line, file=sys.stderr, flush=True))
        except (FileNotFoundError, ValueError) as exc:
            raise UsageError(str(exc)) from None
        profiles.append(profile)
        if not args.json:
            print(_summary(profile))
    if output is not None:
        plot(profiles, output)
        if not args.json:
            print(f"wrote {output}")
    if args.json:
        print(json.dumps([p.to_dict() for p in profiles], indent=1))
    return 0


def _summary(profile: Any) -> str:
    main = [layer for layer in profile.layers if layer.role == "main"]
    first, last = main[0], main[-1]
    text = (f"{profile.name}: {len(profile.layers)} weighted layers; ‖∂L/∂W‖ at init: first {first.grad_init:.3g}, "
            f"last {last.grad_init:.3g} (ratio {first.grad_init / last.grad_init:.3g}), loss {profile.loss_init:.4g}")
    if profile.steps:
        text += (f"; after {profile.steps} steps: first {first.grad_trained:.3g}, last {last.grad_trained:.3g}, "
                 f"loss {profile.loss_trained:.4g}")
    return text
