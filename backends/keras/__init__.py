"""The Keras backend: archc graphs as functional ``keras.Model`` objects (NHWC, built-in layers only).

Layers are named exactly as their nodes, so weights move to and from the torch backend by name
(``archc.transfer_weights``). A saved ``.keras`` file loads with ``keras.saving.load_model`` without archc.
Keras' torch backend forbids dots in the names of layers with weights: there the names spell "." as ">"
(``archc.transfer.keras_layer_name``), and a file saved with dotted names loads on the TensorFlow and JAX backends.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Any

from archc.backends.keras.quiet import import_tensorflow
from archc.backends.keras.registry import LOWERINGS, get_lowering, register_lowering
from archc.ir.graph import Graph
from archc.ops.registry import OPS

DEFAULT_SUFFIX = ".keras"
BUILTIN_LOWERINGS = ("activation", "block", "channel", "conv", "merge", "norm", "pool", "token", "window")


#: attributes that need keras (imported on first use, so plugins register lowerings without it)
_LAZY = {"KerasBuilder": "build", "build_model": "build"}


def _submodule(name: str) -> Any:
    """A module of this package that imports keras; every way into keras passes here, so TensorFlow is imported
    first without its start-up INFO lines."""
    import_tensorflow()
    return import_module(f"archc.backends.keras.{name}")


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_submodule(_LAZY[name]), name)
    globals()[name] = value
    return value


def _load_lowerings() -> None:
    for module in BUILTIN_LOWERINGS:
        _submodule(f"ops.{module}")
    OPS.load()  # plugins register their Keras lowerings as they load


LOWERINGS.set_loader(_load_lowerings)

__all__ = ["DEFAULT_SUFFIX", "LOWERINGS", "KerasBuilder", "apply_passes", "build_model", "get_lowering", "optimize",
           "register_lowering", "save"]


def optimize(model: Any) -> Any:
    """An inference copy with BatchNormalization folded: see ``archc.backends.keras.fold.optimize``."""
    return _submodule("fold").optimize(model)


def apply_passes(model: Any, memory_efficient: bool = False, optimize: bool = False) -> Any:
    """The passes ``archc.load`` applies on request; memory_efficient is torch's only (refused by archc.load)."""
    return _submodule("fold").optimize(model) if optimize else model


def save(model: Any, graph: Graph, path: str | Path) -> None:
    """Write ``model``: a whole ``.keras`` model file, or only the weights for a ``.weights.h5`` path."""
    path = str(path)
    if path.endswith(".weights.h5"):
        model.save_weights(path)
    else:
        model.save(path)
