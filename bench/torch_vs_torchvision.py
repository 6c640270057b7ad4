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
from archc.backends.torch import build_model

import archc


@dataclass
class Row:
    """One measured quantity: the samples of both implementations."""

    model: str
    metric: str
    unit: str
    higher_is_better: bool
    archc: list[float] = field(default_factory=list)
    reference: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return statistics.median(self.archc) / statistics.median(self.reference)


def alternate(row: Row, ours: Callable[[], float], reference: Callable[[], float], repeats: int) -> Row:
    """Measure both ``repeats`` times, in alternating order, so drift in the machine's load hits both alike."""
    for repeat in range(repeats):
        order = [(row.archc, ours), (row.reference, reference)]
        for samples, measure in order if repeat % 2 == 0 else order[::-1]:
            samples.append(measure())
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


def bench_model(name: str, setup: Setup, modes: list[str], repeats: int) -> list[Row]:
    reference_builder = lambda: torchvision.models.get_model(name, weights=None)
    graph = archc.build_graph(name)
    archc.load(name), reference_builder(), build_model(graph)  # warm: lazy imports, caches
    rows = [alternate(Row(name, "construct", "s", False), lambda: timed(lambda: archc.load(name)),
                      lambda: timed(reference_builder), repeats),
            alternate(Row(name, "construct (lowering only)", "s", False), lambda: timed(lambda: build_model(graph)),
                      lambda: timed(reference_builder), repeats)]
    reference = reference_builder()
    ours = build_model(graph)
    ours.load_state_dict(reference.state_dict(), strict=True)
    for mode in modes:
        compiled = mode == "compile"
        workloads = [Workload(setup.prepare(model), setup, compiled) for model in (ours, reference)]
        if compiled:  # compile outside the timings; report how long it took
            rows.append(alternate(Row(name, "compile (first eval + train step)", "s", False),
                                  lambda w=workloads[0]: timed(lambda: (w.eval_step(), w.train_step())),
                                  lambda w=workloads[1]: timed(lambda: (w.eval_step(), w.train_step())), 1))
        for train, label in ((False, "eval"), (True, "train")):
            rows.append(alternate(Row(name, f"{label} {mode}", "img/s", True),
                                  lambda w=workloads[0], t=train: w.throughput(t),
                                  lambda w=workloads[1], t=train: w.throughput(t), repeats))
        for train, label in ((False, "eval"), (True, "train")):
            rows.append(alternate(Row(name, f"peak memory {label} {mode}", "MiB", False),
                                  lambda w=workloads[0], t=train: w.peak_memory(t),
                                  lambda w=workloads[1], t=train: w.peak_memory(t), 1))
    return rows


def table(rows: list[Row]) -> str:
    lines = ["| model | metric | archc | torchvision | archc / torchvision |", "|---|---|---:|---:|---:|"]
    for row in rows:
        ours, reference = statistics.median(row.archc), statistics.median(row.reference)
        digits = 3 if row.unit == "s" else 1
        lines.append(f"| {row.model} | {row.metric} ({row.unit}) | {ours:.{digits}f} | {reference:.{digits}f} | "
                     f"{row.ratio:.3f} |")
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
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="cpu: time.process_time, for a CPU shared with other work (with --threads 1)")
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
        model_rows = bench_model(name.strip(), setup, modes, args.repeats)
        print(table(model_rows) + "\n", flush=True)  # as each model finishes
        rows += model_rows
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
