"""A run's trained model: its spec.yaml with the weights of one of its checkpoints, in either backend.

Torch checkpoints (``.pt``) hold a torch state_dict; Keras ones (``.keras``) a whole Keras model. Either converts to
the other backend by node name (archc.transfer). Imports torch or Keras only when a checkpoint of theirs is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archc.train.errors import TrainError
from archc.train.runs import Run


@dataclass
class Trained:
    """The run, its spec and graph, and the trained tensors in torch layout (``<node>.<tensor>`` -> array)."""

    run: Run
    checkpoint: Path
    spec: Any
    graph: Any
    state: dict[str, Any]
    epoch: int | None


def read_trained(run_dir: str | Path, checkpoint: str = "best", ema: bool = False) -> Trained:
    """Read a run's checkpoint, checked against the run's spec (TrainError naming what differs); ``ema``: its
    exponential moving average of the weights (a run trained with --ema) instead of the raw weights."""
    import archc

    run = Run.open(run_dir)
    path = run.checkpoint(checkpoint)
    spec = run.spec()
    graph = archc.build_graph(spec)
    if path.name.endswith(".keras"):
        state, epoch = _read_keras_checkpoint(path, spec, graph, run if ema else None)
    else:
        state, epoch = _read_torch_checkpoint(path, spec, graph, ema)
    return Trained(run, path, spec, graph, state, epoch)


def _read_torch_checkpoint(path: Path, spec: Any, graph: Any, ema: bool) -> tuple[dict[str, Any], int | None]:
    from archc.train.checkpoint import load_checkpoint
    from archc.transfer import expected_tensors

    state = load_checkpoint(path)
    saved = {name: list(tensor.shape) for name, tensor in state["model"].items()}
    current = {name: list(shape) for name, shape in expected_tensors(graph).items()}
    _check(path, state, saved, spec, current)
    epoch = state.get("progress", {}).get("epoch")
    if not ema:
        return dict(state["model"]), epoch
    if "ema" not in state:
        raise TrainError(f"{path}: no EMA weights (the run was trained without --ema)")
    # torch.optim.swa_utils.AveragedModel's state: the model's tensors under "module.", and its step counter
    averaged = {key[len("module."):]: value for key, value in state["ema"].items() if key.startswith("module.")}
    return averaged, epoch


def _read_keras_checkpoint(path: Path, spec: Any, graph: Any, ema_of: Run | None) -> tuple[dict[str, Any],
                                                                                             int | None]:
    from archc.train.keras_fit import _imports, read_state, weight_shapes
    from archc.transfer import read_state as read_tensors

    keras, _ = _imports()
    saved = read_state(path)
    model = archc_keras_model(graph)
    _check(path, saved, saved.get("weights", {}), spec, weight_shapes(model))
    if ema_of is not None:
        return _keras_ema(path, saved, graph, ema_of), saved.get("epoch")
    try:
        loaded = keras.saving.load_model(path, compile=False, safe_mode=True)
    except (ValueError, OSError) as exc:
        raise TrainError(f"{path}: cannot read the Keras checkpoint ({exc})") from None
    return read_tensors(loaded), saved.get("epoch")


def _keras_ema(path: Path, saved: dict[str, Any], graph: Any, run: Run) -> dict[str, Any]:
    from types import SimpleNamespace

    from archc.train.config import TrainConfig
    from archc.train.keras_fit import ema_state

    cfg = TrainConfig.from_dict(saved.get("config") or run.config["train"])
    if not cfg.ema:
        raise TrainError(f"{path}: no EMA weights (the run was trained without --ema)")
    output = graph.nodes[graph.output_node]
    info = SimpleNamespace(graph=graph, outputs_probabilities=output["op"] == "softmax")
    return ema_state(SimpleNamespace(cfg=cfg, info=info, resuming=True), path)


def _check(path: Path, state: dict[str, Any], saved: Any, spec: Any, current: Any) -> None:
    from archc.train.compat import check_checkpoint

    try:
        check_checkpoint(str(path), state.get("spec_digest", "?"), state.get("spec"), saved, spec, current)
    except TrainError as exc:  # the resume hint of check_checkpoint does not apply here
        lines = [line for line in str(exc).splitlines() if not line.startswith("resume with")]
        raise TrainError("\n".join([*lines, "a checkpoint belongs to the run whose spec.yaml trained it"])) from None


def archc_keras_model(graph: Any) -> Any:
    from archc.api import backend_module

    return backend_module("keras").build_model(graph, seed=0)


def trained_model(trained: Trained, backend: str = "torch") -> Any:
    """The spec's model of ``backend`` with the trained weights (eval mode for torch)."""
    from archc.api import backend_module
    from archc.transfer import TransferError, load_state

    if backend not in ("torch", "keras", "onnx"):
        raise TrainError(f"backend {backend!r}: a trained model is built for torch or keras")
    if backend != "keras":
        import torch  # noqa: F401  (before TensorFlow, should a Keras checkpoint be read next)
    model = backend_module(backend).build_model(trained.graph, seed=0)
    try:
        load_state(model, trained.state, strict=True)
    except TransferError as exc:
        raise TrainError(f"{trained.checkpoint}: the weights do not convert to the {backend} model ({exc})") from None
    if hasattr(model, "eval"):
        model.eval()
    return model


def load_run(run_dir: str | Path, backend: str = "torch", checkpoint: str = "best") -> Any:
    """``archc.load(RUN_DIR)``: the run's spec built for ``backend`` with the checkpoint's weights."""
    if backend != "keras":
        import torch  # noqa: F401  (torch before TensorFlow in one process)
    return trained_model(read_trained(run_dir, checkpoint), backend)
