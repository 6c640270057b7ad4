"""The torch training loop: best device, DDP under torchrun, bf16 autocast, channels-last, torch.compile, atomic
checkpoints and exact resume.

Exactness: the sample order of an epoch is DistributedSampler's permutation of (seed, epoch), crops and flips are
drawn per (seed, epoch, step) for the whole global batch, and checkpoints hold every RNG state. So a run resumed
from any checkpoint continues as the uninterrupted run would have, and N DDP processes with a global batch B see the
same samples per step as one process with batch B (equal up to float rounding with --sync-bn or without BatchNorm).
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from archc.train.checkpoint import capture_rng, check_model, load_checkpoint, restore_rng, save_checkpoint
from archc.train.config import TrainConfig
from archc.train.data import Adaptation, Dataset, FolderSplit, augmentation_params
from archc.train.errors import TrainError
from archc.train.progress import EpochProgress
from archc.train.rundir import RunDir
from archc.train.schedule import Schedule

DEVICE_DATA_LIMIT = 2 << 30  # in-memory datasets up to 2 GiB are copied to the accelerator once


# ------------------------------------------------------------------------------------------------ device and ranks


@dataclass
class Environment:
    """Where this process runs: its device, and its place among DDP processes (rank 0 writes)."""

    device: torch.device
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_writer(self) -> bool:
        return self.rank == 0


def best_device() -> torch.device:
    """CUDA, then Apple MPS, then the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_device(name: str | None, local_rank: int = 0) -> torch.device:
    """``--device`` (cpu, cuda, cuda:1, mps) or the best one present; TrainError for one that is not there."""
    if not name:
        device = best_device()
    else:
        try:
            device = torch.device(name)
        except RuntimeError:
            raise TrainError(f"--device {name}: not a device name (cpu, cuda, cuda:1, mps)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise TrainError(f"--device {name}: CUDA is not available here")
        index = device.index if device.index is not None else local_rank
        if index >= torch.cuda.device_count():
            raise TrainError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s)")
        device = torch.device("cuda", index)
        torch.cuda.set_device(device)
    elif device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise TrainError(f"--device {name}: MPS is not available here")
    return device


