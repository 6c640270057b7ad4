"""The ONNX backend: the torch backend's model exported with ``torch.onnx.export``, the batch dimension dynamic.

    archc compile resnet50 --backend onnx -o resnet50.onnx

The file runs where neither archc nor torch is installed::

    import onnxruntime
    session = onnxruntime.InferenceSession("resnet50.onnx")
    logits = session.run(None, {"input": images})[0]      # images: float32 [N, C, H, W], any N

Eval mode (BatchNorm running statistics, dropout off), one input ``input`` and one output ``output``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from archc.ir.graph import Graph

DEFAULT_SUFFIX = ".onnx"
OPSET = 17
INPUT_NAME, OUTPUT_NAME = "input", "output"


def build_model(graph: Graph, seed: int | None = None) -> Any:
    """The torch model of ``graph`` (the ONNX file is written from it by ``save``)."""
    from archc.backends.torch import build_model as build_torch_model

    return build_torch_model(graph, seed=seed)


def output_names(graph: Graph) -> list[str]:
    """``output``, or ``output_0``, ``output_1``, ... for a model with several outputs (in the spec's order)."""
    count = len(graph.outputs)
    return [OUTPUT_NAME] if count == 1 else [f"{OUTPUT_NAME}_{index}" for index in range(count)]


def save(model: Any, graph: Graph, path: str | Path, opset: int = OPSET) -> None:
    """Export ``model`` in eval mode to ONNX at ``path``; dimension 0 of the input and output is named ``batch``.

    Uses the TorchScript exporter (``dynamo=False``): it needs no package beyond torch and onnx, and archc's
    GraphModules are straight-line programs, which it traces exactly. The model's mode is restored afterwards.
    """
    import torch

    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    # batch 2 in the example, so that no dimension is traced at size 1 and folded into a constant
    example = torch.zeros(2, *graph.nodes[graph.input_node]["shape"], device=device)
    was_training = model.training
    model.eval()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
            warnings.filterwarnings("ignore", message=".*Constant folding - Only steps=1.*")
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
            names = output_names(graph)
            torch.onnx.export(model, (example,), str(path), dynamo=False, opset_version=opset,
                              input_names=[INPUT_NAME], output_names=names,
                              dynamic_axes={INPUT_NAME: {0: "batch"}, **{name: {0: "batch"} for name in names}})
    finally:
        model.train(was_training)


def optimize(model: Any, **options: Any) -> Any:
    """The torch backend's inference folding (the ONNX file is written from the torch model)."""
    from archc.backends.torch import optimize as fold

    return fold(model, **options)


def apply_passes(model: Any, memory_efficient: bool = False, optimize: bool = False) -> Any:
    """``archc.load(..., backend="onnx", optimize=True)``: the folded torch model, portable (no prepacked weights)."""
    if optimize:
        from archc.backends.torch import optimize as fold

        model = fold(model, prepack=False)
    return model
