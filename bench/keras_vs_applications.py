"""archc's Keras DenseNet-121 against keras.applications.DenseNet121: predict and train-step throughput, one process.

    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python bench/keras_vs_applications.py            # 224x224, batch 4
    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python bench/keras_vs_applications.py --size 128 --batch 8 --reps 7

Both models hold the same weights (keras.applications' random ones, loaded into archc's ``densenet121_keras`` by
name) and compute the same function. Each repetition times ``--predict-steps`` predict calls (``predict_on_batch``) and
``--train-steps`` training steps (``train_on_batch``, SGD, sparse cross-entropy) of each model, alternating which model
goes first; the ratio archc / keras.applications of images per second is taken per repetition, by wall clock and
by process CPU time, and the medians are reported. Target (issue 4): wall-clock ratio >= 0.98; exit status 1 when
a median misses it.
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
    parser.add_argument("--predict-steps", type=int, default=6, help="predict calls per model per repetition")
    parser.add_argument("--train-steps", type=int, default=2, help="training steps per model per repetition")
    parser.add_argument("--reps", type=int, default=5, help="alternating repetitions")
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
          f"{args.batch}; {args.predict_steps} predict calls and {args.train_steps} train steps per model x "
          f"{args.reps} alternating repetitions")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, keras {keras.__version__} "
          f"({keras.backend.backend()}), python {platform.python_version()}, {datetime.date.today()}")
    tasks = {"predict": (args.predict_steps, lambda m: lambda: m.predict_on_batch(x)),
             "train step": (args.train_steps, lambda m: lambda: m.train_on_batch(x, y))}
    # (task, clock) -> per-repetition ratios archc / keras.applications of images per second; (task, clock, model) ->
    # images per second
    ratios: dict[tuple[str, str], list[float]] = {}
    rates: dict[tuple[str, str, str], list[float]] = {}
    for rep in range(args.reps):
        order = list(models) if rep % 2 == 0 else list(reversed(models))
        for task, (steps, make) in tasks.items():
            seconds = {name: timed(make(models[name]), steps) for name in order}
            for index, clock in enumerate(("wall", "cpu")):
                rate = {name: steps * args.batch / seconds[name][index] for name in order}
                for name, value in rate.items():
                    rates.setdefault((task, clock, name), []).append(value)
                ratios.setdefault((task, clock), []).append(rate["archc"] / rate["keras.applications"])
    print(f"{'task':11s} {'clock':5s} {'archc img/s':>12s} {'keras.app img/s':>16s} {'median ratio':>13s}  "
          "per-repetition ratios")
    missed = False
    for (task, clock), values in ratios.items():
        median = statistics.median(values)
        missed |= clock == "wall" and median < TARGET
        print(f"{task:11s} {clock:5s} {statistics.median(rates[(task, clock, 'archc')]):12.2f} "
              f"{statistics.median(rates[(task, clock, 'keras.applications')]):16.2f} {median:13.3f}  "
              + " ".join(f"{v:.3f}" for v in values))
    print(f"target: median wall-clock ratio >= {TARGET}: {'missed' if missed else 'met'} (cpu: process CPU time, "
          "the steadier clock on a shared machine)")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
