"""The exceptions of the training package: a mistake the user can fix (exit status 2, no traceback), and a run
stopped by Ctrl-C after its checkpoint was written (exit status 130)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


class TrainError(Exception):
    """A training setup that cannot work: data that does not fit the spec, a checkpoint of another spec, ..."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) stopped training at a step boundary; ``run_dir`` holds a checkpoint to --resume from.

    A KeyboardInterrupt, so that callers that handle Ctrl-C (``archc sweep`` marks the trial to resume) still do.
    """

    def __init__(self, message: str, run_dir: Path | None):
        super().__init__(message)
        self.run_dir = run_dir

    def resume_command(self) -> str:
        return f"archc train --resume {self.run_dir}"


@contextmanager
def interrupt_requests(request: Callable[[], None]) -> Iterator[None]:
    """While the block runs, the first Ctrl-C calls ``request()`` (the loop then checkpoints at the end of the step
    and stops); a second one stops at once. Outside the main thread signals cannot be caught: nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pressed = []

    def handler(signum: int, frame: object) -> None:
        if pressed:
            raise KeyboardInterrupt
        pressed.append(signum)
        request()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
