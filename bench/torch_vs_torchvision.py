"""archc's torch backend against torchvision, in one process: construction, eval and training throughput, peak memory.

    python bench/torch_vs_torchvision.py                                  # CUDA if present, else CPU
    python bench/torch_vs_torchvision.py --device cpu --threads 1 --clock cpu --batch-size 8 --image-size 64

For each model, both implementations get the same weights (torchvision's state dict loaded into the archc model, so
value-dependent kernel speed cannot differ) and are measured in alternating order, ``--repeats`` times; the table
shows the medians and archc / torchvision ratios. Targets: throughput ratio >= 0.98, construction ratio <= 1.5.

* construction: ``archc.load(name)`` (spec parsing, graph building, lowering, weight init) against
  ``torchvision.models.get_model(name)``; ``lowering only`` is ``build_model(graph)`` for a graph built beforehand.
* eval: images per second of ``model(x)`` under ``torch.no_grad()`` in eval mode.
* train: images per second of one SGD step (momentum 0.9): forward, cross-entropy, backward, ``optimizer.step()``.
* peak memory: the most bytes of tensors alive at once during one eval forward / one train step, above what was
  alive before it (weights, gradients of earlier steps and optimizer state are not counted). CUDA:
  ``torch.cuda.max_memory_allocated``. CPU: replayed from the allocation events torch's profiler records
  (``profile_memory=True``), so it counts exactly the tensor allocations of torch's CPU allocator, not the process's
  resident memory.

On CUDA the models run in bf16 autocast with channels_last inputs and weights, eager and ``torch.compile``d
(``--modes``); on the CPU in float32, eager only unless ``--modes eager,compile`` is given.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

import torch
import torchvision

import archc
from archc.backends.torch import build_model

ARCHC, REFERENCE, CONTROL = "archc", "torchvision", "torchvision #2"


@dataclass
class Row:
    """One measured quantity: samples per implementation (archc, torchvision, and with --control a second
    torchvision instance with the same weights, whose ratio to the first shows the machine's noise floor)."""

    model: str
    metric: str
    unit: str
    samples: dict[str, list[float]] = field(default_factory=dict)

    def median(self, key: str) -> float:
        return statistics.median(self.samples[key])

    def ratio(self, key: str = ARCHC) -> float:
        return self.median(key) / self.median(REFERENCE)


def alternate(row: Row, measures: dict[str, Callable[[], float]], repeats: int) -> Row:
    """Measure each ``repeats`` times, rotating the order, so drift in the machine's load hits all alike."""
    keys = list(measures)
    for key in keys:
        row.samples[key] = []
    for repeat in range(repeats):
        shift = repeat % len(keys)
        for key in keys[shift:] + keys[:shift]:
            row.samples[key].append(measures[key]())
    return row


#: the clock of every timing: wall time, or this process's CPU time (``--clock cpu``), which on a CPU shared with
#: other work counts what the model costs rather than how long the scheduler made it wait
clock = time.perf_counter


def timed(func: Callable[[], object]) -> float:
    start = clock()
    func()
    return clock() - start


@dataclass
class Setup:
    device: torch.device
    batch_size: int
    image_size: int
    iterations: int
    autocast: Callable[[], AbstractContextManager]
    channels_last: bool

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        model = model.to(self.device)
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(self.batch_size, 3, self.image_size, self.image_size, generator=generator).to(self.device)
        if self.channels_last:
            x = x.to(memory_format=torch.channels_last)
        labels = torch.randint(0, 1000, (self.batch_size,), generator=generator).to(self.device)
        return x, labels


class Workload:
    """The eval forward and the train step of one model, with a warm-up before each timing."""

    def __init__(self, model: torch.nn.Module, setup: Setup, compiled: bool):
        self.setup = setup
        self.model = model
        self.forward = torch.compile(model) if compiled else model
        self.optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        self.x, self.labels = setup.batch()

    def eval_step(self) -> None:
        with torch.no_grad(), self.setup.autocast():
            self.forward(self.x)

    def train_step(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.train_pass()

    def train_pass(self) -> None:
        with self.setup.autocast():
            loss = torch.nn.functional.cross_entropy(self.forward(self.x), self.labels)
        loss.backward()
        self.optimizer.step()

    def throughput(self, train: bool) -> float:
        self.model.train(train)
        step = self.train_step if train else self.eval_step
        step()  # warm caches after the other model ran
        self.setup.sync()
        start = clock()
        for _ in range(self.setup.iterations):
            step()
        self.setup.sync()
        return self.setup.batch_size * self.setup.iterations / (clock() - start)

    def peak_memory(self, train: bool) -> float:
        self.model.train(train)
        for _ in range(2):  # momentum buffers and gradients exist from here on, as in a running training loop
            self.train_step() if train else self.eval_step()
        self.setup.sync()
        if train:
            self.optimizer.zero_grad(set_to_none=True)
        return peak_bytes(self.train_pass if train else self.eval_step, self.setup) / 2**20


def peak_bytes(func: Callable[[], None], setup: Setup) -> float:
    """The most bytes of tensors allocated by ``func`` and alive at the same time."""
    if setup.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(setup.device)
        before = torch.cuda.memory_allocated(setup.device)
        func()
        setup.sync()
        return torch.cuda.max_memory_allocated(setup.device) - before
    from torch._C._profiler import _EventType  # private: the allocation events of the profiler's event tree
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as profiler:
        func()
    allocations = []
    pending = list(profiler.profiler.kineto_results.experimental_event_tree())
    while pending:
        event = pending.pop()
        if event.tag == _EventType.Allocation:
            allocations.append((event.start_time_ns, event.extra_fields.alloc_size))
        pending.extend(event.children)
    live = peak = 0
    for _, size in sorted(allocations):  # frees carry a negative size
        live += size
        peak = max(peak, live)
    return float(peak)


def bench_model(name: str, setup: Setup, modes: list[str], repeats: int, control: bool) -> list[Row]:
    reference_builder = lambda: torchvision.models.get_model(name, weights=None)
    graph = archc.build_graph(name)
    archc.load(name), reference_builder(), build_model(graph)  # warm: lazy imports, caches
    rows = []
    for metric, ours in (("construct", lambda: archc.load(name)), ("construct (lowering only)",
                                                                  lambda: build_model(graph))):
        measures = {ARCHC: lambda ours=ours: timed(ours), REFERENCE: lambda: timed(reference_builder)}
        if control:
            measures[CONTROL] = lambda: timed(reference_builder)
        rows.append(alternate(Row(name, metric, "s"), measures, repeats))
    reference = reference_builder()
    models = {ARCHC: build_model(graph), REFERENCE: reference}
    if control:
        models[CONTROL] = reference_builder()
    for model in models.values():  # the same weights everywhere: value-dependent kernel speed cannot differ
        model.load_state_dict(reference.state_dict(), strict=True)
    for mode in modes:
        compiled = mode == "compile"
        workloads = {key: Workload(setup.prepare(model), setup, compiled) for key, model in models.items()}
        if compiled:  # compile outside the timings; report how long it took
            rows.append(alternate(Row(name, "compile (first eval + train step)", "s"), {
                key: lambda w=w: timed(lambda: (w.eval_step(), w.train_step())) for key, w in workloads.items()}, 1))
        for train, label in ((False, "eval"), (True, "train")):
            rows.append(alternate(Row(name, f"{label} {mode}", "img/s"), {
                key: lambda w=w, t=train: w.throughput(t) for key, w in workloads.items()}, repeats))
        for train, label in ((False, "eval"), (True, "train")):  # deterministic: measured once
            rows.append(alternate(Row(name, f"peak memory {label} {mode}", "MiB"), {
                key: lambda w=w, t=train: w.peak_memory(t) for key, w in workloads.items() if key != CONTROL}, 1))
    return rows


def table(rows: list[Row], control: bool) -> str:
    head = "| model | metric | archc | torchvision | archc / torchvision |"
    rule = "|---|---|---:|---:|---:|"
    if control:
        head, rule = head + " noise floor: torchvision #2 / torchvision |", rule + "---:|"
    lines = [head, rule]
    for row in rows:
        digits = 3 if row.unit == "s" else 1
        line = (f"| {row.model} | {row.metric} ({row.unit}) | {row.median(ARCHC):.{digits}f} | "
                f"{row.median(REFERENCE):.{digits}f} | {row.ratio():.3f} |")
        if control:
            line += f" {row.ratio(CONTROL):.3f} |" if CONTROL in row.samples else " |"
        lines.append(line)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="resnet18,resnet50,densenet121", help="comma-separated zoo names")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, help="default 256 on CUDA, 8 on the CPU")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=5, help="alternating repetitions of each measurement")
    parser.add_argument("--iterations", type=int, default=10, help="timed steps per repetition")
    parser.add_argument("--modes", help="eager and/or compile; default eager,compile on CUDA, eager on the CPU")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice); on a CPU shared "
                        "with other work, 1 avoids the stalls of threads that wait for each other")
    parser.add_argument("--control", action="store_true",
                        help="also time a second torchvision instance: its ratio to the first is the noise floor")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="cpu: time.process_time, for a CPU shared with other work (with --threads 1)")
    parser.add_argument("--json", help="also write the rows (medians and ratios) to this file (bench/gpu.sh)")
    args = parser.parse_args(argv)
    global clock
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    modes = (args.modes or ("eager,compile" if cuda else "eager")).split(",")
    setup = Setup(device, args.batch_size or (256 if cuda else 8), args.image_size, args.iterations,
                  (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if cuda else nullcontext, channels_last=cuda)
    hardware = torch.cuda.get_device_name(device) if cuda else f"{platform.processor() or platform.machine()} CPU, " \
        f"{torch.get_num_threads()} threads"
    print(f"{datetime.datetime.now().isoformat(timespec='seconds')}  torch {torch.__version__}  torchvision "
          f"{torchvision.__version__}  {hardware}")
    numerics = "bf16 autocast, channels_last" if cuda else "float32"
    print(f"batch {setup.batch_size}, {args.image_size}x{args.image_size}, {numerics}, {args.repeats} repeats x "
          f"{args.iterations} steps, medians, {args.clock} clock\n")
    rows: list[Row] = []
    for name in args.models.split(","):
        model_rows = bench_model(name.strip(), setup, modes, args.repeats, args.control)
        print(table(model_rows, args.control) + "\n", flush=True)  # as each model finishes
        rows += model_rows
    print(table(rows, args.control))
    if args.json:
        import json

        data = {"hardware": hardware, "batch_size": setup.batch_size, "image_size": args.image_size,
                "numerics": numerics, "rows": [{"model": row.model, "metric": row.metric, "unit": row.unit,
                          "medians": {key: row.median(key) for key in row.samples}, "ratio": row.ratio()}
                         for row in rows]}
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(data, file, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
