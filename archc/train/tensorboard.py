"""TensorBoard event files of a run, in ``RUN_DIR/tensorboard/`` (``tensorboard --logdir runs`` shows every run).

Both backends write the same scalars per epoch from the metrics row (metrics.jsonl stays the source of truth):
``loss/train``, ``loss/test``, ``accuracy/train``, ``accuracy/test``, ``lr``, ``images_per_s``, and EMA ones where
``--ema`` is on, with the epoch as the step; and the spec's summary as text (``spec``). Torch writes them with
``torch.utils.tensorboard.SummaryWriter``; Keras adds ``keras.callbacks.TensorBoard`` (its own ``epoch_*`` logs in
``train/`` and ``validation/``) and writes archc's scalars with ``tf.summary``. Without the tensorboard package a
run trains as before, with a note.
"""

from __future__ import annotations

import importlib.util
import io
import sys
import types
from pathlib import Path
from typing import Any

FOLDER = "tensorboard"
#: metrics.jsonl field -> TensorBoard tag
SCALARS = {"train_loss": "loss/train", "test_loss": "loss/test", "train_acc": "accuracy/train",
           "test_acc": "accuracy/test", "lr": "lr", "images_per_s": "images_per_s",
           "ema_test_loss": "loss/test_ema", "ema_test_acc": "accuracy/test_ema"}
MISSING = "no TensorBoard event files: the tensorboard package is not installed (pip install tensorboard)"


def available() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


def spec_text(spec: Any) -> str:
    """The spec's summary (totals and per-node rows) as preformatted Markdown, as TensorBoard shows text."""
    from rich.console import Console

    import archc
    from archc.report import print_summary

    console = Console(record=True, width=120, file=io.StringIO(), color_system=None)
    print_summary(archc.summarize(spec), console=console)
    return "\n".join("    " + line for line in console.export_text().splitlines())


def scalars(row: dict[str, Any]) -> dict[str, float]:
    return {tag: float(row[key]) for key, tag in SCALARS.items() if isinstance(row.get(key), (int, float))}


def without_tensorflow() -> None:
    """Let tensorboard use its TensorFlow stub in a torch process (its own //tensorboard/compat:no_tensorflow switch).

    Otherwise torch's SummaryWriter imports all of TensorFlow: seconds of start-up, and TensorFlow loaded before
    torch.compile's Triton crashes the process with this torch / TensorFlow pair.
    """
    if "tensorflow" not in sys.modules:
        sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))


class TorchBoard:
    """torch's SummaryWriter over the run's tensorboard/ folder; on resume it purges the steps being redone."""

    def __init__(self, run_path: Path, spec: Any, first_epoch: int = 0):
        without_tensorflow()
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(Path(run_path) / FOLDER), purge_step=first_epoch + 1 if first_epoch else None)
        if not first_epoch:
            self.writer.add_text("spec", spec_text(spec), 0)

    def epoch(self, row: dict[str, Any]) -> None:
        for tag, value in scalars(row).items():
            self.writer.add_scalar(tag, value, row["epoch"])
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def keras_callbacks(run_path: Path, spec: Any) -> tuple[Any, Any]:
    """Keras' own TensorBoard callback, and a tf.summary writer for archc's scalars and the spec text."""
    import keras
    import tensorflow as tf

    folder = Path(run_path) / FOLDER
    callback = keras.callbacks.TensorBoard(log_dir=str(folder), write_graph=False, update_freq="epoch")
    writer = tf.summary.create_file_writer(str(folder / "archc"))
    with writer.as_default():
        tf.summary.text("spec", spec_text(spec), step=0)
    writer.flush()
    return callback, writer


def keras_epoch(writer: Any, row: dict[str, Any]) -> None:
    import tensorflow as tf

    with writer.as_default():
        for tag, value in scalars(row).items():
            tf.summary.scalar(tag, value, step=row["epoch"])
    writer.flush()
