"""Training of compiled specs: ``archc train SPEC --data fashion-mnist``.

The framework-free parts (configuration, data readers, learning-rate schedules, run folders, plots) import neither
torch nor tensorflow; the loops (``torch_loop`` and its ``torch_*`` parts, ``keras_fit``) and ``checkpoint`` import
their framework and are only imported by the ``train`` command. See docs/training.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# imported on first use: ``archc.train.errors`` (which the CLI imports) must not pull in the data readers and numpy
_EXPORTS = {"TrainConfig": "archc.train.config", "TrainError": "archc.train.errors",
            "TrainResult": "archc.train.runner", "run": "archc.train.runner"}

__all__ = ["TrainConfig", "TrainError", "TrainResult", "run"]

if TYPE_CHECKING:
    from archc.train.config import TrainConfig
    from archc.train.errors import TrainError
    from archc.train.runner import TrainResult, run


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'archc.train' has no attribute '{name}'")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
