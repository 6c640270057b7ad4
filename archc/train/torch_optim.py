"""Optimizer and loss of the torch loop (the learning-rate schedule itself is framework-free:
archc.train.schedule)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from archc.train.config import TrainConfig


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


def make_optimizer(cfg: TrainConfig, model: nn.Module, fused: bool = False) -> torch.optim.Optimizer:
    """``fused``: torch's single-kernel implementation (archc/train/torch_fast.py turns it on for CUDA)."""
    groups = parameter_groups(model, cfg.weight_decay)
    kind = {"fused": True} if fused else {}
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.base_lr, momentum=cfg.momentum, nesterov=cfg.nesterov, **kind)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.base_lr, **kind)
    return torch.optim.AdamW(groups, lr=cfg.base_lr, **kind)


def make_criterion(cfg: TrainConfig, outputs_probabilities: bool) -> Callable[[torch.Tensor, torch.Tensor], Any]:
    """Cross-entropy with label smoothing; a spec that ends in softmax gets it on log-probabilities."""
    def criterion(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = output.float()
        if outputs_probabilities:
            logits = torch.log(logits.clamp_min(1e-12))
        return F.cross_entropy(logits, target, label_smoothing=cfg.label_smoothing)

    return criterion


def make_ema(model: nn.Module, decay: float) -> torch.optim.swa_utils.AveragedModel:
    """An exponential moving average of the weights and buffers (BatchNorm statistics), updated after every
    optimizer step: ``ema = decay * ema + (1 - decay) * weights``, as timm's ModelEmaV3 (``--model-ema``)."""
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
