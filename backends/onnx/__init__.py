"""The ONNX backend: the torch backend's model exported with ``torch.onnx.export``, the batch dimension dynamic.

    archc compile resnet50 --backend onnx -o resnet50.onnx

The file runs where neither archc nor torch is installed::

    import onnxruntime
    session = onnxruntime.InferenceSession("resnet50.onnx")
    logits = session.run(None, {"input": images})[0]      # images: float32 [N, C, H, W], any N

Eval mode (BatchNorm running statistics, dropout off), one input ``input`` and one output ``output``.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Any

from archc.errors import BackendError
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
        with warnings.catch_warnings(), _exportable_adaptive_pools(model), _without_attention_fast_path():
            warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
            warnings.filterwarnings("ignore", message=".*Constant folding - Only steps=1.*")
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
            # the image size is fixed by the spec (only the batch is dynamic), so sizes the ops read from their input
            # are constants of the graph, as the tracer warns they will be (Swin's window padding, every export)
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning, module=r"archc\.backends\.")
            names = output_names(graph)
            torch.onnx.export(model, (example,), str(path), dynamo=False, opset_version=opset,
                              input_names=[INPUT_NAME], output_names=names,
                              dynamic_axes={INPUT_NAME: {0: "batch"}, **{name: {0: "batch"} for name in names}})
    except torch.onnx.errors.OnnxExporterError as exc:
        # the exporter's message ends in a dump of its TorchScript graph: the first line says what is missing
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BackendError(f"{graph.name_}: cannot be exported to ONNX (opset {opset}): {reason}") from None
    finally:
        model.train(was_training)


@contextlib.contextmanager
def _without_attention_fast_path() -> Any:
    """nn.MultiheadAttention takes its fused kernel (``aten::_native_multi_head_attention``, which ONNX has no
    operator for) in eval mode when no parameter needs a gradient, as in a folded (``--optimize``) model; while
    exporting it computes the same with the plain ops instead."""
    import torch

    enabled = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(enabled)


def _explicit_adaptive_pool(pool: Any) -> Any:
    """``pool`` (an nn.AdaptiveAvgPool2d / AdaptiveMaxPool2d) as slices of its input, where ONNX has no operator.

    ONNX exports an adaptive pool only when each output size divides the input size (it becomes a plain pool). For
    the other sizes (VGG's or AlexNet's 7 x 7 / 6 x 6 pool at a smaller resolution) this does what torch's kernel
    does: output cell ``i`` covers input rows ``floor(i * H / h)`` to ``ceil((i + 1) * H / h)``, and the same for
    columns. The image size is fixed by the spec, so the slices are constants of the exported graph.
    """
    import torch
    from torch import nn

    reduce = torch.amax if isinstance(pool, nn.AdaptiveMaxPool2d) else torch.mean

    class ExplicitAdaptivePool(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            height, width = int(x.shape[-2]), int(x.shape[-1])
            size = pool.output_size if isinstance(pool.output_size, tuple) else (pool.output_size,) * 2
            out_h, out_w = (height if size[0] is None else size[0]), (width if size[1] is None else size[1])
            if height % out_h == 0 and width % out_w == 0:
                return pool(x)
            rows = [(i * height // out_h, -(-(i + 1) * height // out_h)) for i in range(out_h)]
            cols = [(j * width // out_w, -(-(j + 1) * width // out_w)) for j in range(out_w)]
            cells = [torch.stack([reduce(x[..., top:bottom, left:right], dim=(-2, -1)) for left, right in cols], -1)
                     for top, bottom in rows]
            return torch.stack(cells, -2)

    return ExplicitAdaptivePool()


@contextlib.contextmanager
def _exportable_adaptive_pools(model: Any) -> Any:
    """Swap every adaptive pool module of ``model`` for its explicit form while exporting, then put it back: the
    module tree (names, state_dict) of the user's model is unchanged afterwards, and the pools hold no weights."""
    from torch import nn

    swapped = []
    for name, module in list(model.named_modules()):
        if isinstance(module, nn.AdaptiveAvgPool2d) or (
                isinstance(module, nn.AdaptiveMaxPool2d) and not module.return_indices):
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name)
            swapped.append((parent, child, module))
            setattr(parent, child, _explicit_adaptive_pool(module))
    try:
        yield
    finally:
        for parent, child, module in swapped:
            setattr(parent, child, module)


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
