"""Learning rate as a pure function of the optimizer step, shared by the torch and the Keras loops.

``constant``, ``step`` (times ``gamma`` every ``step_size`` epochs) and ``cosine`` (to 0 at the last step) start
after a linear warm-up of ``warmup_epochs``; ``onecycle`` is Smith's one-cycle policy as torch's OneCycleLR
computes it (cosine up from lr/25 to lr over the first 30% of steps, cosine down to lr/25e4), without momentum
cycling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    name: str
    base_lr: float
    steps_per_epoch: int
    epochs: int
    warmup_epochs: float = 0.0
    step_size: int = 30
    gamma: float = 0.1

    @property
    def total_steps(self) -> int:
        return max(1, self.steps_per_epoch * self.epochs)

    def factor(self, step: int) -> float:
        """The multiplier of ``base_lr`` for optimizer step ``step`` (0-based)."""
        if self.name == "onecycle":
            return _onecycle(step, self.total_steps)
        warmup = round(self.warmup_epochs * self.steps_per_epoch)
        if step < warmup:
            return (step + 1) / (warmup + 1)
        if self.name == "constant":
            return 1.0
        if self.name == "step":
            return self.gamma ** (step // max(1, self.steps_per_epoch * self.step_size))
        if self.name == "cosine":
            span = max(1, self.total_steps - warmup)
            progress = min(1.0, (step - warmup) / span)
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        raise ValueError(f"unknown schedule {self.name!r}")

    def lr(self, step: int) -> float:
        return self.base_lr * self.factor(step)


def _onecycle(step: int, total: int, pct_start: float = 0.3, div_factor: float = 25.0,
              final_div_factor: float = 1e4) -> float:
    peak = pct_start * total - 1
    start, end = 1.0 / div_factor, 1.0 / (div_factor * final_div_factor)
    if step <= peak:
        return _cos_between(start, 1.0, step / max(peak, 1e-9))
    return _cos_between(1.0, end, min(1.0, (step - peak) / max(total - 1 - peak, 1e-9)))


def _cos_between(start: float, end: float, progress: float) -> float:
    return end + (start - end) / 2.0 * (math.cos(math.pi * progress) + 1)
