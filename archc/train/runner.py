"""``archc.train.run``: resolve spec, data and run folder, then hand over to the torch loop or to Keras' fit.

    from archc.train import TrainConfig, run

    result = run(TrainConfig(spec="resnet20", data="fashion-mnist", epochs=1, subset=2000))
    result = run(resume=result.run_dir, changes={"epochs": 3})

Framework-free itself: torch or tensorflow are imported only by the backend chosen.
"""

from __future__ import annotations

import os
import platform
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archc.train.config import RESUMABLE_CHANGES, TrainConfig
from archc.train.data import KNOWN_DIRS, Adaptation, Dataset, channel_stats, load_dataset, plan_adaptation
from archc.train.errors import TrainError
from archc.train.rundir import RunDir


@dataclass
class SpecInfo:
    """The compiled spec as the loops see it."""

    spec: Any
    graph: Any
    input_shape: tuple[int, ...]
    num_outputs: int
    outputs_probabilities: bool


@dataclass
class Prepared:
    """Everything resolved before the first step."""

    cfg: TrainConfig
    info: SpecInfo
    dataset: Dataset
    adaptation: Adaptation
    mean: list[float]
    std: list[float]
    run: RunDir | None  # the run folder on the writing process (rank 0), None on the others
    resume_from: Path | None  # the run folder being resumed (every rank reads its checkpoint)
    notes: list[str] = field(default_factory=list)

    @property
    def resuming(self) -> bool:
        return self.resume_from is not None

    def record_resume(self) -> None:
        """Note the resume (and any raised --epochs) in config.json, once the checkpoint has proved to fit."""
        if self.run is not None and self.resuming:
            resumed = [*self.run.read_config().get("resumed", []), time.strftime("%Y-%m-%dT%H:%M:%S")]
            _write_config(self.run, self.cfg, self.info, self.dataset, self.adaptation, self.mean, self.std, resumed)


@dataclass
class TrainResult:
    run_dir: Path | None
    history: list[dict[str, Any]]


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def spec_info(spec: Any) -> SpecInfo:
    import archc

    graph = archc.build_graph(spec)
    input_shape = tuple(graph.nodes[graph.input_node]["shape"])
    output = graph.nodes[graph.output_node]
    if len(output["shape"]) != 1:
        raise TrainError(f"spec '{spec.name}' ends in {list(output['shape'])} at '{graph.output_node}'; a classifier "
                         "ends in [num_classes] (add global_avgpool, flatten and a linear layer)")
    return SpecInfo(spec, graph, input_shape, int(output["shape"][0]), output["op"] == "softmax")


def _parse(source: Any, overrides: list[str]) -> Any:
    import archc

    if isinstance(source, archc.Spec):
        return source  # already resolved (the CLI parses SPEC --set ... itself when resuming)
    return archc.parse(source, overrides)


def _resume_config(run: RunDir, cfg: TrainConfig | None, changes: dict[str, Any]) -> TrainConfig:
    if cfg is not None:
        raise TrainError("give either a configuration or a run folder to resume, not both")
    saved = run.read_config()
    base = TrainConfig.from_dict(saved["train"])
    unknown = sorted(set(changes) - set(base.to_dict()))
    if unknown:
        raise TrainError(f"unknown training options: {', '.join(unknown)}")
    refused = sorted(k for k, v in changes.items() if k not in RESUMABLE_CHANGES and getattr(base, k) != v)
    if refused:
        flags = ", ".join(f"--{k.replace('_', '-')}" for k in refused)
        allowed = ", ".join(f"--{k.replace('_', '-')}" for k in RESUMABLE_CHANGES)
        raise TrainError(f"--resume continues a run as it was configured; {flags} cannot change (these can: "
                         f"{allowed}). Start a new run instead.")
    return base.replace(**{k: v for k, v in changes.items() if k in RESUMABLE_CHANGES})


def prepare(cfg: TrainConfig | None = None, resume: str | Path | None = None, spec: Any = None,
            changes: dict[str, Any] | None = None) -> Prepared:
    """Resolve the spec, load the data, check they fit together, and open or make the run folder (rank 0)."""
    notes: list[str] = []
    run: RunDir | None = None
    if resume is not None:
        run = RunDir.open(resume)
        if rank() == 0:
            run.lock()  # before anything is read: a second process resuming the same run stops here
        cfg = _resume_config(run, cfg, dict(changes or {}))
        parsed = _parse(spec if spec is not None else run.read_spec(), [] if spec is None else cfg.overrides)
    else:
        if cfg is None:
            raise TrainError("nothing to train: give a configuration or a run folder to resume")
        if not cfg.spec:
            raise TrainError("no spec to train (give a spec file or a zoo name)")
        parsed = _parse(cfg.spec, cfg.overrides)
        cfg = _absolute_paths(cfg)
    info = spec_info(parsed)
    dataset = load_dataset(cfg.data, info.input_shape, info.num_outputs, cfg.data_dir, cfg.subset,
                           cfg.test_subset, cfg.seed)
    if resume is None and dataset.num_classes != info.num_outputs:
        cfg, info = _fit_classes(cfg, info, dataset, notes)
    if info.num_outputs < dataset.num_classes:
        raise TrainError(f"spec '{parsed.name}' has {info.num_outputs} outputs but {dataset.name} has "
                         f"{dataset.num_classes} classes (set --set num_classes={dataset.num_classes})")
    adaptation = plan_adaptation(dataset.shape, info.input_shape)
    if resume is None and (cfg.init_from or cfg.freeze):
        from archc.train.init_from import check_init

        check_init(cfg, info.graph)  # a file that does not fit fails here, before the run folder exists
    mean, std = channel_stats(dataset.train, cfg.seed)
    preflight(cfg, info, dataset)
    if rank() == 0:
        if run is None:  # only now: every check that can fail without training has passed, no orphan folders
            run = RunDir.create(cfg.out, cfg.name or info.spec.name)
            run.lock()
            run.write_spec(info.spec.to_data())
            _write_config(run, cfg, info, dataset, adaptation, mean, std, [])
    else:
        run = None
    return Prepared(cfg, info, dataset, adaptation, mean, std, run, Path(resume) if resume is not None else None,
                    notes)


