"""Writing torch models: ``torch.export`` programs (``.pt2``) with a dynamic batch dimension."""

from __future__ import annotations

import io
from pathlib import Path

import torch

from archc.ir.graph import Graph


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
