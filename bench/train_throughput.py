"""Training throughput of ``archc train``'s loop against a plain hand-written loop, in one process.

    python bench/train_throughput.py                                    # CUDA if present: bf16 + channels_last
    python bench/train_throughput.py --compile                          # also torch.compile'd (CUDA target 1.4x)
    python bench/train_throughput.py --device cpu --threads 2 --batch-size 8 --image-size 64 --steps 4

For each model (ResNet-50, DenseNet-121 by default) three loops train on synthetic data for ``--steps`` steps per
round, rounds alternating, ``--repeats`` rounds after a warm-up round; the table shows the median images/s, by the
wall clock and (on the CPU, where a shared machine's load makes the wall clock noisy) per second of the process'
CPU time:

* ``plain``: the reference, a hand-written loop over the torchvision model (random float batches already on the
  device; forward, cross-entropy, backward, SGD step; nothing else).
* ``loop(tv)``: archc's TorchTrainer over the same torchvision model: uint8 batches indexed on the device,
  normalized there, plus the scheduler step and the running loss and accuracy sums. Its ratio to ``plain`` is the
  loop's own overhead.
* ``loop(archc)``: archc's TorchTrainer over the archc-compiled zoo spec with torchvision's weights loaded (so
  value-dependent kernel speed cannot differ): what ``archc train`` does end to end. Target ratio >= 0.97.

On CUDA everything runs in bf16 autocast with channels_last; on the CPU in float32. ``--compile`` adds the archc
loop with ``torch.compile`` and its speed-up over eager (target >= 1.4x on CUDA). Images/s of the trainer come
from its epoch row (training time only, the end-of-epoch evaluation of one batch is not counted).
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

import archc
from archc.train import TrainConfig
from archc.train.data import load_dataset, plan_adaptation
from archc.train.progress import EpochProgress
from archc.train.torch_device import Environment, best_device, resolve_device
from archc.train.torch_trainer import DataInfo, ModelInfo, TorchTrainer

MODELS = {"resnet50": "resnet50", "densenet121": "densenet121"}  # zoo spec -> torchvision model


@dataclass
class Result:
    """Images/s per loop and round: by the wall clock, and per second of this process' CPU time."""

    model: str
    samples: dict[str, list[float]] = field(default_factory=dict)
    cpu_samples: dict[str, list[float]] = field(default_factory=dict)

    def median(self, key: str, cpu: bool = False) -> float:
        samples = (self.cpu_samples if cpu else self.samples).get(key)
        return statistics.median(samples) if samples else float("nan")


def spec_at(name: str, size: int) -> archc.Spec:
    """The zoo spec with its input at ``size`` x ``size`` (a smaller image for CPU runs)."""
    data = archc.parse(name).to_data()
    data["input"]["shape"] = [3, size, size]
    return archc.parse(data)


