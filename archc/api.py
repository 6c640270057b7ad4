"""The public Python API: parse, build_graph, summarize, load."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from archc.errors import SpecError
from archc.ir.draft import GraphDraft, GraphMethods
from archc.passes.cost import Summary, summarize_graph
from archc.passes.limits import Limits, check_limits
from archc.spec.parse import Spec, parse

if TYPE_CHECKING:
    from archc.ir.graph import Graph


def build_graph(spec: Any, strict: bool = True, overrides: list[str] | dict[str, Any] | None = None,
                allow_paths: list[Any] | None = None, **params: Any) -> Graph:
    """Expand a spec (anything ``parse`` accepts) into the graph IR, with shapes and costs inferred.

    ``overrides`` (``["key=value", ...]`` as from ``--set``, or a dict) and keyword arguments set ``params``.
    ``allow_paths``: folders outside the spec's own that its ``extends:`` may read.
    Raises SpecError listing every problem: those of the top level and, where the rest of the spec can still be
    read, those of the network too. With ``strict=False`` a spec with errors still gives the graph of its valid
    part; the problems are in ``graph.diagnostics`` and failing nodes carry an ``error`` message.
    """
    from archc.ir.graph import Graph

    return Graph.adopt(draft_graph(spec, strict, overrides, allow_paths, **params))


def draft_graph(spec: Any, strict: bool = True, overrides: list[str] | dict[str, Any] | None = None,
                allow_paths: list[Any] | None = None, **params: Any) -> GraphDraft:
    """``build_graph`` without networkx: the same IR, as the networkx-free draft expansion fills (for commands that
    only read it, such as ``archc validate``; networkx is a third of their start-up)."""
    from archc.spec.expand import expand

    if not isinstance(spec, Spec) or params or overrides:
        try:
            spec = parse(spec, overrides, allow_paths, **params)
        except SpecError as exc:
            partial = getattr(exc, "partial", None)
            if partial is None:
                raise
            graph = expand(partial.tree, partial.model, strict=False)
            graph.diagnostics[:0] = exc.diagnostics
            if strict:
                raise SpecError(graph.diagnostics) from None
            return graph
    return expand(spec.tree, spec.model, strict=strict)


def summarize(spec: Any, batch_size: int = 1, depth: int = 0,
              overrides: list[str] | dict[str, Any] | None = None, allow_paths: list[Any] | None = None,
              **params: Any) -> Summary:
    """Per-node output shape, parameters and MACs, and exact totals, for a spec or a built Graph.

    ``depth`` groups rows by the first N levels of their names. A spec parameter whose name clashes with an option
    of this function (``depth``, ``batch_size``) is set through ``overrides={"depth": 56}``.
    """
    graph = spec if isinstance(spec, GraphMethods) else draft_graph(spec, overrides=overrides,
                                                                    allow_paths=allow_paths, **params)
    return summarize_graph(graph, batch_size=batch_size, depth=depth)


#: backend name -> module; each module provides DEFAULT_SUFFIX, build_model(graph, seed) and save(model, graph, path)
BACKENDS = {"torch": "archc.backends.torch", "keras": "archc.backends.keras", "onnx": "archc.backends.onnx"}
#: the file suffix of each backend (its DEFAULT_SUFFIX), known without importing the backend
BACKEND_SUFFIXES = {".pt2": "torch", ".keras": "keras", ".onnx": "onnx"}


def backend_module(name: str) -> Any:
    """Import a backend lazily; the core never imports torch or tensorflow itself."""
    import importlib

    from archc.errors import SpecError, did_you_mean

    if name not in BACKENDS:
        hint = did_you_mean(name, list(BACKENDS)) or "known: " + ", ".join(BACKENDS)
        raise SpecError(f"unknown backend '{name}' ({hint})")
    return importlib.import_module(BACKENDS[name])


def lower(graph: Graph, backend: str = "torch", seed: int | None = None, limits: Limits | None = None,
          batch_size: int = 1) -> Any:
    """``graph`` as a model of ``backend``, after checking the limits (see archc/passes/limits.py)."""
    check_limits(graph, limits, batch_size)  # before the backend's import: a refusal is quick
    return backend_module(backend).build_model(graph, seed=seed)


def load(spec: Any, backend: str = "torch", seed: int | None = None,
         overrides: list[str] | dict[str, Any] | None = None, max_params: int | None = None,
         max_activation_bytes: int | None = None, checkpoint: str = "best", allow_paths: list[Any] | None = None,
         memory_efficient: bool = False, optimize: bool = False, outputs: list[str] | None = None,
         features: bool = False, **params: Any) -> Any:
    """Build a runnable model: ``archc.load("densenet121", backend="torch", num_classes=10)``.

    ``outputs=[node, ...]`` (node names, or namespaces for their last node) makes the model return those, in order:
    a list from torch, a multi-output keras.Model; ``features=True`` returns the end of every stage (``Graph.
    stage_ends``: the last node of each stride, as timm's ``features_only``). Either replaces the spec's
    ``outputs:``.

    ``spec`` is a path, zoo name, YAML text, dict or Spec; keyword arguments override the spec's ``params``
    (a parameter named like an option of this function — ``backend``, ``seed`` — goes in ``overrides={...}``).
    ``max_params`` / ``max_activation_bytes`` raise the limits checked before lowering (docs/limits.md);
    ``allow_paths`` lists folders outside the spec's own that its ``extends:`` may read.
    ``memory_efficient=True`` (torch): BatchNorm -> ReLU -> conv chains recompute their normalisation in backward
    instead of keeping it (docs/optimize.md). ``optimize=True``: an eval-only inference model, see ``optimize``.
    Returns a ``torch.nn.Module`` (a torch.fx.GraphModule) or a ``keras.Model``.

    ``spec`` may also be a run folder of ``archc train``: then the result is the trained model, the run's spec with
    the weights of its ``checkpoint`` (``"best"``, ``"last"`` or a checkpoint file), in eval mode, for either backend
    (the weights convert by node name). A run's spec cannot be changed, so no params or overrides go with it.
    """
    from archc.train.runs import is_run

    if isinstance(spec, (str, os.PathLike)) and is_run(spec):
        from archc.train.errors import TrainError
        from archc.train.trained import load_run

        if params or overrides or seed is not None:
            raise TrainError(f"{spec} is a trained run: its spec and weights are fixed (no params, overrides, seed)")
        return _apply_passes(load_run(spec, backend, checkpoint), backend, memory_efficient, optimize)
    if memory_efficient and backend != "torch":  # before building: refused at once
        raise SpecError(f"memory_efficient=True is not available for the {backend} backend")
    graph = build_graph(spec, overrides=overrides, allow_paths=allow_paths, **params)
    if features:
        select_features(graph)
    elif outputs is not None:
        select_outputs(graph, outputs)
    return _apply_passes(lower(graph, backend, seed, Limits.of(max_params, max_activation_bytes)), backend,
                         memory_efficient, optimize)


def select_features(graph: Graph) -> None:
    """``features=True``: make ``graph`` return its stage ends; a net without [C, H, W] maps (an MLP) has none."""
    ends = graph.stage_ends()
    if not ends:
        raise SpecError(f"features=True: '{graph.name_}' has no feature maps (no [C, H, W] node before pooling to "
                        "1 x 1 or flattening); name the nodes to return with outputs=[...]")
    select_outputs(graph, ends)


def select_outputs(graph: Graph, names: list[str] | None) -> None:
    """Make ``graph`` return the nodes ``names`` (a namespace stands for its last node), in order."""
    if not names:
        raise SpecError("outputs: name at least one node (or pass features=True)")
    order = list(graph.order())
    chosen = []
    for name in names:
        if name in graph and name != graph.input_node:
            chosen.append(name)
            continue
        inside = [node for node in order if node.startswith(f"{name}.")]
        if not inside:
            from archc.errors import did_you_mean

            raise SpecError(f"outputs: unknown node '{name}'" +
                            (f" ({hint})" if (hint := did_you_mean(name, order)) else ""))
        chosen.append(inside[-1])
    graph.graph["outputs"] = chosen


def _apply_passes(model: Any, backend: str, memory_efficient: bool, optimize: bool) -> Any:
    if not (memory_efficient or optimize):
        return model
    passes = getattr(backend_module(backend), "apply_passes", None)
    if passes is None or (memory_efficient and backend != "torch"):
        option = "memory_efficient" if memory_efficient else "optimize"
        raise SpecError(f"{option}=True is not available for the {backend} backend")
    return passes(model, memory_efficient=memory_efficient, optimize=optimize)


def optimize_for_export(model: Any, backend: str) -> Any:
    """``optimize`` with nothing run-time only (torch: no prepacked oneDNN weights): for .pt2, ONNX and .keras."""
    return optimize(model) if backend == "keras" else optimize(model, prepack=False)


def optimize(model: Any, **options: Any) -> Any:
    """An eval-only copy of a model built by archc, for inference: BatchNorm folded into the preceding conv / linear,
    activations fused into it, identities and dropouts dropped (docs/optimize.md). The model is not changed.

    Torch: options of ``archc.backends.torch.fold.optimize`` (``prepack``). Keras: none.
    Outputs equal the model's own in eval mode to float32 rounding.
    """
    name = "keras" if type(model).__module__.split(".")[0] in ("keras", "tf_keras") else "torch"
    if name == "torch" and not hasattr(model, "graph"):
        raise SpecError("archc.optimize takes a model built by archc (a torch.fx.GraphModule or a keras.Model)")
    return backend_module(name).optimize(model, **options)
