"""archc's Keras DenseNet-121 against keras.applications.DenseNet121: predict and train-step throughput, one process.

    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python bench/keras_vs_applications.py            # 224x224, batch 4, 21 pairs
    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python bench/keras_vs_applications.py --size 128 --batch 8 --reps 31

Both models hold the same weights (keras.applications' random ones, loaded into archc's ``densenet121_keras`` by
name) and compute the same function. Each repetition times ``--predict-steps`` predict calls (``predict_on_batch``) and
``--train-steps`` training steps (``train_on_batch``, SGD, sparse cross-entropy) of each model, alternating which model
goes first; the ratio archc / keras.applications of images per second is taken per repetition (pair), by wall clock and
by process CPU time, and its median and quartiles are reported, with the ratio of the best repetitions. Target
(issue 4): median wall-clock ratio >= 0.98; exit status 1 when a median misses it.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import archc  # noqa: E402

TARGET = 0.98


def build(size: int) -> dict[str, keras.Model]:
    from archc.backends.keras.applications import load_applications_weights

    reference = keras.applications.DenseNet121(weights=None, input_shape=(size, size, 3))
    ours = archc.api.backend_module("keras").build_model(_reshaped(size), seed=0)
    load_applications_weights(ours, reference)
    for model in (ours, reference):
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss=keras.losses.SparseCategoricalCrossentropy())
    return {"archc": ours, "keras.applications": reference}


def _reshaped(size: int) -> archc.Graph:
    """densenet121_keras at a size x size input (the spec's own input is 224x224)."""
    spec = archc.parse("densenet121_keras").to_data()
    spec["input"] = {"shape": [3, size, size]}
    spec.pop("extends", None)
    return archc.build_graph(spec)


def timed(step, steps: int) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of ``steps`` calls."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224, help="input height and width")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--predict-steps", type=int, default=2, help="predict calls per model per repetition")
    parser.add_argument("--train-steps", type=int, default=1, help="training steps per model per repetition")
    parser.add_argument("--reps", type=int, default=21, help="alternating repetitions (pairs)")
    args = parser.parse_args()

    models = build(args.size)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, args.size, args.size, 3)).astype("float32")
    y = rng.integers(0, 1000, args.batch)
    outputs = [np.asarray(model.predict_on_batch(x)) for model in models.values()]  # warm-up: traces predict
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=0, atol=1e-5)
    for model in models.values():
        model.train_on_batch(x, y)  # warm-up: traces the train step

    print(f"archc densenet121_keras vs keras.applications.DenseNet121, input {args.size}x{args.size}, batch "
          f"{args.batch}; {args.predict_steps} predict call(s) and {args.train_steps} train step(s) per model x "
          f"{args.reps} alternating repetitions")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, keras {keras.__version__} "
          f"({keras.backend.backend()}), python {platform.python_version()}, {datetime.date.today()}")
    tasks = {"predict": (args.predict_steps, lambda m: lambda: m.predict_on_batch(x)),
             "train step": (args.train_steps, lambda m: lambda: m.train_on_batch(x, y))}
    # (task, clock, model) -> images per second, one value per repetition
    rates: dict[tuple[str, str, str], list[float]] = {}
    for rep in range(args.reps):
        order = list(models) if rep % 2 == 0 else list(reversed(models))
        for task, (steps, make) in tasks.items():
            for name in order:
                for clock, seconds in zip(("wall", "cpu"), timed(make(models[name]), steps)):
                    rates.setdefault((task, clock, name), []).append(steps * args.batch / seconds)
    print(f"{'task':11s} {'clock':5s} {'archc best':>11s} {'keras.app best':>15s} {'median ratio':>13s} "
          f"{'ratio quartiles':>16s} {'best/best':>10s}   (images/s; ratio = archc / keras.applications)")
    missed = False
    for task in tasks:
        for clock in ("wall", "cpu"):
            ours, theirs = rates[(task, clock, "archc")], rates[(task, clock, "keras.applications")]
            ratios = [a / b for a, b in zip(ours, theirs)]
            median = statistics.median(ratios)
            first, _, third = statistics.quantiles(ratios, n=4)
            missed |= clock == "wall" and median < TARGET
            print(f"{task:11s} {clock:5s} {max(ours):11.2f} {max(theirs):15.2f} {median:13.3f} "
                  f"{first:7.3f}..{third:.3f} {max(ours) / max(theirs):10.3f}")
    print(f"target: median wall-clock ratio >= {TARGET}: {'missed' if missed else 'met'} (cpu: process CPU time, "
          "the steadier clock on a shared machine)")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