def torchvision_model(name: str, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torchvision.models.get_model(MODELS[name], num_classes=1000)


def plain_loop(model: torch.nn.Module, device: torch.device, batch: int, size: int, steps: int, bf16: bool,
               channels_last: bool) -> Callable[[], tuple[float, float]]:
    """The reference: the loop anyone would write. Returns a function that runs ``steps`` steps -> images/s."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    memory = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=memory)
    y = torch.randint(0, 1000, (batch,), device=device)
    model.train()

    def run() -> tuple[float, float]:
        synchronize(device)
        began, cpu = time.perf_counter(), time.process_time()
        for _ in range(steps):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        synchronize(device)
        return batch * steps / (time.perf_counter() - began), batch * steps / (time.process_time() - cpu)

    return run


def archc_loop(spec: archc.Spec, build: Callable[[int], torch.nn.Module], env: Environment, batch: int,
               steps: int, rounds: int, compile_model: bool, channels_last: bool) -> Callable[[], tuple[float, float]]:
    """archc's TorchTrainer on synthetic data; each call trains one epoch of ``steps`` steps -> its images/s."""
    size = spec.to_data()["input"]["shape"]
    cfg = TrainConfig(spec=spec.name, data="synthetic", subset=batch * steps, test_subset=batch, epochs=rounds,
                      batch_size=batch, optimizer="sgd", lr=0.01, schedule="constant", compile=compile_model,
                      channels_last=channels_last, progress=False, device=str(env.device))
    dataset = load_dataset("synthetic", tuple(size), 1000, subset=batch * steps, test_subset=batch)
    data = DataInfo(dataset, plan_adaptation(dataset.shape, tuple(size)), [0.5] * 3, [0.25] * 3)
    info = ModelInfo(spec, tuple(size), 1000, False, build)
    trainer = TorchTrainer(cfg, info, data, None, env, EpochProgress(None, False), log=lambda text: None)
    evaluate, eval_cpu = trainer.evaluate, [0.0]

    def timed_evaluate() -> tuple[float, float]:  # the end-of-epoch evaluation is not training time
        began = time.process_time()
        result = evaluate()
        eval_cpu[0] += time.process_time() - began
        return result

    trainer.evaluate = timed_evaluate  # type: ignore[method-assign]

    def run() -> tuple[float, float]:
        eval_cpu[0] = 0.0
        began = time.process_time()
        row = trainer.train_epoch()
        return row["images_per_s"], batch * steps / (time.process_time() - began - eval_cpu[0])

    return run


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(name: str, args: argparse.Namespace, env: Environment) -> Result:
    device = env.device
    on_cuda = device.type == "cuda"
    bf16, channels_last = on_cuda, on_cuda or args.channels_last
    spec = spec_at(name, args.image_size)
    reference_weights = torchvision_model(name, 0).state_dict()

    def archc_model(seed: int) -> torch.nn.Module:
        model = archc.load(spec, seed=seed)
        model.load_state_dict(reference_weights)
        return model

    def tv_model(seed: int) -> torch.nn.Module:
        return torchvision_model(name, seed)

    memory = torch.channels_last if channels_last else torch.contiguous_format
    plain_model = torchvision_model(name, 0).to(device, memory_format=memory)
    loops: dict[str, Callable[[], tuple[float, float]]] = {
        "plain": plain_loop(plain_model, device, args.batch_size, args.image_size, args.steps, bf16, channels_last),
        "loop(tv)": archc_loop(spec, tv_model, env, args.batch_size, args.steps, args.repeats + 1, False,
                               channels_last),
        "loop(archc)": archc_loop(spec, archc_model, env, args.batch_size, args.steps, args.repeats + 1, False,
                                  channels_last),
    }
    if args.compile:
        loops["loop(archc)+compile"] = archc_loop(spec, archc_model, env, args.batch_size, args.steps,
                                                  args.repeats + 1, True, channels_last)
    result = Result(name)
    for round_number in range(args.repeats + 1):  # round 0 warms up (cudnn autotuning, compilation)
        for key, loop in loops.items():
            wall, cpu = loop()
            if round_number:
                result.samples.setdefault(key, []).append(wall)
                result.cpu_samples.setdefault(key, []).append(cpu)
        print(f"  {name} round {round_number}: " + ", ".join(
            f"{k} {v[-1]:.2f} ({result.cpu_samples[k][-1]:.2f} per CPU s)" for k, v in result.samples.items())
              if round_number else f"  {name} warmed up", flush=True)
    return result


def print_table(results: list[Result], args: argparse.Namespace, env: Environment) -> None:
    device = env.device
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    mode = "bf16 autocast, channels_last" if device.type == "cuda" else (
        "float32" + (", channels_last" if args.channels_last else ""))
    print(f"\n{datetime.date.today()}  {device} ({name}), torch {torch.__version__}, threads "
          f"{torch.get_num_threads()}, batch {args.batch_size}, {args.image_size}x{args.image_size}, {args.steps} "
          f"steps x {args.repeats} rounds (median), {mode}")
    keys = ["plain", "loop(tv)", "loop(archc)"] + (["loop(archc)+compile"] if args.compile else [])
    clocks = [("wall", False)] + ([("CPU", True)] if device.type == "cpu" else [])
    header = "| model | clock | " + " | ".join(f"{k} img/s" for k in keys) + " | loop(tv)/plain | loop(archc)/plain |"
    if args.compile:
        header += " compile/eager |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for result in results:
        for clock, cpu in clocks:
            plain = result.median("plain", cpu)
            cells = [f"{result.median(k, cpu):.2f}" for k in keys]
            cells += [f"{result.median(k, cpu) / plain:.3f}" for k in ("loop(tv)", "loop(archc)")]
            if args.compile:
                compiled = result.median("loop(archc)+compile", cpu) / result.median("loop(archc)", cpu)
                cells.append(f"{compiled:.2f}x")
            print(f"| {result.model} | {clock} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="resnet50,densenet121", help="comma-separated: resnet50, densenet121")
    parser.add_argument("--device", help="default: CUDA, then MPS, then CPU")
    parser.add_argument("--batch-size", type=int, help="default 256 on CUDA, 8 elsewhere")
    parser.add_argument("--image-size", type=int, help="default 224 on CUDA, 64 elsewhere")
    parser.add_argument("--steps", type=int, help="steps per round (default 50 on CUDA, 4 elsewhere)")
    parser.add_argument("--repeats", type=int, default=3, help="measured rounds after the warm-up round")
    parser.add_argument("--compile", action="store_true", help="also the archc loop with torch.compile")
    parser.add_argument("--channels-last", action="store_true", help="channels_last on the CPU too")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device) if args.device else best_device()
    on_cuda = device.type == "cuda"
    args.batch_size = args.batch_size or (256 if on_cuda else 8)
    args.image_size = args.image_size or (224 if on_cuda else 64)
    args.steps = args.steps or (50 if on_cuda else 4)
    if on_cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    np.random.seed(0)
    env = Environment(device)
    results = []
    for name in args.models.split(","):
        if name not in MODELS:
            parser.error(f"unknown model {name!r} (known: {', '.join(MODELS)})")
        results.append(measure(name, args, env))
        if on_cuda:
            torch.cuda.empty_cache()
    print_table(results, args, env)


if __name__ == "__main__":
    main()
