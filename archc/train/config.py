"""The training configuration: one dataclass, written to ``config.json`` of every run and read back by ``--resume``."""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archc.train.errors import TrainError

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine", "onecycle")
PRECISIONS = ("auto", "fp32", "bf16")
BACKENDS = ("torch", "keras")

#: options that may differ on --resume (they change where or how long it runs, not what is computed)
RESUMABLE_CHANGES = ("epochs", "device", "data_dir", "workers", "progress", "threads", "checkpoint_every",
                     "param_limit", "activation_limit")


@dataclass
class TrainConfig:
    """Everything that decides a training run. ``lr=None`` means the optimizer's default (SGD 0.1, Adam(W) 1e-3)."""

    spec: str = ""
    overrides: list[str] = field(default_factory=list)
    backend: str = "torch"
    data: str = "fashion-mnist"
    data_dir: str | None = None
    subset: int | None = None
    test_subset: int | None = None
    epochs: int = 10
    batch_size: int = 128
    eval_batch_size: int | None = None
    optimizer: str = "sgd"
    lr: float | None = None
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    step_size: int = 30
    gamma: float = 0.1
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    random_crop: int = 0
    hflip: bool = False
    precision: str = "auto"
    channels_last: bool | None = None  # None: automatic, on for CUDA (archc/train/torch_fast.py)
    compile: bool | None = None  # None: automatic (torch: on for CUDA; keras: XLA on GPUs)
    fused_optimizer: bool | None = None  # None: automatic, on for CUDA
    memory_efficient: bool = False  # torch: recompute BN + ReLU in backward (backends/torch/memory.py)
    sync_bn: bool = False
    device: str | None = None
    seed: int = 0
    workers: int | None = None
    threads: int | None = None
    checkpoint_every: int = 0
    progress: bool = True
    init_from: str | None = None
    freeze: list[str] = field(default_factory=list)
    grad_clip: float | None = None
    ema: float | None = None
    out: str = "runs"
    name: str | None = None
    # --max-params / --max-activation-bytes: the limits checked before the model is built (archc/passes/limits.py)
    param_limit: int | None = None
    activation_limit: int | None = None

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raise TrainError for values that cannot work together."""
        self._check_numbers()
        choices = {"backend": BACKENDS, "optimizer": OPTIMIZERS, "schedule": SCHEDULES, "precision": PRECISIONS}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise TrainError(f"--{name.replace('_', '-')} must be one of {', '.join(allowed)}, "
                                 f"got {getattr(self, name)!r}")
        positive = ["epochs", "batch_size", "eval_batch_size", "subset", "test_subset", "step_size"]
        for name in positive:
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise TrainError(f"--{name.replace('_', '-')} must be positive, got {value}")
        if self.lr is not None and self.lr <= 0:
            raise TrainError(f"--lr must be positive, got {self.lr}")
        if not 0.0 <= self.momentum < 1.0:
            raise TrainError(f"--momentum must be in [0, 1), got {self.momentum}")
        if self.gamma <= 0:
            raise TrainError(f"--gamma must be positive, got {self.gamma}")
        for name in ("threads", "workers", "seed"):
            value = getattr(self, name)
            if value is not None and (value < 0 or name == "threads" and value == 0):
                raise TrainError(f"--{name} must be {'positive' if name == 'threads' else '>= 0'}, got {value}")
        check_run_name(self.name)
        if self.backend == "keras" and self.checkpoint_every:
            raise TrainError("--checkpoint-every is not available with --backend keras: Keras checkpoints at the "
                             "end of every epoch (docs/training.md)")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise TrainError(f"--label-smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.warmup_epochs < 0 or self.random_crop < 0 or self.weight_decay < 0 or self.checkpoint_every < 0:
            raise TrainError("--warmup-epochs, --random-crop, --weight-decay and --checkpoint-every must be >= 0")
        if self.schedule == "onecycle" and self.warmup_epochs:
            raise TrainError("--schedule onecycle has its own warm-up (the first 30% of steps); drop --warmup-epochs")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise TrainError(f"--grad-clip must be a positive gradient norm, got {self.grad_clip}")
        if self.ema is not None and not 0.0 < self.ema < 1.0:
            raise TrainError(f"--ema DECAY must be in (0, 1), got {self.ema} (timm's default: 0.9998)")
        if self.memory_efficient and self.backend != "torch":
            raise TrainError("--memory-efficient is for the torch backend (its dense blocks recompute in backward)")
        if self.warmup_epochs >= self.epochs:
            raise TrainError(f"--warmup-epochs ({self.warmup_epochs}) must be smaller than --epochs ({self.epochs})")

    def _check_numbers(self) -> None:
        """Every option of the right type, and every float finite (``--lr nan`` would train to NaN silently)."""
        for spec in dataclasses.fields(self):
            value = getattr(self, spec.name)
            kind = _KINDS.get(spec.name)
            if value is None or kind is None:
                continue
            if isinstance(value, bool) and kind is not bool or not isinstance(value, _ACCEPTS[kind]):
                raise TrainError(f"--{spec.name.replace('_', '-')} must be {_NAMES[kind]}, got {value!r}")
            if kind is float and not math.isfinite(value):
                raise TrainError(f"--{spec.name.replace('_', '-')} must be a finite number, got {value}")

    @property
    def base_lr(self) -> float:
        if self.lr is not None:
            return self.lr
        return 0.1 if self.optimizer == "sgd" else 1e-3

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TrainError(f"unknown training options in the run's config.json: {', '.join(unknown)}")
        return cls(**data)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)


_KINDS = {"epochs": int, "batch_size": int, "eval_batch_size": int, "subset": int, "test_subset": int,
          "step_size": int, "random_crop": int, "seed": int, "workers": int, "threads": int, "checkpoint_every": int,
          "lr": float, "momentum": float, "weight_decay": float, "gamma": float, "warmup_epochs": float,
          "label_smoothing": float, "nesterov": bool, "hflip": bool, "channels_last": bool, "compile": bool,
          "sync_bn": bool, "progress": bool, "param_limit": int, "activation_limit": int}
_ACCEPTS = {int: (numbers.Integral,), float: (numbers.Real,), bool: (bool,)}  # numpy scalars too (sweeps)
_NAMES = {int: "a whole number", float: "a number", bool: "true or false"}


def check_run_name(name: str | None) -> None:
    """--name is one folder name: a run cannot be placed outside --out (``../x``, ``/tmp/x``, ``a/b``)."""
    if name is None:
        return
    if not isinstance(name, str) or name in ("", ".", "..") or any(c in name for c in "/\\\0") or \
            Path(name).is_absolute() or Path(name).name != name:
        raise TrainError(f"--name {name!r}: a run name is one folder name (no '/', '\\', '..'); "
                         "choose the parent folder with --out")


def option_names() -> list[str]:
    """The dataclass fields, in order (the CLI maps each to a ``--flag``)."""
    return [f.name for f in dataclasses.fields(TrainConfig)]
