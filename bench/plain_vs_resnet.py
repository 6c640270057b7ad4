"""He et al. 2015, Fig. 6 on Fashion-MNIST: training and test error of plain-56 and ResNet-56, in one plot.

    python bench/plain_vs_resnet.py                                     # the CPU-sized run of docs/training.md
    python bench/plain_vs_resnet.py --subset 0 --epochs 40 --batch-size 128   # closer to the paper (GPU)
    python bench/plain_vs_resnet.py --plot-only runs/plain56-... runs/resnet56-...

Both zoo specs (CIFAR-sized, 3x32x32 input) train with the same recipe through ``archc.train``: Fashion-MNIST's
1x28x28 images are resized to 32x32 and repeated to 3 channels. The plot (``--plot``, default
docs/plain_vs_resnet.png) has the training error dashed and the test error bold, one colour per network.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from archc.train import TrainConfig
from archc.train.plots import plot_error_comparison
from archc.train.rundir import read_metrics
from archc.train.runner import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subset", type=int, default=2560, help="training images (0: all 60,000)")
    parser.add_argument("--test-subset", type=int, default=2000, help="test images (0: all 10,000)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05, help="0.05 for batch 64: the paper's 0.1 for 128, scaled")
    parser.add_argument("--warmup-epochs", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--out", default="runs")
    parser.add_argument("--plot", default="docs/plain_vs_resnet.png")
    parser.add_argument("--plot-only", nargs=2, metavar="RUN_DIR", help="plot two finished runs (plain, resnet)")
    args = parser.parse_args()
    runs: dict[str, Path] = {}
    if args.plot_only:
        runs = {"plain-56": Path(args.plot_only[0]), "ResNet-56": Path(args.plot_only[1])}
    else:
        for label, spec in (("plain-56", "plain56"), ("ResNet-56", "resnet56")):
            cfg = TrainConfig(spec=spec, data="fashion-mnist", subset=args.subset or None,
                              test_subset=args.test_subset or None, epochs=args.epochs, batch_size=args.batch_size,
                              optimizer="sgd", lr=args.lr, momentum=0.9, weight_decay=1e-4, schedule="cosine",
                              warmup_epochs=args.warmup_epochs, seed=0, threads=args.threads, device=args.device,
                              out=args.out, progress=False)
            result = run(cfg)
            assert result.run_dir is not None
            runs[label] = result.run_dir
            print(f"{label}: {result.run_dir}")
    histories = {label: read_metrics(folder / "metrics.jsonl") for label, folder in runs.items()}
    data = json.loads((runs["plain-56"] / "config.json").read_text())["data"]
    rows = histories["plain-56"]
    title = (f"Fashion-MNIST ({data['train_size']:,} train / {data['test_size']:,} test images), {len(rows)} epochs "
             f"= {rows[-1]['step'] if rows else 0} steps\ndashed: training error, bold: test error")
    plot_error_comparison(histories, args.plot, title)
    for label, rows in histories.items():
        last = rows[-1]
        print(f"{label}: final training error {100 * (1 - last['train_acc']):.2f}%, test error "
              f"{100 * (1 - last['test_acc']):.2f}% (best {100 * (1 - max(r['test_acc'] for r in rows)):.2f}%)")
    print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
