"""The run folder ``runs/<name>-<timestamp>/``: spec.yaml, config.json, metrics.jsonl, curves.png, checkpoints/.

Every file is replaced atomically (temporary file in the same folder, fsync, ``os.replace``), so a run killed at any
moment leaves each file either old or new, never torn. metrics.jsonl is appended one line per epoch; on resume it is
rewritten from the checkpoint's history, which drops lines of epochs the checkpoint does not hold.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import yaml

from archc.train.errors import TrainError

SPEC_FILE = "spec.yaml"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
CURVES_FILE = "curves.png"
CHECKPOINT_DIR = "checkpoints"


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where directories cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success fsync it and rename it over ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")  # keeps the suffix: keras insists
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write(path: Path, write: Callable[[IO[bytes]], Any]) -> None:
    """Write ``path`` through ``write(handle)`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        write(handle)
        handle.flush()


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


LOCK_FILE = ".lock"


class RunDir:
    """A run folder. Only the process that writes (rank 0) makes one, and holds its lock while it trains."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock: IO[str] | None = None

    def lock(self) -> None:
        """Hold ``.lock`` (an exclusive ``flock``, released when the process ends, even by a kill): a second
        process resuming the same run gets a clear error instead of writing the same epochs twice."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no locking
            return
        handle = open(self.path / LOCK_FILE, "a+", encoding="utf-8")  # noqa: SIM115 - held until the process ends
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            raise TrainError(f"{self.path} is in use by another `archc train` (process {holder}); wait for it to "
                             "finish or stop it, then --resume") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock = handle

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file releases the flock
            self._lock = None

    # -------------------------------------------------------------------------------------------------- creating
    @classmethod
    def create(cls, root: str | Path, name: str) -> RunDir:
        """``root/<name>-<YYYYmmdd-HHMMSS>`` (with ``-2``, ``-3``... when that exists)."""
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for attempt in range(1, 1000):
            path = root / (f"{name}-{stamp}" if attempt == 1 else f"{name}-{stamp}-{attempt}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            (path / CHECKPOINT_DIR).mkdir()
            return cls(path)
        raise TrainError(f"cannot make a run folder under {root}")

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        """An existing run folder (for --resume); TrainError if it is not one."""
        run = cls(Path(path))
        if not run.path.is_dir():
            raise TrainError(f"--resume {path}: no such run folder")
        for needed in (CONFIG_FILE, SPEC_FILE):
            if not (run.path / needed).is_file():
                raise TrainError(f"--resume {path}: not a run folder of `archc train` (no {needed})")
        (run.path / CHECKPOINT_DIR).mkdir(exist_ok=True)
        for stale in [*run.path.glob(".*.tmp-*"), *run.checkpoints.glob(".*.tmp-*")]:
            stale.unlink()  # left by a process killed while writing; the file it was to replace is intact
        return run

    # ---------------------------------------------------------------------------------------------------- files
    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINT_DIR

    def checkpoint(self, which: str, suffix: str) -> Path:
        return self.checkpoints / f"{which}{suffix}"

    def write_spec(self, data: dict[str, Any]) -> None:
        atomic_write_text(self.path / SPEC_FILE, yaml.safe_dump(data, sort_keys=False, width=120))

    def read_spec(self) -> dict[str, Any]:
        """The run's resolved spec; TrainError naming the file when it is not readable YAML of a mapping."""
        path = self.path / SPEC_FILE
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            cause = getattr(exc, "problem", None) or type(exc).__name__
            raise TrainError(f"{path}: not a spec written by `archc train` (cannot read it as YAML: {cause})") from None
        if not isinstance(data, dict):
            raise TrainError(f"{path}: not a spec written by `archc train` (not a mapping)")
        return data

    def write_config(self, data: dict[str, Any]) -> None:
        atomic_write_text(self.path / CONFIG_FILE, json.dumps(data, indent=1, default=str) + "\n")

    def read_config(self) -> dict[str, Any]:
        path = self.path / CONFIG_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise TrainError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(data, dict) or not isinstance(data.get("train"), dict):
            raise TrainError(f"{path}: not a config.json of `archc train` (no \"train\" options)")
        return data

    def append_metrics(self, row: dict[str, Any]) -> None:
        """One JSON line per epoch, flushed and fsynced."""
        with open(self.path / METRICS_FILE, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def rewrite_metrics(self, rows: list[dict[str, Any]]) -> None:
        atomic_write_text(self.path / METRICS_FILE, "".join(json.dumps(row) + "\n" for row in rows))

    def read_metrics(self) -> list[dict[str, Any]]:
        return read_metrics(self.path / METRICS_FILE)

    def write_curves(self, rows: list[dict[str, Any]], title: str) -> None:
        from archc.train.plots import plot_curves

        with atomic_path(self.path / CURVES_FILE) as tmp:
            plot_curves(rows, tmp, title)


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The rows of a metrics.jsonl; a torn last line (a run killed mid-write) is skipped."""
    if not Path(path).is_file():
        return []
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            rows.append(json.loads(line))
    return rows
