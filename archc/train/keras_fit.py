"""The Keras path of ``archc train``: ``model.fit`` with callbacks for the schedule, the progress bar, metrics,
curves and checkpoints; tf.distribute.MirroredStrategy when several GPUs are visible.

Checkpoints are ``.keras`` files (model and optimizer variables) with an ``archc_state.json`` entry added to the
zip (epoch, history, spec and digest, tensor shapes), written atomically like the torch ones. Resume rebuilds the
model from the spec, compiles it, and loads weights and optimizer variables from the checkpoint; data order,
augmentation and the learning rate continue exactly, other random draws (dropout) are reseeded.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from archc.train import tensorboard
from archc.train.compat import check_checkpoint
from archc.train.data import augment_numpy, augmentation_params
from archc.train.errors import TrainError, TrainingInterrupted, interrupt_requests
from archc.train.progress import EpochProgress
from archc.train.rundir import atomic_path
from archc.train.schedule import Schedule
from archc.train.tensorboard import keras_callbacks, keras_epoch

STATE_ENTRY = "archc_state.json"
SUFFIX = ".keras"


def _imports() -> tuple[Any, Any]:
    if "torch" in sys.modules and "tensorflow" not in sys.modules:
        # Triton's LLVM loaded after TensorFlow's segfaults (torch imports triton lazily, e.g. in Adam's __init__);
        # loaded before it, both work. Matters where torch and Keras share a process (tests, weight transfer).
        with contextlib.suppress(ImportError):
            import triton  # noqa: F401
    from archc.backends.keras.quiet import import_keras

    keras = import_keras()  # TensorFlow first, without its start-up INFO lines
    import tensorflow as tf

    return keras, tf


# ---------------------------------------------------------------------------------------------------------- data


def _index_batches(size: int, batch: int, seed: int, first_epoch: int, epochs: int) -> tuple[np.ndarray, np.ndarray]:
    """Batches of sample indices for epochs first_epoch..epochs-1 (a seeded permutation per epoch, incomplete last
    batch dropped), and (epoch, step) of each batch for the augmentation seed."""
    steps = size // batch
    indices, where = [], []
    for epoch in range(first_epoch, epochs):
        order = np.random.default_rng([seed, epoch]).permutation(size)[: steps * batch]
        indices.append(order.reshape(steps, batch))
        where.append(np.stack([np.full(steps, epoch), np.arange(steps)], axis=1))
    if not indices:
        return np.zeros((0, batch), np.int64), np.zeros((0, 2), np.int64)
    return np.concatenate(indices).astype(np.int64), np.concatenate(where).astype(np.int64)


def make_dataset(prepared: Any, train: bool, first_epoch: int = 0) -> Any:
    """A tf.data pipeline of (NHWC float images, one-hot labels) adapted to the spec's input."""
    _, tf = _imports()
    cfg, dataset, adaptation = prepared.cfg, prepared.dataset, prepared.adaptation
    split = dataset.train if train else dataset.test
    if train:
        batches, where = _index_batches(len(split), cfg.batch_size, cfg.seed, first_epoch, cfg.epochs)
    else:
        size, batch = len(split), cfg.eval_batch_size or 2 * cfg.batch_size
        batches = [np.arange(start, min(start + batch, size)) for start in range(0, size, batch)]

    def fetch(number: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y = split.batch(batches[int(number)])
        if train and (cfg.random_crop or cfg.hflip):
            epoch, step = (int(v) for v in where[int(number)])
            top, left, flips = augmentation_params(cfg.seed, epoch, step, len(y), cfg.random_crop, cfg.hflip)
            x = augment_numpy(x, top, left, flips, cfg.random_crop)
        # float here, not in the graph: oneDNN transposes uint8 only with AVX-512 and logs an error line otherwise
        # (TensorFlow's optimizer moves a graph cast after the transpose again)
        return x.astype(np.float32), y.astype(np.int64)

    channels = dataset.shape[0]
    mean = tf.constant(np.asarray(prepared.mean, np.float32) * 255.0)
    scale = tf.constant(1.0 / (np.asarray(prepared.std, np.float32) * 255.0))
    num_classes = prepared.info.num_outputs

    def transform(number: Any) -> tuple[Any, Any]:
        x, y = tf.numpy_function(fetch, [number], [tf.float32, tf.int64])
        x = tf.reshape(x, [-1, *dataset.shape])
        x = (tf.transpose(x, [0, 2, 3, 1]) - mean) * scale  # NCHW -> NHWC
        if adaptation.resize is not None:
            antialias = adaptation.resize[0] < dataset.shape[1] or adaptation.resize[1] < dataset.shape[2]
            x = tf.image.resize(x, adaptation.resize, method="bilinear", antialias=antialias)
        if adaptation.repeat_channels > 1:
            x = tf.tile(x, [1, 1, 1, adaptation.repeat_channels // channels])
        if adaptation.flatten:
            x = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [tf.shape(x)[0], -1])  # channel-major, as torch
        return x, tf.one_hot(tf.reshape(y, [-1]), num_classes)

    data = tf.data.Dataset.range(len(batches))  # a known length: Keras needs no StopIteration
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    options.deterministic = True
    return data.map(transform, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE).with_options(options)


# ------------------------------------------------------------------------------------------------------- model


def make_optimizer(cfg: Any, model: Any) -> Any:
    """Keras optimizers apply weight decay decoupled (AdamW-style) for SGD and Adam too; biases and BatchNorm
    parameters are excluded as in the torch loop."""
    keras, _ = _imports()
    clip = {"global_clipnorm": cfg.grad_clip} if cfg.grad_clip else {}
    if cfg.ema:  # Keras' own EMA of the trainable variables, kept in the optimizer (saved with the checkpoint)
        clip.update(use_ema=True, ema_momentum=cfg.ema)
    if cfg.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(cfg.base_lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                                         weight_decay=cfg.weight_decay or None, **clip)
    elif cfg.optimizer == "adam":
        optimizer = keras.optimizers.Adam(cfg.base_lr, weight_decay=cfg.weight_decay or None, **clip)
    else:
        optimizer = keras.optimizers.AdamW(cfg.base_lr, weight_decay=cfg.weight_decay, **clip)
    if cfg.weight_decay:
        optimizer.exclude_from_weight_decay(var_list=[v for v in model.trainable_variables if len(v.shape) <= 1])
    return optimizer


def build_and_compile(prepared: Any, log: Any = None) -> Any:
    keras, _ = _imports()
    from archc.api import backend_module
    from archc.train.init_from import freeze_keras, init_keras

    cfg, info = prepared.cfg, prepared.info
    model = backend_module("keras").build_model(info.graph, seed=cfg.seed)
    if cfg.init_from and not prepared.resuming:
        init_keras(model, info.graph, cfg.init_from, log)
    if cfg.freeze:
        freeze_keras(model, cfg.freeze, log)
    loss = keras.losses.CategoricalCrossentropy(from_logits=not info.outputs_probabilities,
                                                label_smoothing=cfg.label_smoothing)
    model.compile(optimizer=make_optimizer(cfg, model), loss=loss,
                  metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
                  jit_compile="auto" if cfg.compile is None else cfg.compile)  # auto: XLA on GPUs
    model.optimizer.build(model.trainable_variables)
    return model


def weight_shapes(model: Any) -> dict[str, list[int]]:
    return {variable.path: [int(d) for d in variable.shape] for variable in model.weights}


# ------------------------------------------------------------------------------------------------- checkpoints


def save_checkpoint(model: Any, path: Path, state: dict[str, Any]) -> None:
    """model.save to a temporary .keras, add archc_state.json to its zip, fsync, rename over ``path``."""
    with atomic_path(path) as tmp:
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as archive:
            archive.writestr(STATE_ENTRY, json.dumps(state))


def read_state(path: Path) -> dict[str, Any]:
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read(STATE_ENTRY))
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise TrainError(f"{path}: not a checkpoint of `archc train --backend keras` ({exc})") from None


def load_checkpoint(model: Any, path: Path, spec: Any) -> dict[str, Any]:
    """Check the checkpoint is of ``spec`` (naming mismatched tensors), then load weights and optimizer state."""
    state = read_state(path)
    check_checkpoint(str(path), state.get("spec_digest", "?"), state.get("spec"), state.get("weights", {}), spec,
                     weight_shapes(model))
    model.load_weights(path)
    return state


def evaluate_ema(model: Any, validation: Any) -> tuple[float, float]:
    """Loss and accuracy with the optimizer's EMA weights: keras.callbacks.SwapEMAWeights swaps them in for the
    evaluation and back after it."""
    keras, _ = _imports()
    logs = model.evaluate(validation, callbacks=[keras.callbacks.SwapEMAWeights()], verbose=0, return_dict=True)
    return float(logs["loss"]), float(logs["accuracy"])


def ema_state(prepared: Any, path: Path) -> dict[str, Any]:
    """The EMA weights of a Keras checkpoint in torch layout (BatchNorm statistics are the raw ones: Keras averages
    trainable variables only)."""
    from archc.transfer import read_state as read_tensors

    model = build_and_compile(prepared)
    model.load_weights(path)  # weights and optimizer variables, the averages among them
    model.optimizer.finalize_variable_values(model.trainable_variables)
    return read_tensors(model)


# -------------------------------------------------------------------------------------------------- callbacks


def _callback_base() -> Any:
    keras, _ = _imports()
    return keras.callbacks.Callback


class _Loop:
    """The per-epoch bookkeeping shared by the callbacks: schedule, progress, metrics, checkpoints."""

    def __init__(self, prepared: Any, schedule: Schedule, progress: EpochProgress, history: list[dict[str, Any]],
                 best_acc: float, steps: int):
        self.prepared, self.schedule, self.progress = prepared, schedule, progress
        self.history, self.best_acc, self.steps = history, best_acc, steps
        self.step = 0
        self.stop_requested = False
        self.board: Any = None  # the tf.summary writer of archc's TensorBoard scalars
        self.validation: Any = None  # the held-out tf.data pipeline (evaluated again with the EMA weights)
        self.epoch_began = self.test_began = self.last_shown = 0.0
        self.shown_batch = 0


def make_callbacks(loop: _Loop) -> list[Any]:
    base = _callback_base()
    prepared = loop.prepared
    cfg = prepared.cfg

    class Callbacks(base):  # type: ignore[misc, valid-type]
        def on_train_begin(self, logs: Any = None) -> None:
            loop.step = int(self.model.optimizer.iterations)

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            loop.epoch_began = loop.last_shown = time.perf_counter()
            loop.shown_batch = 0
            loop.progress.start(epoch + 1, cfg.epochs, loop.steps)

        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            self.model.optimizer.learning_rate.assign(loop.schedule.lr(loop.step))

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            loop.step += 1
            if loop.stop_requested:  # Ctrl-C: the checkpoint of the last completed epoch is what --resume reads
                done = len(loop.history)
                run = prepared.run
                raise TrainingInterrupted(f"interrupted in epoch {done + 1}; the checkpoint "
                                          f"{run.checkpoint('last', SUFFIX) if run else '-'} holds {done} epoch(s)",
                                          run.path if run else None)
            now = time.perf_counter()
            if loop.progress.enabled and now - loop.last_shown > 0.25 and logs:
                rate = (batch + 1 - loop.shown_batch) * cfg.batch_size / (now - loop.last_shown)
                loop.progress.update(batch + 1, float(logs.get("loss", np.nan)), float(logs.get("accuracy", np.nan)),
                                     rate)
                loop.last_shown, loop.shown_batch = now, batch + 1

        def on_test_begin(self, logs: Any = None) -> None:
            loop.test_began = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            logs = logs or {}
            seconds = (loop.test_began or time.perf_counter()) - loop.epoch_began
            row = {"epoch": epoch + 1, "epochs": cfg.epochs, "step": loop.step,
                   "train_loss": float(logs.get("loss", np.nan)), "train_acc": float(logs.get("accuracy", np.nan)),
                   "test_loss": float(logs.get("val_loss", np.nan)),
                   "test_acc": float(logs.get("val_accuracy", np.nan)),
                   "lr": loop.schedule.lr(max(loop.step - 1, 0)),
                   "images_per_s": loop.steps * cfg.batch_size / max(seconds, 1e-9), "epoch_time_s": seconds,
                   "time": time.time()}
            if cfg.ema:
                row["ema_test_loss"], row["ema_test_acc"] = evaluate_ema(self.model, loop.validation)
            loop.history.append(row)
            improved = row["test_acc"] > loop.best_acc
            loop.best_acc = max(loop.best_acc, row["test_acc"])
            run = prepared.run
            if run is not None:
                state = {"spec_digest": prepared.info.spec.digest(), "spec": prepared.info.spec.to_data(),
                         "epoch": epoch + 1, "history": loop.history, "best_acc": loop.best_acc,
                         "config": cfg.to_dict(), "weights": weight_shapes(self.model)}
                save_checkpoint(self.model, run.checkpoint("last", SUFFIX), state)
                if improved:
                    save_checkpoint(self.model, run.checkpoint("best", SUFFIX), state)
                run.append_metrics(row)
                if loop.board is not None:
                    keras_epoch(loop.board, row)
                run.write_curves(loop.history, f"{prepared.info.spec.name} on {prepared.dataset.name} (keras)")
            loop.progress.finish(row)
            loop.test_began = 0.0

    return [Callbacks()]


# ------------------------------------------------------------------------------------------------------ entry point


def check_device(cfg: Any) -> list[Any]:
    """The GPUs Keras will use (none with --device cpu); TrainError for --device cuda without a visible GPU."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise TrainError("torchrun starts the torch backend; --backend keras uses tf.distribute.MirroredStrategy "
                         "over the GPUs of one process (run it without torchrun)")
    keras, tf = _imports()
    on_tensorflow = keras.backend.backend() == "tensorflow"
    if cfg.device and cfg.device.startswith("cpu") and on_tensorflow:
        tf.config.set_visible_devices([], "GPU")
    gpus = tf.config.list_logical_devices("GPU") if on_tensorflow else []
    if cfg.device and cfg.device.startswith(("cuda", "gpu")) and not gpus:
        raise TrainError(f"--device {cfg.device}: no GPU is visible to Keras")
    if cfg.device and not cfg.device.startswith(("cpu", "cuda", "gpu")):
        raise TrainError(f"--device {cfg.device}: Keras runs on cpu or cuda (gpu)")
    return gpus


def train_keras(prepared: Any, console: Any = None) -> Any:
    """Run a prepared training with Keras; returns a TrainResult."""
    from archc.train.runner import TrainResult

    keras, tf = _imports()
    cfg = prepared.cfg
    log = (lambda text: console.print(text, highlight=False)) if console is not None else (lambda text: None)
    gpus = check_device(cfg)
    keras.utils.set_random_seed(cfg.seed)
    policy = keras.mixed_precision.global_policy()
    bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and bool(gpus))
    if bf16:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    strategy = tf.distribute.MirroredStrategy() if len(gpus) > 1 else None
    try:
        return TrainResult(*_fit(prepared, keras, strategy, bool(gpus), bf16, log, console))
    finally:
        keras.mixed_precision.set_global_policy(policy)


def _fit(prepared: Any, keras: Any, strategy: Any, on_gpu: bool, bf16: bool, log: Any,
         console: Any) -> tuple[Path | None, list[dict[str, Any]]]:
    cfg = prepared.cfg
    steps = len(prepared.dataset.train) // cfg.batch_size
    if steps == 0:
        raise TrainError(f"the training split has {len(prepared.dataset.train)} samples, fewer than one batch of "
                         f"{cfg.batch_size}; lower --batch-size")
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope:
        model = build_and_compile(prepared, log)
    history: list[dict[str, Any]] = []
    best_acc, first_epoch = -1.0, 0
    if prepared.resuming:
        checkpoint = prepared.resume_from / "checkpoints" / f"last{SUFFIX}"
        if checkpoint.is_file():
            state = load_checkpoint(model, checkpoint, prepared.info.spec)
            history, best_acc, first_epoch = state["history"], state["best_acc"], state["epoch"]
            from archc.train.runner import check_epochs_left

            check_epochs_left(cfg.epochs, first_epoch, prepared.resume_from)
            keras.utils.set_random_seed(cfg.seed + first_epoch)
            log(f"resumed from {checkpoint}: {first_epoch} epoch(s) done")
            if prepared.run is not None:
                prepared.run.rewrite_metrics(history)
        else:
            log(f"no checkpoint in {prepared.resume_from} yet: starting from the first epoch")
        prepared.record_resume()
    for note in prepared.notes:
        log(f"note: {note}")
    device = f"{len(strategy.extended.worker_devices)} GPUs (MirroredStrategy)" if strategy else (
        "GPU" if on_gpu else "CPU")
    log(f"training {prepared.info.spec.name} with keras ({keras.backend.backend()}) on {device}"
        + (" with bf16 mixed precision" if bf16 else ""))
    dataset = prepared.dataset  # the same setup lines as the torch loop's
    log(f"data {dataset.name}: {len(dataset.train)} train / {len(dataset.test)} test images of "
        f"{list(dataset.shape)}, {dataset.num_classes} classes; input {list(prepared.info.input_shape)}: "
        f"{prepared.adaptation.describe()}")
    log(f"{cfg.optimizer} lr {cfg.base_lr:g}, {cfg.schedule} schedule, batch {cfg.batch_size}, {steps} steps/epoch, "
        f"{cfg.epochs} epochs")
    if prepared.run is not None:
        log(f"run folder {prepared.run.path}")
    if first_epoch >= cfg.epochs:
        return (prepared.run.path if prepared.run else None), history
    schedule = Schedule(cfg.schedule, cfg.base_lr, steps, cfg.epochs, cfg.warmup_epochs, cfg.step_size, cfg.gamma)
    progress = EpochProgress(console, cfg.progress)
    loop = _Loop(prepared, schedule, progress, history, best_acc, steps)
    loop.validation = make_dataset(prepared, False)
    callbacks = make_callbacks(loop)
    if prepared.run is not None and not tensorboard.available():
        log(f"note: {tensorboard.MISSING}")
    elif prepared.run is not None:
        board_callback, loop.board = keras_callbacks(prepared.run.path, prepared.info.spec)
        callbacks.append(board_callback)
    try:
        with interrupt_requests(lambda: setattr(loop, "stop_requested", True)):
            model.fit(make_dataset(prepared, True, first_epoch), epochs=cfg.epochs, initial_epoch=first_epoch,
                      steps_per_epoch=steps, validation_data=loop.validation, shuffle=False,
                      callbacks=callbacks, verbose=0)
    finally:
        progress.stop()
    return (prepared.run.path if prepared.run else None), loop.history
