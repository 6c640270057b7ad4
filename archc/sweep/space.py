"""``SPACE.yaml``: what a sweep varies. Each key is a spec param or a training option, each value a list of choices
or a range::

    width: [16, 32, 64]                      # choices (any YAML values: [[1, 1], [2, 2]] works for lists)
    depth: {low: 1, high: 4}                 # integers, since low and high are written as integers
    drop: {low: 0.0, high: 0.5, step: 0.1}   # floats
    lr: {low: 1.0e-4, high: 1.0e-1, log: true}

Mistakes are located diagnostics (``space.yaml:3:8: error: ...``), as in specs. Framework-free: a trial of Optuna is
only passed in.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archc.errors import Diagnostic, DiagnosticSink, Position, SpecError, did_you_mean
from archc.spec.loader import LList, LMap, load_file

#: training options a space may vary, with the kind of their values (see docs/experiments.md)
TRAIN_OPTIONS: dict[str, type] = {
    "lr": float, "batch_size": int, "epochs": int, "weight_decay": float, "momentum": float, "nesterov": bool,
    "optimizer": str, "schedule": str, "warmup_epochs": float, "label_smoothing": float, "random_crop": int,
    "hflip": bool, "step_size": int, "gamma": float, "seed": int, "grad_clip": float, "ema": float,
}
RANGE_KEYS = ("low", "high", "step", "log")
#: at most this many values of an integer range are listed for the static budget check
MAX_LISTED = 16


@dataclass(frozen=True)
class Dimension:
    """One axis of the space. ``target`` is ``spec`` (a spec param) or ``train`` (a TrainConfig field)."""

    name: str
    target: str
    kind: str  # "choice", "int" or "float"
    choices: tuple[Any, ...] = ()
    low: float = 0
    high: float = 0
    step: float | None = None
    log: bool = False

    @property
    def encoded(self) -> bool:
        """Choices Optuna cannot store (lists, mappings) travel as their JSON text."""
        return self.kind == "choice" and any(not _plain_scalar(c) for c in self.choices)

    def optuna_choices(self) -> list[Any]:
        return [json.dumps(c) for c in self.choices] if self.encoded else list(self.choices)

    def suggest(self, trial: Any) -> Any:
        """Draw this dimension's value from an Optuna trial."""
        if self.kind == "choice":
            value = trial.suggest_categorical(self.name, self.optuna_choices())
            return json.loads(value) if self.encoded else value
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def decode(self, stored: Any) -> Any:
        """A value as Optuna stored it -> the value the spec or training gets."""
        return json.loads(stored) if self.encoded and isinstance(stored, str) else stored

    def values(self) -> list[Any] | None:
        """Every value, where there are finitely many (and, for a range, at most MAX_LISTED); else None."""
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int":
            step = int(self.step or 1)
            count = (int(self.high) - int(self.low)) // step + 1
            if self.log:
                return None if count > MAX_LISTED else list(range(int(self.low), int(self.high) + 1))
            return list(range(int(self.low), int(self.high) + 1, step)) if count <= MAX_LISTED else None
        return None

    def corners(self) -> list[Any]:
        """The extreme values (a range's ends; the smallest and largest of numeric choices; else every choice)."""
        if self.kind != "choice":
            high = self.high
            if self.kind == "int" and self.step and not self.log:
                high = self.low + (int(self.high) - int(self.low)) // int(self.step) * int(self.step)
            return [int(self.low), int(high)] if self.kind == "int" else [self.low, high]
        numbers = [c for c in self.choices if isinstance(c, (int, float)) and not isinstance(c, bool)]
        if len(numbers) == len(self.choices):
            return sorted({min(numbers), max(numbers)}, key=numbers.index)
        return list(self.choices)

    def describe(self) -> Any:
        """Plain data for the study's record of the sweep (and for comparing it on a rerun)."""
        if self.kind == "choice":
            return list(self.choices)
        data: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.step is not None:
            data["step"] = self.step
        if self.log:
            data["log"] = True
        return data