def setup_environment(device_name: str | None) -> Environment:
    """Join the torchrun process group when WORLD_SIZE > 1 (nccl on CUDA, gloo otherwise)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    if world_size > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        torch.distributed.init_process_group(backend=backend, device_id=device if device.type == "cuda" else None)
    return Environment(device, rank, world_size, local_rank)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# ---------------------------------------------------------------------------------------------------------- data


class Preprocess:
    """uint8 batch on the device -> crops/flips -> float, normalized -> resized / channel-repeated / flattened."""

    def __init__(self, mean: list[float], std: list[float], adaptation: Adaptation, device: torch.device,
                 channels_last: bool):
        self.mean = torch.tensor(mean, device=device).view(1, -1, 1, 1) * 255.0
        self.inv_std = 1.0 / (torch.tensor(std, device=device).view(1, -1, 1, 1) * 255.0)
        self.adaptation = adaptation
        self.channels_last = channels_last

    def __call__(self, x: torch.Tensor, crop: int = 0, augment: tuple[torch.Tensor, ...] | None = None) -> torch.Tensor:
        if augment is not None:
            x = augment_batch(x, *augment, pad=crop)
        x = (x.float() - self.mean) * self.inv_std
        adaptation = self.adaptation
        if adaptation.resize is not None:
            downscale = adaptation.resize[0] < x.shape[2] or adaptation.resize[1] < x.shape[3]
            x = F.interpolate(x, size=adaptation.resize, mode="bilinear", align_corners=False, antialias=downscale)
        if adaptation.repeat_channels > 1:
            x = x.expand(-1, adaptation.repeat_channels, -1, -1)
        if adaptation.flatten:
            return x.reshape(len(x), -1)
        if self.channels_last:
            return x.contiguous(memory_format=torch.channels_last)
        return x.contiguous()


def augment_batch(x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, flips: torch.Tensor,
                  pad: int) -> torch.Tensor:
    """Per-image random crop after zero padding, and horizontal flips, vectorized on the device (uint8)."""
    if pad:
        n, channels, height, width = x.shape
        padded = F.pad(x, (pad, pad, pad, pad))
        rows = (top[:, None] + torch.arange(height, device=x.device))[:, None, :, None]
        cols = (left[:, None] + torch.arange(width, device=x.device))[:, None, None, :]
        x = padded[torch.arange(n, device=x.device)[:, None, None, None],
                   torch.arange(channels, device=x.device)[None, :, None, None], rows, cols]
    return torch.where(flips[:, None, None, None], x.flip(-1), x)


class _BatchFetch(torch.utils.data.Dataset):
    """A map-style dataset whose items are whole batches (a list of indices in, (x, y) tensors out)."""

    def __init__(self, split: Any):
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.split.batch(np.asarray(indices))
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)


class Source:
    """One split as batches on the device: in-memory arrays indexed in place (on the accelerator when they fit);
    image folders decoded by DataLoader workers."""

    def __init__(self, split: Any, device: torch.device, workers: int):
        self.split = split
        self.device = device
        self.workers = workers
        self.x: torch.Tensor | None = None
        self.y: torch.Tensor | None = None
        if not isinstance(split, FolderSplit):
            x = split.pool if hasattr(split, "pool") else split.x
            on_device = device.type != "cpu" and x.nbytes <= DEVICE_DATA_LIMIT
            self.x = torch.from_numpy(np.ascontiguousarray(x)).to(device if on_device else "cpu")
            self.y = torch.from_numpy(split.labels()).to(device if on_device else "cpu")

    def __len__(self) -> int:
        return len(self.split)

    def batches(self, index_batches: list[list[int]]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.x is None:
            yield from self._folder_batches(index_batches)
            return
        assert self.y is not None
        pool = len(self.x)
        for indices in index_batches:
            index = torch.as_tensor(indices, device=self.x.device)
            x, y = self.x[index % pool if pool != len(self.y) else index], self.y[index]
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def _folder_batches(self, index_batches: list[list[int]]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        loader = torch.utils.data.DataLoader(_BatchFetch(self.split), batch_size=None, sampler=index_batches,
                                             num_workers=self.workers, pin_memory=self.device.type == "cuda")
        for x, y in loader:
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)


def epoch_batches(size: int, global_batch: int, epoch: int, seed: int, env: Environment) -> list[list[int]]:
    """This rank's index batches of one epoch: DistributedSampler order, incomplete last batch dropped."""
    sampler = torch.utils.data.DistributedSampler(range(size), num_replicas=env.world_size, rank=env.rank,
                                                  shuffle=True, seed=seed, drop_last=True)
    sampler.set_epoch(epoch)
    indices = list(sampler)
    local = global_batch // env.world_size
    return [indices[i * local:(i + 1) * local] for i in range(len(indices) // local)]


# ------------------------------------------------------------------------------------------------ optimization


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on weights of convs and linears only: tensors with one dimension (biases, BatchNorm scales and
    shifts) get none, the usual practice since decaying them only fights normalization."""
    decay, no_decay = [], []
    for parameter in model.parameters():
        if parameter.requires_grad:
            (no_decay if parameter.ndim <= 1 else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def make_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    groups = parameter_groups(model, cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.base_lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.base_lr)
    return torch.optim.AdamW(groups, lr=cfg.base_lr)


def make_criterion(cfg: TrainConfig, outputs_probabilities: bool) -> Callable[[torch.Tensor, torch.Tensor], Any]:
    """Cross-entropy with label smoothing; a spec that ends in softmax gets it on log-probabilities."""
    def criterion(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = output.float()
        if outputs_probabilities:
            logits = torch.log(logits.clamp_min(1e-12))
        return F.cross_entropy(logits, target, label_smoothing=cfg.label_smoothing)

    return criterion


# -------------------------------------------------------------------------------------------------------- trainer


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


@dataclass
class DataInfo:
    dataset: Dataset
    adaptation: Adaptation
    mean: list[float]
    std: list[float]


class TorchTrainer:
    """Trains one model for ``cfg.epochs``; ``run`` is the run folder on the writing rank, None elsewhere."""

    def __init__(self, cfg: TrainConfig, model_info: ModelInfo, data: DataInfo, run: RunDir | None,
                 env: Environment, progress: EpochProgress, log: Callable[[str], None] = print):
        self.cfg, self.info, self.data, self.run, self.env = cfg, model_info, data, run, env
        self.progress_bar = progress
        self.log = log
        self.state = Progress()
        if cfg.batch_size % env.world_size:
            raise TrainError(f"--batch-size {cfg.batch_size} (global) must divide evenly among "
                             f"{env.world_size} processes")
        self.steps_per_epoch = len(data.dataset.train) // cfg.batch_size
        if self.steps_per_epoch == 0:
            raise TrainError(f"the training split has {len(data.dataset.train)} samples, fewer than one batch of "
                             f"{cfg.batch_size}; lower --batch-size")
        self.device = env.device
        self.use_bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and self.device.type == "cuda"
                                                    and torch.cuda.is_bf16_supported())
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
        if cfg.sync_bn and env.distributed and self.device.type != "cuda":
            raise TrainError("--sync-bn needs CUDA devices (torch's SyncBatchNorm does not run on the CPU)")
        if cfg.sync_bn and env.distributed:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        model = model.to(self.device)
        if cfg.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model  # the plain module: checkpoints and evaluation use it
        train_model: nn.Module = model
        if env.distributed:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            train_model = nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
        self.train_model: Callable[..., torch.Tensor] = torch.compile(train_model) if cfg.compile else train_model
        self.optimizer = make_optimizer(cfg, model)
        self.schedule = Schedule(cfg.schedule, cfg.base_lr, self.steps_per_epoch, cfg.epochs, cfg.warmup_epochs,
                                 cfg.step_size, cfg.gamma)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self.schedule.factor)
        self.criterion = make_criterion(cfg, self.info.outputs_probabilities)
        self.preprocess = Preprocess(self.data.mean, self.data.std, self.data.adaptation, self.device,
                                     cfg.channels_last)
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
        return self.state.history

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
        self.model.train()
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
            self.optimizer.step()
            self.scheduler.step()
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
            if cfg.checkpoint_every and state.global_step % cfg.checkpoint_every == 0 and step + 1 < len(batches):
                self._accumulate(step + 1, loss_sum, correct, seen, time.perf_counter() - began)
                loss_sum.zero_(), correct.zero_()
                seen, shown_seen, began = 0, 0, time.perf_counter()
                self.save("last")
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
            "lr": self.optimizer.param_groups[0]["lr"], "images_per_s": images / max(state.train_time, 1e-9),
            "epoch_time_s": state.train_time, "time": time.time(),
        }
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
            self.run.write_curves(state.history, f"{self.info.spec.name} on {self.data.dataset.name}")
        finite_or_error(row["train_loss"], f"the training loss of epoch {row['epoch']}")
        return row

    def _all_reduce(self, values: list[float]) -> list[float]:
        if not self.env.distributed:
            return values
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(tensor)
        return tensor.tolist()

    @torch.no_grad()
    def evaluate(self) -> tuple[float, float]:
        """Loss and accuracy on the whole held-out split (each rank takes every world_size-th sample)."""
        self.model.eval()
        size = len(self.test_source)
        mine = list(range(self.env.rank, size, self.env.world_size))
        batch = self.cfg.eval_batch_size or 2 * self.cfg.batch_size
        loss_sum = torch.zeros((), device=self.device, dtype=torch.float64)
        correct = torch.zeros((), device=self.device, dtype=torch.float64)
        for x, y in self.test_source.batches([mine[i:i + batch] for i in range(0, len(mine), batch)]):
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.use_bf16):
                output = self.model(self.preprocess(x))
            loss_sum += F.cross_entropy(self._logits(output), y, reduction="sum")
            correct += (output.argmax(1) == y).sum()
        self.model.train()
        loss, hits = self._all_reduce([float(loss_sum.item()), float(correct.item())])
        return loss / max(size, 1), hits / max(size, 1)

    def _logits(self, output: torch.Tensor) -> torch.Tensor:
        output = output.float()
        return torch.log(output.clamp_min(1e-12)) if self.info.outputs_probabilities else output


def finite_or_error(value: float, what: str) -> float:
    if not math.isfinite(value):
        raise TrainError(f"{what} is {value}: training diverged (lower --lr or add --warmup-epochs)")
    return value


# ------------------------------------------------------------------------------------------------------ entry point


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


def train_torch(prepared: Any, console: Any = None, model_factory: Callable[[int], nn.Module] | None = None) -> Any:
    """Run a prepared training (archc.train.runner.prepare) with torch; returns a TrainResult."""
    from archc.api import backend_module
    from archc.train.runner import TrainResult

    cfg = prepared.cfg
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    env = setup_environment(cfg.device)
    writer_console = console if env.is_writer else None
    log: Callable[[str], None] = (lambda text: writer_console.print(text, highlight=False)) if writer_console \
        else (lambda text: None)
    try:
        graph = prepared.info.graph
        build = model_factory or (lambda seed: backend_module("torch").build_model(graph, seed=seed))
        info = ModelInfo(prepared.info.spec, prepared.info.input_shape, prepared.info.num_outputs,
                         prepared.info.outputs_probabilities, build)
        data = DataInfo(prepared.dataset, prepared.adaptation, prepared.mean, prepared.std)
        progress = EpochProgress(writer_console, cfg.progress)
        trainer = TorchTrainer(cfg, info, data, prepared.run, env, progress, log)
        resumed = ""
        if prepared.resuming:
            checkpoint = prepared.resume_from / "checkpoints" / "last.pt"
            if checkpoint.is_file():
                trainer.resume(checkpoint)
                state = trainer.state
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
            history = trainer.fit()
        finally:
            progress.stop()
        return TrainResult(prepared.run.path if prepared.run else None, history)
    finally:
        if env.distributed and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def _log_setup(log: Callable[[str], None], prepared: Any, trainer: TorchTrainer, env: Environment) -> None:
    cfg, dataset = prepared.cfg, prepared.dataset
    extras = [p for p, on in (("bf16 autocast", trainer.use_bf16), ("channels-last", cfg.channels_last),
                              ("torch.compile", cfg.compile)) if on]
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
