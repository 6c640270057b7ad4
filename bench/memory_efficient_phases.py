"""Where a training step's time goes: forward (with the loss), backward, optimizer step, for torchvision's default
DenseNet-121, archc's default model and archc's memory-efficient model, same weights, rounds alternating, medians.

    python bench/memory_efficient_phases.py --batch-size 8 --image-size 128 --repeats 5

One thread, process CPU clock (the machine is shared). bench/memory_efficient.py measures memory and throughput;
this splits the step to show which phase a change moves.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torchvision

import archc

PHASES = ("forward", "backward", "step")


def build(size: int) -> dict[str, torch.nn.Module]:
    spec = archc.parse("densenet121", resolution=size)
    models = {"torchvision": torchvision.models.densenet121(), "archc": archc.load(spec, seed=0),
              "archc-me": archc.load(spec, memory_efficient=True, seed=0)}
    state = models["torchvision"].state_dict()
    for model in models.values():
        model.load_state_dict(state, strict=True)
        model.train()
    return models


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    models = build(args.image_size)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch_size, 3, args.image_size, args.image_size, generator=generator)
    labels = torch.randint(0, 1000, (args.batch_size,), generator=generator)
    optimizers = {key: torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9) for key, model in models.items()}

    def step(key: str) -> list[float]:
        clock = time.process_time
        start = clock()
        loss = torch.nn.functional.cross_entropy(models[key](x), labels)
        forward = clock()
        loss.backward()
        backward = clock()
        optimizers[key].step()
        optimizers[key].zero_grad(set_to_none=False)
        return [forward - start, backward - forward, clock() - backward]

    keys = list(models)
    for key in keys:  # warm: gradients and momentum buffers exist from here on
        step(key), step(key)
    samples: dict[str, list[list[float]]] = {key: [] for key in keys}
    for repeat in range(args.repeats):
        shift = repeat % len(keys)
        for key in keys[shift:] + keys[:shift]:
            samples[key].append(step(key))
    reference = statistics.median(sum(phases) for phases in samples["torchvision"])
    print(f"DenseNet-121, batch {args.batch_size}, {args.image_size}², 1 thread, CPU seconds (medians)")
    for key, rows in samples.items():
        medians = [statistics.median(column) for column in zip(*rows)]
        total = statistics.median(sum(row) for row in rows)
        print(f"{key:12s} " + "  ".join(f"{name} {value:.3f}" for name, value in zip(PHASES, medians))
              + f"  total {total:.3f}  speed ratio {reference / total:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
