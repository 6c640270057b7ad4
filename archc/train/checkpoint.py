"""Torch checkpoints: one file holding model, optimizer, scheduler, progress, metrics history, RNG states and the
resolved spec with its digest. Written atomically (temporary file, fsync, ``os.replace``): a kill at any moment
leaves the previous checkpoint intact. Everything in it is a tensor or plain Python data, so it loads with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archc.train.compat import check_checkpoint
from archc.train.errors import TrainError
from archc.train.rundir import atomic_write

FORMAT = "archc-train-checkpoint"
VERSION = 1


def capture_rng() -> dict[str, Any]:
    """The states of Python's, numpy's, torch's and (where present) every CUDA device's generator."""
    version, mt_state, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(mt_state), gauss],
        "numpy": [name, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    version, mt_state, gauss = state["python"]
    random.setstate((version, tuple(mt_state), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"][: torch.cuda.device_count()]
        torch.cuda.set_rng_state_all(cuda_states)


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` (plus format marker) to ``path`` atomically and durably."""
    payload = {"format": FORMAT, "version": VERSION, **state}
    atomic_write(Path(path), lambda handle: torch.save(payload, handle))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint onto the CPU; TrainError (not a traceback) for a missing, foreign or unreadable file."""
    path = Path(path)
    if not path.is_file():
        raise TrainError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a torn or foreign file: say which, without a traceback
        raise TrainError(f"{path}: cannot read the checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise TrainError(f"{path}: not a checkpoint of `archc train`")
    if state.get("version") != VERSION:
        raise TrainError(f"{path}: checkpoint format version {state.get('version')}, this archc reads {VERSION}")
    return state


def check_model(state: dict[str, Any], where: str, spec: Any, model: torch.nn.Module) -> None:
    """TrainError naming the mismatched tensors when the checkpoint is not of ``spec`` / ``model``."""
    saved = {name: list(tensor.shape) for name, tensor in state["model"].items()}
    current = {name: list(tensor.shape) for name, tensor in model.state_dict().items()}
    check_checkpoint(where, state.get("spec_digest", "?"), state.get("spec"), saved, spec, current)
