"""The PyTorch backend: an archc Graph lowered to a ``torch.fx.GraphModule`` whose submodules carry the spec's names.

    >>> import archc
    >>> model = archc.load("resnet18", num_classes=10)   # a torch.fx.GraphModule, training mode
    >>> print(model.code)                                # the generated forward

Per-op lowerings live in ``ops/`` (one file per op family) and register with ``registry.register_lowering``.
Importing this package (or its registry) does not import torch: a plugin module registers its lowerings without
loading a framework; ``build_model``, ``emit_source``, ``export`` and ``save`` import it on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from archc.backends.torch.registry import LOWERINGS, Call, LoweringNode, Module, get_lowering, register_lowering
from archc.ops.registry import OPS

if TYPE_CHECKING:
    import torch

__all__ = ["DEFAULT_SUFFIX", "LOWERINGS", "Call", "LoweringNode", "Module", "apply_passes", "build_model",
           "emit_source", "export", "get_lowering", "optimize", "register_lowering", "save"]

DEFAULT_SUFFIX = ".pt2"
BUILTIN_LOWERINGS = ("activation", "block", "channel", "conv", "merge", "norm", "pool", "token", "window")
#: attributes that need torch: name -> the submodule defining it
_LAZY = {"build_model": "build", "emit_source": "source", "export": "files", "save": "files"}


def _load_lowerings() -> None:
    for module in BUILTIN_LOWERINGS:
        import_module(f"archc.backends.torch.ops.{module}")
    OPS.load()  # plugins register their torch lowerings as they load


LOWERINGS.set_loader(_load_lowerings)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"archc.backends.torch.{_LAZY[name]}"), name)
    globals()[name] = value
    return value


def optimize(model: torch.nn.Module, **options: object) -> torch.fx.GraphModule:
    """An eval-only inference copy of an archc model: see ``archc.backends.torch.fold.optimize``."""
    from archc.backends.torch.fold import optimize as fold

    return fold(model, **options)


def apply_passes(model: torch.fx.GraphModule, memory_efficient: bool = False,
                 optimize: bool = False) -> torch.fx.GraphModule:
    """The passes ``archc.load`` applies on request (docs/optimize.md)."""
    if memory_efficient:
        from archc.backends.torch.memory import memory_efficient as rewrite

        model = rewrite(model)
    if optimize:
        from archc.backends.torch.fold import optimize as fold

        model = fold(model)
    return model
