"""Training of compiled specs: ``archc train SPEC --data fashion-mnist``.

The framework-free parts (configuration, data readers, learning-rate schedules, run folders, plots) import neither
torch nor tensorflow; the loops (``torch_loop`` and its ``torch_*`` parts, ``keras_fit``) and ``checkpoint`` import
their framework and are only imported by the ``train`` command. See docs/training.md.
"""

from archc.train.config import TrainConfig
from archc.train.errors import TrainError
from archc.train.runner import TrainResult, run

__all__ = ["TrainConfig", "TrainError", "TrainResult", "run"]
