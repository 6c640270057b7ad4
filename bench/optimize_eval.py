"""Inference folding: eval throughput of ``archc.optimize`` against torchvision's eager model, in one process.

    python bench/optimize_eval.py --threads 1,0 --batch-size 8 --image-size 128     # 0: all of torch's threads

For each model and thread count these run the same weights (torchvision's, with non-trivial BatchNorm statistics),
``--repeats`` rounds alternating between them, medians of images/s by the process' CPU time (``--clock cpu``, for a
CPU shared with other work; one thread) or the wall clock:

* ``torchvision``: the eager torchvision model, eval mode, ``torch.no_grad()`` (the reference, ratio 1);
* ``fx.fuse``: ``torch.fx.experimental.optimization.fuse`` of it (BatchNorm folded into convs), the anchor;
* ``archc.optimize``: the archc model after ``archc.optimize`` (BN folded, ReLU / residual add fused into the conv,
  oneDNN-prepacked weights on the CPU);
* ``archc.optimize (portable)``: the same with ``prepack=False``: what ``--optimize`` exports to .pt2 / ONNX.

Outputs are checked against torchvision's before timing (max relative difference printed).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import platform
import statistics
import time

import torch
import torchvision
from torch.fx.experimental.optimization import fuse

import archc

MODELS = {"resnet50": "resnet50", "densenet121": "densenet121"}


def spec_at(name: str, size: int) -> archc.Spec:
    data = archc.parse(name).to_data()
    data["input"]["shape"] = [3, size, size]
    return archc.parse(data)


def nontrivial_batch_norms(model: torch.nn.Module) -> None:
    """Running statistics and affine parameters a trained network could have (a fresh one's are 0, 1)."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                count = module.num_features
                module.running_mean.copy_(torch.randn(count, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(count, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(count, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(count, generator=generator) * 0.1)


def variants(name: str, size: int) -> dict[str, torch.nn.Module]:
    reference = torchvision.models.get_model(MODELS[name]).eval()
    nontrivial_batch_norms(reference)
    ours = archc.load(spec_at(name, size)).eval()
    ours.load_state_dict(reference.state_dict(), strict=True)
    return {"torchvision": reference, "fx.fuse": fuse(copy.deepcopy(reference)),
            "archc.optimize": archc.optimize(ours), "archc.optimize (portable)": archc.optimize(ours, prepack=False)}


def images_per_second(model: torch.nn.Module, x: torch.Tensor, iterations: int, clock) -> float:
    with torch.no_grad():
        model(x)
        start = clock()
        for _ in range(iterations):
            model(x)
        return x.shape[0] * iterations / (clock() - start)


def bench(name: str, threads: int, args: argparse.Namespace, clock) -> list[tuple[str, float]]:
    torch.set_num_threads(threads or DEFAULT_THREADS)
    models = variants(name, args.image_size)
    x = torch.randn(args.batch_size, 3, args.image_size, args.image_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = models["torchvision"](x)
        for key, model in models.items():
            error = ((model(x) - expected).abs().max() / expected.abs().max()).item()
            print(f"  {name} {key}: max relative difference {error:.1e}")
    samples: dict[str, list[float]] = {key: [] for key in models}
    keys = list(models)
    for repeat in range(args.repeats):
        shift = repeat % len(keys)
        for key in keys[shift:] + keys[:shift]:
            samples[key].append(images_per_second(models[key], x, args.iterations, clock))
    return [(key, statistics.median(values)) for key, values in samples.items()]


DEFAULT_THREADS = torch.get_num_threads()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="resnet50,densenet121")
    parser.add_argument("--threads", default="1,0", help="comma-separated torch thread counts; 0: torch's default")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    args = parser.parse_args(argv)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    print(f"{datetime.datetime.now().isoformat(timespec='seconds')}  torch {torch.__version__}  "
          f"{platform.machine()} CPU ({DEFAULT_THREADS} threads by default), batch {args.batch_size}, "
          f"{args.image_size}x{args.image_size}, float32, {args.repeats} rounds x {args.iterations}, "
          f"{args.clock} clock")
    lines = ["| model | threads | variant | img/s | / torchvision |", "|---|---:|---|---:|---:|"]
    for name in args.models.split(","):
        for threads in (int(t) for t in args.threads.split(",")):
            rows = bench(name, threads, args, clock)
            reference = dict(rows)["torchvision"]
            for key, value in rows:
                lines.append(f"| {name} | {threads or DEFAULT_THREADS} | {key} | {value:.1f} | "
                             f"{value / reference:.2f} |")
            print("\n".join(lines[-len(rows):]), flush=True)
    print("\n" + "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
