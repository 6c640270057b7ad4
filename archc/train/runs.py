"""Reading finished runs, for ``archc eval / predict / export / runs / compare`` and ``archc.load(RUN_DIR)``.

Framework-free and read-only: opening a run here never creates, repairs or deletes anything in it (``RunDir.open``,
which --resume uses, does). metrics.jsonl is the source of truth for what a run recorded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archc.train.errors import TrainError
from archc.train.rundir import CHECKPOINT_DIR, CONFIG_FILE, METRICS_FILE, SPEC_FILE, RunDir, read_metrics

CHECKPOINT_SUFFIX = {"torch": ".pt", "keras": ".keras"}
CHECKPOINT_NAMES = ("best", "last")


def is_run(path: str | Path) -> bool:
    """Does ``path`` look like a run folder of ``archc train`` (a folder with config.json and spec.yaml)?"""
    if isinstance(path, str) and "\n" in path:
        return False  # YAML text, not a path
    try:
        path = Path(path)
        return path.is_dir() and (path / CONFIG_FILE).is_file() and (path / SPEC_FILE).is_file()
    except (OSError, ValueError):  # a name too long for a path, a NUL byte: not a folder
        return False


@dataclass
class Run:
    """A run folder as written by ``archc train``, read without changing it."""

    path: Path
    config: dict[str, Any]
    metrics: list[dict[str, Any]]

    @classmethod
    def open(cls, path: str | Path, what: str = "RUN_DIR") -> Run:
        """TrainError naming what is missing when ``path`` is not a run folder."""
        path = Path(path)
        if not path.exists():
            raise TrainError(f"{what} {path}: no such folder")
        if not path.is_dir():
            raise TrainError(f"{what} {path}: not a folder (a run folder of `archc train` holds {SPEC_FILE}, "
                             f"{CONFIG_FILE}, {METRICS_FILE} and {CHECKPOINT_DIR}/)")
        for needed in (CONFIG_FILE, SPEC_FILE):
            if not (path / needed).is_file():
                raise TrainError(f"{what} {path}: not a run folder of `archc train` (no {needed})")
        config = RunDir(path).read_config()
        if not isinstance(config.get("train"), dict) or not isinstance(config.get("data"), dict):
            raise TrainError(f"{what} {path}: {CONFIG_FILE} is not the configuration of `archc train`")
        return cls(path, config, read_metrics(path / METRICS_FILE))

    # ------------------------------------------------------------------------------------------------ facts
    @property
    def name(self) -> str:
        return self.path.name

    @property
    def backend(self) -> str:
        return str(self.config["train"].get("backend", "torch"))

    @property
    def spec_name(self) -> str:
        return str(self.config.get("spec", {}).get("name", "?"))

    @property
    def classes(self) -> list[str]:
        return list(self.config["data"].get("classes") or [])

    def spec(self) -> Any:
        """The resolved spec the run trained (its spec.yaml)."""
        import archc

        return archc.parse(str(self.path / SPEC_FILE))

    # ------------------------------------------------------------------------------------------ checkpoints
    def checkpoint(self, which: str) -> Path:
        """``best`` or ``last`` of this run, or a checkpoint file named by path; TrainError when it is not there."""
        if which not in CHECKPOINT_NAMES:
            path = Path(which)
            if not path.is_file():
                raise TrainError(f"--checkpoint {which}: give best, last or a checkpoint file (no such file)")
            return path
        path = self.path / CHECKPOINT_DIR / f"{which}{CHECKPOINT_SUFFIX.get(self.backend, '.pt')}"
        if not path.is_file():
            raise TrainError(f"{self.path}: no {which} checkpoint ({path.name} is not in {CHECKPOINT_DIR}/; "
                             "a run writes its checkpoints at the end of each epoch)")
        return path

    def recorded(self, which: str) -> dict[str, Any] | None:
        """The metrics row of the epoch a checkpoint holds: the last row, or the first with the best test accuracy
        (the loop saves best.pt when the test accuracy beats every earlier epoch)."""
        rows = [row for row in self.metrics if isinstance(row.get("test_acc"), (int, float))]
        if not rows or which not in CHECKPOINT_NAMES:
            return None
        if which == "last":
            return rows[-1]
        best = rows[0]
        for row in rows[1:]:
            if row["test_acc"] > best["test_acc"]:
                best = row
        return best

    # ------------------------------------------------------------------------------------------------ table
    def row(self) -> dict[str, Any]:
        """The run's line of ``archc runs``: spec, size, progress, accuracies, speed and time."""
        train, data = self.config["train"], self.config["data"]
        rows = self.metrics
        accuracies = [row["test_acc"] for row in rows if _number(row.get("test_acc"))]
        speeds = [row["images_per_s"] for row in rows if _number(row.get("images_per_s"))]
        return {
            "name": self.name, "path": str(self.path), "spec": self.spec_name, "backend": self.backend,
            "data": data.get("name"), "params": None, "macs": None,
            "epochs": len(rows), "epochs_planned": train.get("epochs"),
            "best_test_acc": max(accuracies) if accuracies else None,
            "last_test_acc": accuracies[-1] if accuracies else None,
            "images_per_s": sum(speeds) / len(speeds) if speeds else None,
            "train_time_s": sum(row["epoch_time_s"] for row in rows if _number(row.get("epoch_time_s"))),
            "wall_time_s": wall_time(rows),
        }


def wall_time(rows: list[dict[str, Any]]) -> float | None:
    """From the start of the first epoch to the end of the last (evaluations, and pauses between resumes, in)."""
    timed = [row for row in rows if _number(row.get("time"))]
    if not timed:
        return None
    first = timed[0]
    return timed[-1]["time"] - first["time"] + (first["epoch_time_s"] if _number(first.get("epoch_time_s")) else 0)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def find_runs(root: str | Path) -> list[Run]:
    """Every run folder at or below ``root`` (a run folder itself, or a folder of them, nested), sorted by path."""
    root = Path(root)
    if not root.is_dir():
        raise TrainError(f"{root}: no such folder")
    if is_run(root):
        return [Run.open(root)]
    found = sorted({config.parent for config in root.rglob(CONFIG_FILE) if is_run(config.parent)})
    runs = []
    for path in found:
        try:
            runs.append(Run.open(path))
        except TrainError:
            continue  # a folder with a foreign config.json is not a run; listing skips it
    return runs


def add_costs(run_row: dict[str, Any], run: Run) -> dict[str, Any]:
    """Fill params and MACs from the run's spec (archc's exact static counts)."""
    if run_row.get("params") is None or run_row.get("macs") is None:
        import archc
        from archc.errors import SpecError

        try:
            summary = archc.summarize(run.spec())
        except (SpecError, OSError):
            return run_row
        totals = summary.totals()
        run_row = dict(run_row, params=totals.get("params"), macs=totals.get("macs"))
    return run_row
