"""The torch trainer: bf16 autocast, channels-last, torch.compile, DDP, atomic checkpoints and exact resume.

Exactness: the sample order of an epoch is DistributedSampler's permutation of (seed, epoch), crops and flips are
drawn per (seed, epoch, step) for the whole global batch, and checkpoints hold every RNG state. So a run resumed
from any checkpoint continues as the uninterrupted run would have, and N DDP processes with a global batch B see the
same samples per step as one process with batch B (equal up to float rounding with --sync-bn or without BatchNorm).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from archc.train.checkpoint import capture_rng, check_model, load_checkpoint, restore_rng, save_checkpoint
from archc.train.config import TrainConfig
from archc.train.data import Adaptation, Dataset, augmentation_params
from archc.train.errors import TrainError, TrainingInterrupted
from archc.train.init_from import freeze_torch, hold_frozen_norms, init_torch
from archc.train.progress import EpochProgress
from archc.train.rundir import RunDir
from archc.train.schedule import Schedule
from archc.train.torch_data import Preprocess, Source, epoch_batches
from archc.train.torch_device import Environment, seed_everything
from archc.train.torch_fast import memory_efficient_model, resolve_speed
from archc.train.torch_optim import make_criterion, make_ema, make_optimizer


@dataclass
class Progress:
    """Where training stands: completed epochs, steps into the current epoch, and that epoch's running sums."""

    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    loss_sum: float = 0.0
    correct: float = 0.0
    seen: int = 0
    train_time: float = 0.0
    best_acc: float = -1.0
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ModelInfo:
    """What the loop needs to know of the compiled spec."""

    spec: Any
    input_shape: tuple[int, ...]
    num_outputs: int
    outputs_probabilities: bool
    build: Callable[[int], nn.Module]  # seed -> a fresh model
    graph: Any = None  # the IR (--init-from finds the classifier in it)


@dataclass
class DataInfo:
    dataset: Dataset
    adaptation: Adaptation
    mean: list[float]
    std: list[float]