def check_epochs_left(epochs: int, done: int, run: Any) -> None:
    """``--resume --epochs N`` below the epochs the checkpoint holds would silently do nothing: an error."""
    if epochs < done:
        raise TrainError(f"--resume {run}: {done} epochs are done already, more than --epochs {epochs}; give "
                         f"--epochs {done} or more (or start a new run)")


def preflight(cfg: TrainConfig, info: SpecInfo, dataset: Dataset) -> None:
    """The checks that need no training: the device is there, a batch fits the data and the processes, the network
    is within the limits."""
    from archc.passes.limits import Limits, check_limits

    if cfg.backend == "torch":
        from archc.train.torch_device import resolve_device

        resolve_device(cfg.device, int(os.environ.get("LOCAL_RANK", "0")))
    else:
        from archc.train.keras_fit import check_device

        check_device(cfg)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if cfg.batch_size % world_size:
        raise TrainError(f"--batch-size {cfg.batch_size} (global) must divide evenly among {world_size} processes")
    if len(dataset.train) < cfg.batch_size:
        raise TrainError(f"the training split has {len(dataset.train)} samples, fewer than one batch of "
                         f"{cfg.batch_size}; lower --batch-size")
    check_limits(info.graph, Limits.of(cfg.param_limit, cfg.activation_limit), cfg.batch_size // world_size)


def _absolute_paths(cfg: TrainConfig) -> TrainConfig:
    """Data paths as absolute paths in config.json, so that --resume works from any folder."""
    changes: dict[str, Any] = {}
    if cfg.data not in KNOWN_DIRS and cfg.data != "synthetic" and Path(cfg.data).exists():
        changes["data"] = str(Path(cfg.data).resolve())
    if cfg.data_dir:
        changes["data_dir"] = str(Path(cfg.data_dir).expanduser().resolve())
    if cfg.init_from:
        changes["init_from"] = str(Path(cfg.init_from).expanduser().resolve())
    return cfg.replace(**changes) if changes else cfg


def _fit_classes(cfg: TrainConfig, info: SpecInfo, dataset: Dataset, notes: list[str]) -> tuple[TrainConfig,
                                                                                                  SpecInfo]:
    """Set num_classes to the dataset's class count when the spec has that parameter and --set left it alone."""
    given = any(text.split("=", 1)[0].strip() == "num_classes" for text in cfg.overrides)
    if "num_classes" not in info.spec.params or given:
        return cfg, info
    overrides = [*cfg.overrides, f"num_classes={dataset.num_classes}"]
    notes.append(f"num_classes={dataset.num_classes} for {dataset.name} (the spec says "
                 f"{info.spec.params['num_classes']}; --set num_classes=N to choose)")
    cfg = cfg.replace(overrides=overrides)
    return cfg, spec_info(_parse(cfg.spec, overrides))


def _write_config(run: RunDir, cfg: TrainConfig, info: SpecInfo, dataset: Dataset, adaptation: Adaptation,
                  mean: list[float], std: list[float], resumed: list[str]) -> None:
    run.write_config({
        "train": cfg.to_dict(),
        "spec": {"name": info.spec.name, "digest": info.spec.digest(), "source": info.spec.source},
        "data": {"name": dataset.name, "source": dataset.source, "classes": dataset.classes,
                 "train_size": len(dataset.train), "test_size": len(dataset.test), "shape": list(dataset.shape),
                 "input_shape": list(info.input_shape), "adaptation": adaptation.describe(), "mean": mean,
                 "std": std},
        "host": {"hostname": socket.gethostname(), "platform": platform.platform(),
                 "python": platform.python_version(), "cpus": os.cpu_count()},
        "resumed": resumed,
    })


def run(cfg: TrainConfig | None = None, resume: str | Path | None = None, spec: Any = None,
        changes: dict[str, Any] | None = None, console: Any = None,
        model_factory: Callable[[int], Any] | None = None) -> TrainResult:
    """Train a spec (``cfg``) or continue a run folder (``resume``; ``changes`` may raise epochs, move devices).

    ``model_factory(seed)`` replaces the backend's model builder (torch only; for tests of the loop itself).
    """
    prepared = prepare(cfg, resume, spec, changes)
    try:
        if prepared.cfg.backend == "keras":
            from archc.train.keras_fit import train_keras

            return train_keras(prepared, console)
        from archc.train.torch_loop import train_torch

        return train_torch(prepared, console, model_factory)
    finally:
        if prepared.run is not None:
            prepared.run.unlock()
