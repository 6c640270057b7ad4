"""The torch loop's entry point, ``train_torch``: join DDP, build the trainer for a prepared run, resume, fit.

The loop is split by concern: ``torch_device`` (devices, DDP ranks, seeding), ``torch_data`` (batches and
preprocessing on the device), ``torch_optim`` (optimizer, loss), ``torch_trainer`` (the trainer, checkpoints,
resume).
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from archc.train.errors import interrupt_requests
from archc.train.progress import EpochProgress
from archc.train.runner import check_epochs_left
from archc.train.torch_device import Environment, describe_device, setup_environment
from archc.train.torch_trainer import DataInfo, ModelInfo, TorchTrainer


def train_torch(prepared: Any, console: Any = None, model_factory: Callable[[int], nn.Module] | None = None) -> Any:
    """Run a prepared training (archc.train.runner.prepare) with torch; returns a TrainResult."""

    cfg = prepared.cfg
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    env = setup_environment(cfg.device)
    writer_console = console if env.is_writer else None
    log: Callable[[str], None] = (lambda text: writer_console.print(text, highlight=False)) if writer_console \
        else (lambda text: None)
    try:
        result = _train(prepared, env, log, writer_console, model_factory)
        if env.distributed:
            # the writing rank still closes its files after the last collective: meet before tearing down
            torch.distributed.barrier()
        return result
    finally:
        if env.distributed and torch.distributed.is_initialized():
            # the trainer is gone, but its DDP wrapper may sit in a reference cycle that holds the gloo group; freed
            # only at interpreter exit, the group's threads aborted the process ("terminate called without an
            # active exception") in about one run in three
            gc.collect()
            torch.distributed.destroy_process_group()


def _train(prepared: Any, env: Environment, log: Callable[[str], None], writer_console: Any,
           model_factory: Callable[[int], nn.Module] | None) -> Any:
    """Build the trainer, resume where asked, fit; the TrainResult."""
    from archc.api import backend_module
    from archc.train.runner import TrainResult

    cfg = prepared.cfg
    graph = prepared.info.graph
    build = model_factory or (lambda seed: backend_module("torch").build_model(graph, seed=seed))
    info = ModelInfo(prepared.info.spec, prepared.info.input_shape, prepared.info.num_outputs,
                     prepared.info.outputs_probabilities, build, graph)
    data = DataInfo(prepared.dataset, prepared.adaptation, prepared.mean, prepared.std)
    progress = EpochProgress(writer_console, cfg.progress)
    trainer = TorchTrainer(cfg, info, data, prepared.run, env, progress, log,
                           init_from=None if prepared.resuming else cfg.init_from)
    resumed = ""
    if prepared.resuming:
        checkpoint = prepared.resume_from / "checkpoints" / "last.pt"
        if checkpoint.is_file():
            trainer.resume(checkpoint)
            state = trainer.state
            check_epochs_left(cfg.epochs, state.epoch, prepared.resume_from)
            resumed = (f"resumed from {checkpoint}: {state.epoch} epoch(s) done"
                       + (f", {state.step_in_epoch} step(s) into epoch {state.epoch + 1}"
                          if state.step_in_epoch else ""))
        else:
            resumed = f"no checkpoint in {prepared.resume_from} yet: starting from the first epoch"
        prepared.record_resume()
    for note in prepared.notes:
        log(f"note: {note}")
    _log_setup(log, prepared, trainer, env)
    if resumed:
        log(resumed)
    try:
        # from here on Ctrl-C is a request: the loop checkpoints after the step it is in, and stops
        with interrupt_requests(lambda: setattr(trainer, "stop_requested", True)):
            if prepared.run is not None:
                trainer.board = open_board(prepared, trainer.state.epoch, log)
            history = trainer.fit()
    finally:
        progress.stop()
        if trainer.board is not None:
            trainer.board.close()
    return TrainResult(prepared.run.path if prepared.run else None, history)


def _log_setup(log: Callable[[str], None], prepared: Any, trainer: TorchTrainer, env: Environment) -> None:
    cfg, dataset = prepared.cfg, prepared.dataset
    extras = trainer.speed.describe() + (["memory-efficient"] if cfg.memory_efficient else [])
    if env.distributed:
        extras.append(f"DDP over {env.world_size} processes ({torch.distributed.get_backend()})")
    log(f"training {prepared.info.spec.name} on {describe_device(env.device)}"
        + (f" with {', '.join(extras)}" if extras else ""))
    log(f"data {dataset.name}: {len(dataset.train)} train / {len(dataset.test)} test images of "
        f"{list(dataset.shape)}, {dataset.num_classes} classes; input {list(prepared.info.input_shape)}: "
        f"{prepared.adaptation.describe()}")
    log(f"{cfg.optimizer} lr {cfg.base_lr:g}, {cfg.schedule} schedule, batch {cfg.batch_size}, "
        f"{trainer.steps_per_epoch} steps/epoch, {cfg.epochs} epochs")
    if prepared.run is not None:
        log(f"run folder {prepared.run.path}")


def open_board(prepared: Any, first_epoch: int, log: Callable[[str], None]) -> Any:
    """TensorBoard event files in the run folder, or a note where the tensorboard package is missing."""
    from archc.train import tensorboard

    if not tensorboard.available():
        log(f"note: {tensorboard.MISSING}")
        return None
    return tensorboard.TorchBoard(prepared.run.path, prepared.info.spec, first_epoch)