class TorchTrainer:
    """Trains one model for ``cfg.epochs``; ``run`` is the run folder on the writing rank, None elsewhere."""

    def __init__(self, cfg: TrainConfig, model_info: ModelInfo, data: DataInfo, run: RunDir | None,
                 env: Environment, progress: EpochProgress, log: Callable[[str], None] = print,
                 init_from: str | None = None):
        self.cfg, self.info, self.data, self.run, self.env = cfg, model_info, data, run, env
        self.init_from = init_from  # weights to start from (a fresh run's --init-from; a resumed one has its own)
        self.progress_bar = progress
        self.log = log
        self.board: Any = None  # a TensorBoard writer on the writing rank (archc.train.tensorboard.TorchBoard)
        self.state = Progress()
        self.stop_requested = False  # set by Ctrl-C (errors.interrupt_requests): checkpoint and stop after a step
        if cfg.batch_size % env.world_size:
            raise TrainError(f"--batch-size {cfg.batch_size} (global) must divide evenly among "
                             f"{env.world_size} processes")
        self.steps_per_epoch = len(data.dataset.train) // cfg.batch_size
        if self.steps_per_epoch == 0:
            raise TrainError(f"the training split has {len(data.dataset.train)} samples, fewer than one batch of "
                             f"{cfg.batch_size}; lower --batch-size")
        self.device = env.device
        self.speed = resolve_speed(cfg, self.device)
        self.use_bf16 = self.speed.bf16
        self._build()

    # ------------------------------------------------------------------------------------------------ building
    def _build(self) -> None:
        cfg, env = self.cfg, self.env
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        seed_everything(cfg.seed)
        model = self.info.build(cfg.seed)
        if cfg.memory_efficient:
            model = memory_efficient_model(model, self.log)
        if cfg.sync_bn and env.distributed and self.device.type != "cuda":
            raise TrainError("--sync-bn needs CUDA devices (torch's SyncBatchNorm does not run on the CPU)")
        if cfg.sync_bn and env.distributed:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        model = model.to(self.device)
        if self.speed.channels_last:
            model = model.to(memory_format=torch.channels_last)
        if self.init_from:
            init_torch(model, self.info.graph, self.init_from, self.log)
        if cfg.freeze:
            freeze_torch(model, cfg.freeze, self.log)
        self.model = model  # the plain module: checkpoints and evaluation use it
        self.ema = make_ema(model, cfg.ema) if cfg.ema else None  # averaged beside the raw weights
        train_model: nn.Module = model
        if env.distributed:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            train_model = nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
        self.train_model: Callable[..., torch.Tensor] = torch.compile(train_model) if self.speed.compile \
            else train_model
        self.optimizer = make_optimizer(cfg, model, fused=self.speed.fused_optimizer)
        self.schedule = Schedule(cfg.schedule, cfg.base_lr, self.steps_per_epoch, cfg.epochs, cfg.warmup_epochs,
                                 cfg.step_size, cfg.gamma)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self.schedule.factor)
        self.criterion = make_criterion(cfg, self.info.outputs_probabilities)
        self.preprocess = Preprocess(self.data.mean, self.data.std, self.data.adaptation, self.device,
                                     self.speed.channels_last)
        workers = cfg.workers if cfg.workers is not None else min(4, os.cpu_count() or 1)
        self.train_source = Source(self.data.dataset.train, self.device, workers)
        self.test_source = Source(self.data.dataset.test, self.device, workers)
        seed_everything(cfg.seed + env.rank)  # dropout etc. differ per rank; the initial weights do not

    # -------------------------------------------------------------------------------------------- checkpoints
    def checkpoint_state(self) -> dict[str, Any]:
        return {
            "spec_digest": self.info.spec.digest(), "spec": self.info.spec.to_data(),
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "progress": self.state.to_dict(),
            "config": self.cfg.to_dict(), "rng": capture_rng(), "world_size": self.env.world_size,
            **({"ema": self.ema.state_dict()} if self.ema is not None else {}),
        }

    def save(self, which: str = "last") -> None:
        if self.run is not None:
            save_checkpoint(self.run.checkpoint(which, ".pt"), self.checkpoint_state())

    def resume(self, path: Any) -> None:
        """Load a checkpoint of this spec: weights, optimizer, scheduler, progress and RNG states."""
        state = load_checkpoint(path)
        check_model(state, str(path), self.info.spec, self.model)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.ema is not None and "ema" in state:
            self.ema.load_state_dict(state["ema"])
        self.state = Progress(**state["progress"])
        if state.get("world_size", 1) == self.env.world_size:
            restore_rng(state["rng"])
        if self.run is not None:
            self.run.rewrite_metrics(self.state.history)  # drops rows of epochs the checkpoint does not hold

    # ------------------------------------------------------------------------------------------------ training
    def fit(self) -> list[dict[str, Any]]:
        """Train from the current state to ``cfg.epochs``; returns the metrics history."""
        while self.state.epoch < self.cfg.epochs:
            self.train_epoch()
            if self.stop_requested and self.state.epoch < self.cfg.epochs:
                self._stop()  # the epoch's checkpoint is written
        return self.state.history

    def _stop(self) -> None:
        state = self.state
        where = f"{state.epoch} epoch(s)" + (f" and {state.step_in_epoch} step(s)" if state.step_in_epoch else "")
        raise TrainingInterrupted(f"interrupted after {where}; the checkpoint {self.run.checkpoint('last', '.pt')} "
                                  "holds it" if self.run else f"interrupted after {where}",
                                  self.run.path if self.run else None)

    def train_epoch(self) -> dict[str, Any]:
        """One epoch (or the rest of it): train, evaluate, record; returns its metrics row."""
        self._train_epoch()
        row = self._finish_epoch()
        self.progress_bar.finish(row)
        return row

    def _augment(self, epoch: int, step: int, count: int) -> tuple[torch.Tensor, ...] | None:
        cfg = self.cfg
        if not (cfg.random_crop or cfg.hflip):
            return None
        world = self.env.world_size
        top, left, flips = augmentation_params(cfg.seed, epoch, step, count * world, cfg.random_crop, cfg.hflip)
        rank = slice(self.env.rank, None, world)  # this rank's images of the global batch
        return tuple(torch.from_numpy(np.ascontiguousarray(a[rank])).to(self.device) for a in (top, left, flips))

    def _train_epoch(self) -> None:
        cfg, state = self.cfg, self.state
        epoch = state.epoch
        batches = epoch_batches(len(self.train_source), cfg.batch_size, epoch, cfg.seed, self.env)
        start = state.step_in_epoch
        self._train_mode()
        self.progress_bar.start(epoch + 1, cfg.epochs, len(batches), start)
        loss_sum = torch.zeros((), device=self.device, dtype=torch.float64)
        correct = torch.zeros((), device=self.device, dtype=torch.float64)
        seen, shown_seen = 0, 0
        began = last_shown = time.perf_counter()
        for step, (x, y) in enumerate(self.train_source.batches(batches[start:]), start=start):
            x = self.preprocess(x, cfg.random_crop, self._augment(epoch, step, len(y)))
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.use_bf16):
                output = self.train_model(x)
            loss = self.criterion(output, y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            self.optimizer.step()
            self.scheduler.step()
            if self.ema is not None:
                self.ema.update_parameters(self.model)
            loss_sum += loss.detach() * len(y)
            correct += (output.detach().argmax(1) == y).sum()
            seen += len(y)
            state.global_step += 1
            now = time.perf_counter()
            if self.progress_bar.enabled and now - last_shown > 0.25:
                total_seen = state.seen + seen
                rate = (seen - shown_seen) * self.env.world_size / (now - last_shown)
                self.progress_bar.update(step + 1, (state.loss_sum + loss_sum.item()) / total_seen,
                                         (state.correct + correct.item()) / total_seen, rate)
                last_shown, shown_seen = now, seen
            interrupted = self.stop_requested and step + 1 < len(batches)  # on the last step: finish the epoch
            if interrupted or cfg.checkpoint_every and state.global_step % cfg.checkpoint_every == 0 and \
                    step + 1 < len(batches):
                self._accumulate(step + 1, loss_sum, correct, seen, time.perf_counter() - began)
                loss_sum.zero_(), correct.zero_()
                seen, shown_seen, began = 0, 0, time.perf_counter()
                self.save("last")
                if interrupted:
                    self.progress_bar.stop()
                    self._stop()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self._accumulate(0, loss_sum, correct, seen, time.perf_counter() - began)

    def _accumulate(self, step_in_epoch: int, loss_sum: torch.Tensor, correct: torch.Tensor, seen: int,
                    seconds: float) -> None:
        state = self.state
        state.step_in_epoch = step_in_epoch
        state.loss_sum += float(loss_sum.item())
        state.correct += float(correct.item())
        state.seen += seen
        state.train_time += seconds

    def _finish_epoch(self) -> dict[str, Any]:
        """Reduce the epoch's sums over ranks, evaluate, write metrics, curves and checkpoints (rank 0)."""
        state = self.state
        totals = self._all_reduce([state.loss_sum, state.correct, float(state.seen)])
        test_loss, test_acc = self.evaluate()
        images = totals[2]
        row = {
            "epoch": state.epoch + 1, "epochs": self.cfg.epochs, "step": state.global_step,
            "train_loss": totals[0] / max(images, 1), "train_acc": totals[1] / max(images, 1),
            "test_loss": test_loss, "test_acc": test_acc,
            # the lr of the epoch's last step, as in Keras (the optimizer already holds the next step's)
            "lr": self.schedule.lr(max(state.global_step - 1, 0)), "images_per_s": images / max(state.train_time, 1e-9),
            "epoch_time_s": state.train_time, "time": time.time(),
        }
        if self.ema is not None:
            row["ema_test_loss"], row["ema_test_acc"] = self.evaluate(self.ema.module)
        state.history.append(row)
        state.epoch += 1
        state.step_in_epoch, state.loss_sum, state.correct, state.seen, state.train_time = 0, 0.0, 0.0, 0, 0.0
        improved = test_acc > state.best_acc
        state.best_acc = max(state.best_acc, test_acc)
        if self.run is not None:
            self.save("last")
            if improved:
                self.save("best")
            self.run.append_metrics(row)
            if self.board is not None:
                self.board.epoch(row)
            self.run.write_curves(state.history, f"{self.info.spec.name} on {self.data.dataset.name}")
        finite_or_error(row["train_loss"], f"the training loss of epoch {row['epoch']}")
        return row

    def _all_reduce(self, values: list[float]) -> list[float]:
        if not self.env.distributed:
            return values
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(tensor)
        return tensor.tolist()

    def _train_mode(self) -> None:
        self.model.train()
        if self.cfg.freeze:
            hold_frozen_norms(self.model)

    @torch.no_grad()
    def evaluate(self, model: nn.Module | None = None) -> tuple[float, float]:
        """Loss and accuracy of the model (or ``model``: the EMA weights) on the whole held-out split (each rank
        takes every world_size-th sample)."""
        model = model if model is not None else self.model
        model.eval()
        size = len(self.test_source)
        mine = list(range(self.env.rank, size, self.env.world_size))
        batch = self.cfg.eval_batch_size or 2 * self.cfg.batch_size
        loss_sum = torch.zeros((), device=self.device, dtype=torch.float64)
        correct = torch.zeros((), device=self.device, dtype=torch.float64)
        for x, y in self.test_source.batches([mine[i:i + batch] for i in range(0, len(mine), batch)]):
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.use_bf16):
                output = model(self.preprocess(x))
            loss_sum += F.cross_entropy(self._logits(output), y, reduction="sum")
            correct += (output.argmax(1) == y).sum()
        self._train_mode()
        loss, hits = self._all_reduce([float(loss_sum.item()), float(correct.item())])
        return loss / max(size, 1), hits / max(size, 1)

    def _logits(self, output: torch.Tensor) -> torch.Tensor:
        output = output.float()
        return torch.log(output.clamp_min(1e-12)) if self.info.outputs_probabilities else output


def finite_or_error(value: float, what: str) -> float:
    if not math.isfinite(value):
        raise TrainError(f"{what} is {value}: training diverged (lower --lr or add --warmup-epochs)")
    return value
