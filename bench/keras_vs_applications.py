"""archc's Keras DenseNet-121 against keras.applications.DenseNet121: predict and train-step throughput, one process.

    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python bench/keras_vs_applications.py            # 224x224, batch 4
    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python bench/keras_vs_applications.py --size 128 --batch 8 --reps 7

Both models hold the same weights (keras.applications' random ones, loaded into archc's ``densenet121_keras`` by
name) and compute the same function. Each repetition times ``--steps`` predict calls (``predict_on_batch``) and
``--steps`` training steps (``train_on_batch``, SGD, sparse cross-entropy) of each model, alternating which model
goes first; the ratio archc / keras.applications of images per second is taken per repetition and the median is
reported. Target (issue 4): ratio >= 0.98. Exit status 1 when a median misses it.
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


def timed(step, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224, help="input height and width")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=2, help="calls per model per repetition")
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
          f"{args.batch}, {args.steps} steps x {args.reps} alternating repetitions")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, keras {keras.__version__} "
          f"({keras.backend.backend()}), python {platform.python_version()}, {datetime.date.today()}")
    ratios: dict[str, list[float]] = {"predict": [], "train step": []}
    rates: dict[tuple[str, str], list[float]] = {}
    for rep in range(args.reps):
        order = list(models) if rep % 2 == 0 else list(reversed(models))
        for task, make in (("predict", lambda m: lambda: m.predict_on_batch(x)),
                           ("train step", lambda m: lambda: m.train_on_batch(x, y))):
            rate = {name: args.steps * args.batch / timed(make(models[name]), args.steps) for name in order}
            for name, value in rate.items():
                rates.setdefault((task, name), []).append(value)
            ratios[task].append(rate["archc"] / rate["keras.applications"])
    print(f"{'task':12s} {'archc img/s':>12s} {'keras.app img/s':>16s} {'median ratio':>13s}  per-repetition ratios")
    missed = False
    for task, values in ratios.items():
        median = statistics.median(values)
        missed |= median < TARGET
        print(f"{task:12s} {statistics.median(rates[(task, 'archc')]):12.2f} "
              f"{statistics.median(rates[(task, 'keras.applications')]):16.2f} {median:13.3f}  "
              + " ".join(f"{v:.3f}" for v in values))
    print(f"target: median ratio >= {TARGET}: {'missed' if missed else 'met'}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