@dataclass(frozen=True)
class Space:
    dims: tuple[Dimension, ...]
    source: str

    @property
    def spec_dims(self) -> tuple[Dimension, ...]:
        return tuple(d for d in self.dims if d.target == "spec")

    @property
    def train_dims(self) -> tuple[Dimension, ...]:
        return tuple(d for d in self.dims if d.target == "train")

    def suggest(self, trial: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """(spec params, training options) of one trial."""
        values = {d.name: d.suggest(trial) for d in self.dims}
        return ({d.name: values[d.name] for d in self.spec_dims}, {d.name: values[d.name] for d in self.train_dims})

    def split(self, stored: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """(spec params, training options) from a finished trial's ``params``."""
        spec = {d.name: d.decode(stored[d.name]) for d in self.spec_dims if d.name in stored}
        train = {d.name: d.decode(stored[d.name]) for d in self.train_dims if d.name in stored}
        return spec, train

    def grid(self) -> dict[str, list[Any]] | None:
        """The search space of Optuna's GridSampler, where every dimension has finitely many values."""
        grid = {}
        for dim in self.dims:
            values = dim.values()
            if values is None:
                return None
            grid[dim.name] = dim.optuna_choices() if dim.kind == "choice" else values
        return grid

    def spec_candidates(self, limit: int) -> tuple[list[dict[str, Any]], bool]:
        """Spec-param combinations for the static budget check, and whether they are all there are.

        Every combination when there are at most ``limit``; else the corners of the space (costs usually grow with
        each param); else (too many corners too) nothing.
        """
        listed = [dim.values() for dim in self.spec_dims]
        if all(v is not None for v in listed) and math.prod(len(v) for v in listed) <= limit:
            return _combinations(self.spec_dims, listed), True
        corners = [dim.corners() for dim in self.spec_dims]
        if math.prod(len(v) for v in corners) <= limit:
            return _combinations(self.spec_dims, corners), False
        return [], False

    def describe(self) -> dict[str, Any]:
        return {d.name: d.describe() for d in self.dims}


def _combinations(dims: tuple[Dimension, ...], values: list[Any]) -> list[dict[str, Any]]:
    return [dict(zip([d.name for d in dims], combo)) for combo in itertools.product(*values)]


def _plain_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def load_space(path: str | Path, spec_params: dict[str, Any], fixed: tuple[str, ...] = ()) -> Space:
    """Read and check SPACE.yaml against the spec's params; ``fixed`` are params given with ``--set``.

    Raises SpecError with every problem found, each located in the space file.
    """
    path = Path(path)
    if not path.is_file():
        raise SpecError(Diagnostic(f"no such space file: {path}" if not path.exists() else f"{path} is not a file",
                                   hint="a SPACE.yaml maps spec params or training options to choices or ranges"))
    tree = load_file(path)
    file = str(path)
    if not isinstance(tree, dict) or not tree:
        raise SpecError(Diagnostic("a space is a YAML mapping of param names to choices ([16, 32]) or ranges "
                                   "({low: 1, high: 4})", getattr(tree, "pos", None) or Position(file, 1, 1)))
    sink = DiagnosticSink()
    dims = []
    for name, value in tree.items():
        dim = _dimension(name, value, tree, spec_params, fixed, sink)
        if dim is not None:
            dims.append(dim)
    sink.raise_if_any()
    return Space(tuple(dims), file)


def _target(name: Any, tree: LMap, spec_params: dict[str, Any], fixed: tuple[str, ...],
            sink: DiagnosticSink) -> tuple[str, str] | None:
    where = tree.where_key(name)
    if not isinstance(name, str):
        sink.error(f"a param name is text, got {name!r}", where)
        return None
    option = name.replace("-", "_")
    if name in spec_params and option in TRAIN_OPTIONS:
        sink.error(f"'{name}' is both a spec param and a training option", where,
                   hint="rename the spec param to sweep it (the training option cannot be swept with it)")
        return None
    if name in spec_params:
        if name in fixed:
            sink.error(f"'{name}' is both in the space and set with --set", where, hint=f"drop --set {name}=...")
            return None
        return name, "spec"
    if option in TRAIN_OPTIONS:
        return option, "train"
    known = [*spec_params, *TRAIN_OPTIONS]
    hint = did_you_mean(name, known) or ("the spec's params: " + (", ".join(spec_params) or "none")
                                         + "; training options: " + ", ".join(TRAIN_OPTIONS))
    sink.error(f"'{name}' is neither a param of the spec nor a training option a sweep can vary", where, hint=hint)
    return None


def _dimension(name: Any, value: Any, tree: LMap, spec_params: dict[str, Any], fixed: tuple[str, ...],
               sink: DiagnosticSink) -> Dimension | None:
    resolved = _target(name, tree, spec_params, fixed, sink)
    if resolved is None:
        return None
    key, target = resolved
    where = tree.where(name)
    if isinstance(value, list):
        return _choices(key, target, value, where, sink)
    if isinstance(value, dict):
        return _range(key, target, value, sink)
    sink.error(f"'{name}': give a list of choices ([16, 32, 64]) or a range ({{low: 1, high: 4}}), got {value!r}",
               where)
    return None


def _choices(name: str, target: str, value: LList, where: Position | None, sink: DiagnosticSink) -> Dimension | None:
    if not value:
        sink.error(f"'{name}': the list of choices is empty", where)
        return None
    texts = [json.dumps(item, sort_keys=True, default=str) for item in value]
    for index, text in enumerate(texts):
        if text in texts[:index]:
            sink.error(f"'{name}': the choice {value[index]!r} is listed twice", _item_pos(value, index))
            return None
    if target == "train":
        kind = TRAIN_OPTIONS[name]
        for index, item in enumerate(value):
            if not _of_kind(item, kind):
                sink.error(f"'{name}' takes {kind.__name__} values, got {item!r}", _item_pos(value, index))
                return None
    return Dimension(name, target, "choice", choices=tuple(_plain(item) for item in value))


def _range(name: str, target: str, value: LMap, sink: DiagnosticSink) -> Dimension | None:
    problems = len(sink.diagnostics)
    for key in value:
        if key not in RANGE_KEYS:
            sink.error(f"'{name}': unknown range key '{key}'", value.where_key(key),
                       hint=did_you_mean(key, RANGE_KEYS) or "a range has low, high and optionally step or log")
    for key in ("low", "high"):
        if key not in value:
            sink.error(f"'{name}': a range needs '{key}'", value.pos)
        elif not _number(value[key]):
            sink.error(f"'{name}': '{key}' must be a number, got {value[key]!r}", value.where(key))
    step, log = value.get("step"), value.get("log", False)
    if step is not None and (not _number(step) or step <= 0):
        sink.error(f"'{name}': 'step' must be a positive number, got {step!r}", value.where("step"))
    if not isinstance(log, bool):
        sink.error(f"'{name}': 'log' is true or false, got {log!r}", value.where("log"))
    if len(sink.diagnostics) > problems:
        return None
    low, high = value["low"], value["high"]
    kind = "int" if all(isinstance(v, int) for v in (low, high, step if step is not None else 1)) else "float"
    if target == "train" and TRAIN_OPTIONS[name] is float:
        kind = "float"  # momentum: {low: 0, high: 1} is a float range
    checks = [(low > high, f"'low' ({low}) is above 'high' ({high})"),
              (log and step is not None, "'log' and 'step' cannot be used together (Optuna)"),
              (log and low <= 0, f"a log range needs low > 0, got {low}")]
    if target == "train":
        wanted = TRAIN_OPTIONS[name]
        checks.append((wanted not in (int, float) or (wanted is int and kind != "int"),
                       f"takes {wanted.__name__} values" + (" (write low and high as integers)"
                                                                       if wanted is int else "; list the choices")))
    for failed, message in checks:
        if failed:
            sink.error(f"'{name}': {message}", value.pos)
            return None
    return Dimension(name, target, kind, low=low, high=high, step=step, log=bool(log))


def _of_kind(item: Any, kind: type) -> bool:
    if kind is float:
        return _number(item)
    if kind is int:
        return isinstance(item, int) and not isinstance(item, bool)
    return isinstance(item, kind)


def _item_pos(container: LList, index: int) -> Position | None:
    return container.where(index) if isinstance(container, LList) else None


def _plain(value: Any) -> Any:
    """Located containers -> plain dicts and lists (hashable enough to compare and store)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
