"""Memory-efficient dense blocks: peak memory and training throughput against torchvision, in one process.

    python bench/memory_efficient.py                                      # CUDA if present (bf16, batch 256)
    python bench/memory_efficient.py --device cpu --threads 1 --clock cpu --batch-size 24 --image-size 160

For each model the same weights train one SGD step (forward, cross-entropy, backward, step) as:

* ``reference``: torchvision's DenseNet (default), where torchvision has the model (121, 169); else archc's default
  model, which computes the same aten ops in the same order (bench/torch_vs_torchvision.py);
* ``tv-me``: torchvision's ``memory_efficient=True`` (``torch.utils.checkpoint`` around concat + BN + ReLU + conv1),
  the anchor to beat;
* ``archc-me``: ``archc.load(spec, memory_efficient=True)`` (backends/torch/memory.py).

Peak memory is the growth of tensor memory during one training step above what was alive before it (weights,
gradients and momentum exist already): ``torch.cuda.max_memory_allocated`` on CUDA, and on the CPU the allocation
events torch's profiler records, replayed (bench/torch_vs_torchvision.py ``peak_bytes``). Throughput: images/s of
``--iterations`` steps, ``--repeats`` rounds alternating between the models, medians. The largest batch within
``--budget-mib`` of activation memory is extrapolated from the peaks at ``--batch-size`` and twice it (activation
memory is linear in the batch).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torchvision

sys.path.insert(0, str(Path(__file__).parent))
from torch_vs_torchvision import Setup, peak_bytes  # noqa: E402

import archc  # noqa: E402
from archc.backends.torch.memory import release_workspace  # noqa: E402

TORCHVISION = {"densenet121": "densenet121", "densenet169": "densenet169"}
MODELS = "densenet121,densenet169,densenet264,densenet_bc_100_12"


def native_resolution(name: str) -> int:
    return archc.parse(name).to_data()["params"]["resolution"]


def spec_at(name: str, size: int) -> archc.Spec:
    """The zoo spec at ``size`` x ``size``; the CIFAR nets keep their 32 x 32 input."""
    return archc.parse(name) if native_resolution(name) == 32 else archc.parse(name, resolution=size)


def build(name: str, size: int, device: torch.device) -> dict[str, torch.nn.Module]:
    """The models compared, all with the same weights."""
    spec = spec_at(name, size)
    ours = archc.load(spec, memory_efficient=True, seed=0)
    if name in TORCHVISION:
        reference = torchvision.models.get_model(TORCHVISION[name])
        anchor = torchvision.models.get_model(TORCHVISION[name], memory_efficient=True)
        models = {"reference": reference, "tv-me": anchor, "archc-me": ours}
    else:
        models = {"reference": archc.load(spec, seed=0), "archc-me": ours}
    state = models["reference"].state_dict()
    for model in models.values():
        model.load_state_dict(state, strict=True)
    return {key: model.to(device).train() for key, model in models.items()}


class Step:
    def __init__(self, model: torch.nn.Module, setup: Setup, classes: int, batch: int):
        self.model, self.setup = model, setup
        self.optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        generator = torch.Generator().manual_seed(0)
        shape = (batch, 3, setup.image_size, setup.image_size)
        self.x = torch.randn(*shape, generator=generator).to(setup.device)
        if setup.channels_last:
            self.x = self.x.contiguous(memory_format=torch.channels_last)
        self.labels = torch.randint(0, classes, (batch,), generator=generator).to(setup.device)

    def __call__(self) -> None:
        with self.setup.autocast():
            loss = torch.nn.functional.cross_entropy(self.model(self.x), self.labels)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=False)

    def peak_mib(self) -> float:
        self()
        self()  # gradients and momentum exist from here on
        release_workspace()  # the memory-efficient chains' reusable buffers count as the step's memory
        self.setup.sync()
        return peak_bytes(self, self.setup) / 2**20

    def images_per_second(self, clock) -> float:
        self()
        self.setup.sync()
        start = clock()
        for _ in range(self.setup.iterations):
            self()
        self.setup.sync()
        return self.x.shape[0] * self.setup.iterations / (clock() - start)


def bench_model(name: str, setup: Setup, repeats: int, budget: float, clock) -> dict:
    models = build(name, setup.image_size, setup.device)
    if native_resolution(name) == 32:
        setup = Setup(setup.device, setup.batch_size, 32, setup.iterations, setup.autocast, setup.channels_last)
    classes = models["reference"].state_dict()[next(k for k in models["reference"].state_dict()
                                                    if k.endswith("classifier.bias"))].shape[0]
    if setup.channels_last:
        models = {key: model.to(memory_format=torch.channels_last) for key, model in models.items()}
    steps = {key: Step(model, setup, classes, setup.batch_size) for key, model in models.items()}
    result: dict = {"model": name, "image_size": setup.image_size, "batch": setup.batch_size}
    result["peak_mib"] = {key: step.peak_mib() for key, step in steps.items()}
    doubled = {key: Step(model, setup, classes, 2 * setup.batch_size).peak_mib() for key, model in models.items()}
    per_image = {key: (doubled[key] - result["peak_mib"][key]) / setup.batch_size for key in steps}
    fixed = {key: result["peak_mib"][key] - per_image[key] * setup.batch_size for key in steps}
    result["largest_batch"] = {key: int((budget - fixed[key]) // per_image[key]) for key in steps}
    samples: dict[str, list[float]] = {key: [] for key in steps}
    keys = list(steps)
    for repeat in range(repeats):
        shift = repeat % len(keys)
        for key in keys[shift:] + keys[:shift]:
            samples[key].append(steps[key].images_per_second(clock))
    result["images_per_second"] = {key: statistics.median(values) for key, values in samples.items()}
    return result


def table(results: list[dict], budget: float) -> str:
    lines = [f"| model | input | batch | variant | peak MiB | memory ratio | img/s | speed ratio | "
             f"largest batch in {budget:.0f} MiB |", "|---|---|---:|---|---:|---:|---:|---:|---:|"]
    for result in results:
        ref_memory, ref_speed = result["peak_mib"]["reference"], result["images_per_second"]["reference"]
        for key, memory in result["peak_mib"].items():
            speed = result["images_per_second"][key]
            lines.append(f"| {result['model']} | {result['image_size']}² | {result['batch']} | {key} | {memory:.0f} | "
                         f"{memory / ref_memory:.2f} | {speed:.1f} | {speed / ref_speed:.2f} | "
                         f"{result['largest_batch'][key]} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=MODELS)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, help="default 256 on CUDA, 24 on the CPU")
    parser.add_argument("--image-size", type=int, help="default 224 on CUDA, 160 on the CPU (CIFAR nets: 32)")
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget-mib", type=float, help="activation memory budget (default 40 GiB CUDA, 4 GiB CPU)")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    setup = Setup(device, args.batch_size or (256 if cuda else 24), args.image_size or (224 if cuda else 160),
                  args.iterations, (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if cuda else nullcontext,
                  channels_last=cuda)
    budget = args.budget_mib or (40960.0 if cuda else 4096.0)
    hardware = torch.cuda.get_device_name(device) if cuda else f"{platform.machine()} CPU, " \
        f"{torch.get_num_threads()} threads"
    print(f"{datetime.datetime.now().isoformat(timespec='seconds')}  torch {torch.__version__}  {hardware}  "
          f"{'bf16 autocast, channels_last' if cuda else 'float32'}, {args.clock} clock", flush=True)
    results = []
    for name in args.models.split(","):
        results.append(bench_model(name.strip(), setup, args.repeats, budget, clock))
        print(table(results[-1:], budget), flush=True)
    print("\n" + table(results, budget))
    if args.json:
        args.json.write_text(json.dumps({"hardware": hardware, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
