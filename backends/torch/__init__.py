"""The PyTorch backend: an archc Graph lowered to a ``torch.fx.GraphModule`` whose submodules carry the spec's names.

    >>> import archc
    >>> model = archc.load("resnet18", num_classes=10)   # a torch.fx.GraphModule, training mode
    >>> print(model.code)                                # the generated forward

Per-op lowerings live in ``ops/`` (one file per op family) and register with ``registry.register_lowering``.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch

from archc.backends.torch.build import build_model
from archc.backends.torch.registry import LOWERINGS, Call, LoweringNode, get_lowering, register_lowering
from archc.backends.torch.source import emit_source
from archc.ir.graph import Graph
from archc.ops.registry import OPS

__all__ = ["DEFAULT_SUFFIX", "LOWERINGS", "Call", "LoweringNode", "apply_passes", "build_model", "emit_source",
           "export", "get_lowering", "optimize", "register_lowering", "save"]

DEFAULT_SUFFIX = ".pt2"
BUILTIN_LOWERINGS = ("activation", "block", "channel", "conv", "merge", "norm", "pool")


def _load_lowerings() -> None:
    from importlib import import_module

    for module in BUILTIN_LOWERINGS:
        import_module(f"archc.backends.torch.ops.{module}")
    OPS.load()  # plugins register their torch lowerings as they load


LOWERINGS.set_loader(_load_lowerings)


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


def export(model: torch.nn.Module, graph: Graph) -> torch.export.ExportedProgram:
    """``torch.export`` the model in eval mode with a dynamic batch dimension (the model's mode is restored after).

    Eval mode because the program is for inference: BatchNorm uses its running statistics and dropout is off.
    """
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None and parameter.is_floating_point() else torch.float32
    # batch 2 in the example: torch.export specialises a dimension traced at size 0 or 1
    example = torch.zeros(2, *graph.nodes[graph.input_node]["shape"], device=device, dtype=dtype)
    batch = torch.export.Dim("batch", min=1)
    was_training = model.training
    model.eval()
    try:
        return torch.export.export(model, (example,), dynamic_shapes=({0: batch},))
    finally:
        model.train(was_training)


def save(model: torch.nn.Module, graph: Graph, path: str | Path) -> None:
    """Write ``model`` as a ``torch.export`` program (``.pt2``) with a dynamic batch dimension.

    The file loads where archc is not installed: ``torch.export.load(path).module()(x)``.
    """
    buffer = io.BytesIO()  # torch's file writer aborts the process on a write error (a full disk); Python's raises
    torch.export.save(export(model, graph), buffer)
    Path(path).write_bytes(buffer.getbuffer())
