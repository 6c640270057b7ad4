"""Inference folding for Keras: predict throughput of ``archc.optimize`` of the Keras DenseNet-121 against
keras.applications.DenseNet121, in one process.

    TF_CPP_MIN_LOG_LEVEL=2 python bench/optimize_keras.py --size 128 --batch 8 --reps 7

Three models hold the same weights (keras.applications' random ones with non-trivial BatchNorm statistics, loaded by
name into archc's ``densenet121_keras``): ``keras.applications``, ``archc`` (the model as built) and ``archc.optimize``
(BatchNormalization folded into the convs before it, ReLU fused into them, built-in layers only). Each repetition
times ``--steps`` ``predict_on_batch`` calls of each, rotating which goes first; medians of images/s by the process'
CPU time and by the wall clock. Outputs are checked against keras.applications' before timing.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import archc  # noqa: E402


def build(size: int) -> dict[str, keras.Model]:
    from archc.backends.keras.applications import load_applications_weights

    reference = keras.applications.DenseNet121(weights=None, input_shape=(size, size, 3))
    rng = np.random.default_rng(1)
    for layer in reference.layers:  # statistics a trained network could have (a fresh one's are 0 and 1)
        if isinstance(layer, keras.layers.BatchNormalization):
            count = layer.gamma.shape[0]
            layer.set_weights([rng.random(count) + 0.5, rng.standard_normal(count) * 0.1,
                               rng.standard_normal(count) * 0.1, rng.random(count) + 0.5])
    spec = archc.parse("densenet121_keras").to_data()
    spec["input"] = {"shape": [3, size, size]}
    ours = archc.load(archc.parse(spec), backend="keras", seed=0)
    load_applications_weights(ours, reference)
    return {"keras.applications": reference, "archc": ours, "archc.optimize": archc.optimize(ours)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args(argv)
    models = build(args.size)
    x = np.random.default_rng(0).standard_normal((args.batch, args.size, args.size, 3)).astype("float32")
    expected = np.asarray(models["keras.applications"].predict_on_batch(x))
    for key, model in models.items():
        error = np.abs(np.asarray(model.predict_on_batch(x)) - expected).max() / np.abs(expected).max()
        print(f"{key}: max relative difference {error:.1e}, {len(model.layers)} layers")
    cpu: dict[str, list[float]] = {key: [] for key in models}
    wall: dict[str, list[float]] = {key: [] for key in models}
    keys = list(models)
    for rep in range(args.reps):
        shift = rep % len(keys)
        for key in keys[shift:] + keys[:shift]:
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(args.steps):
                models[key].predict_on_batch(x)
            images = args.batch * args.steps
            cpu[key].append(images / (time.process_time() - start_cpu))
            wall[key].append(images / (time.perf_counter() - start_wall))
    print(f"\n{datetime.datetime.now().isoformat(timespec='seconds')}  keras {keras.__version__} "
          f"({keras.backend.backend()}), {args.size}x{args.size}, batch {args.batch}, {args.reps} reps x "
          f"{args.steps} predict calls, medians\n")
    print("| model | img/s (CPU time) | / keras.applications | img/s (wall) | / keras.applications |")
    print("|---|---:|---:|---:|---:|")
    ref_cpu, ref_wall = statistics.median(cpu[keys[0]]), statistics.median(wall[keys[0]])
    for key in keys:
        c, w = statistics.median(cpu[key]), statistics.median(wall[key])
        print(f"| {key} | {c:.1f} | {c / ref_cpu:.2f} | {w:.1f} | {w / ref_wall:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
