"""A rich progress bar per epoch (loss, accuracy, images/s, ETA) and one summary line per epoch."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class EpochProgress:
    """``start(epoch, steps)``, ``update(step, loss, acc, images_per_s)``, ``finish(row)``; silent when disabled."""

    def __init__(self, console: Console | None, enabled: bool = True):
        self.console = console
        self.enabled = enabled and console is not None
        self._progress: Progress | None = None
        self._task: Any = None

    def start(self, epoch: int, epochs: int, steps: int, done: int = 0) -> None:
        if not self.enabled:
            return
        self._progress = Progress(
            TextColumn(f"epoch {epoch}/{epochs}"), BarColumn(bar_width=30), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}  acc {task.fields[acc]}  {task.fields[ips]} img/s"),
            TextColumn("ETA"), TimeRemainingColumn(), TimeElapsedColumn(),
            console=self.console, transient=True, refresh_per_second=4)
        self._progress.start()
        self._task = self._progress.add_task("train", total=steps, completed=done, loss="-", acc="-", ips="-")

    def update(self, step: int, loss: float, acc: float, images_per_s: float) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=step, loss=f"{loss:.4f}", acc=f"{acc:.4f}",
                                  ips=f"{images_per_s:,.0f}")

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def finish(self, row: dict[str, Any]) -> None:
        self.stop()
        if self.console is not None:
            self.console.print(format_row(row), highlight=False)


def format_row(row: dict[str, Any]) -> str:
    """``epoch 3/10  train loss 0.4123 acc 0.8510  test loss 0.3920 acc 0.8601  lr 0.0500  2,345 img/s  12.3s``."""
    def number(key: str, digits: int = 4) -> str:
        value = row.get(key)
        return "-" if value is None else f"{value:.{digits}f}"

    return (f"epoch {row['epoch']}/{row.get('epochs', '?')}  train loss {number('train_loss')} acc "
            f"{number('train_acc')}  test loss {number('test_loss')} acc {number('test_acc')}  "
            f"lr {row.get('lr', 0):.4g}  {row.get('images_per_s', 0):,.0f} img/s  {row.get('epoch_time_s', 0):.1f}s")
