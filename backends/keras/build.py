"""Lower an archc graph to a functional ``keras.Model`` (NHWC) through the per-op lowering registry."""

from __future__ import annotations

import re
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import keras

from archc.backends.keras.registry import LOWERINGS, get_lowering
from archc.errors import Diagnostic, SpecError, lowering_node
from archc.ir.graph import Graph
from archc.ir.node import OpNode
from archc.transfer import keras_layer_name


class KerasBuilder:
    """State shared by the lowerings while one graph is built: the graph, the seed and the layer names in use.

    Layers that carry a node's computation are named ``layer_name(node)``: exactly the node name (checkpoint
    contract), except on Keras' torch backend, which cannot hold dots in names (``archc.transfer.keras_layer_name``).
    Helper layers (padding, permutes, reshapes) get ``aux_name(node, role)``: ``node__role``, made unique.
    """

    def __init__(self, graph: Graph, seed: int | None):
        self.graph = graph
        self.seed = seed
        self.keras_backend = keras.backend.backend()
        self.used: set[str] = {self.layer_name(node) for node in graph.nodes}

    def layer_name(self, node: str) -> str:
        return keras_layer_name(node, self.keras_backend)

    def aux_name(self, node: str, role: str) -> str:
        base = candidate = self.layer_name(f"{node}__{role}")
        count = 0
        while candidate in self.used:
            count += 1
            candidate = f"{base}_{count}"
        self.used.add(candidate)
        return candidate

    def child_name(self, node: str, child: str) -> str:
        """The layer holding the tensors of a child module of ``node`` (``<node>.qkv``: ``TensorDecl.keras_place``),
        named so that its torch keys follow from the layer name; it must not be a node's name."""
        name = f"{node}.{child}"
        if name in self.graph.nodes:
            data = self.graph.nodes[name]
            raise SpecError(Diagnostic(f"node '{name}' has the name of a part of node '{node}' (its '{child}' tensors)",
                                       data.get("pos"), data.get("path", ""), "rename one of the two nodes"))
        self.used.add(self.layer_name(name))
        return self.layer_name(name)

    def seed_for(self, node: str, role: str) -> int | None:
        """A per-tensor seed derived from the model seed and the node name, so weights do not depend on order."""
        if self.seed is None:
            return None
        return zlib.crc32(f"{self.seed}:{node}:{role}".encode()) & 0x7FFFFFFF

    def node(self, name: str) -> dict[str, Any]:
        return self.graph.nodes[name]



def keras_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Logical CHW -> Keras HWC; feature vectors and [N, D] tokens unchanged."""
    return (*shape[1:], shape[0]) if len(shape) == 3 else tuple(shape)


def _check(graph: Graph) -> None:
    problems = [Diagnostic(data.get("error") or "node has no shape", data.get("pos"), data.get("path", ""))
                for _, data in graph.nodes(data=True) if data.get("error") or data.get("shape") is None]
    if problems:
        raise SpecError(problems)
    shape = graph.nodes[graph.input_node]["shape"]
    if len(shape) not in (1, 2, 3):
        raise SpecError(Diagnostic(f"the keras backend takes [C, H, W], [N, D] or [features] inputs, got {list(shape)}",
                                   graph.nodes[graph.input_node].get("pos"), "input.shape"))


def build_model(graph: Graph, seed: int | None = None) -> keras.Model:
    """A functional ``keras.Model`` computing the same function as the torch backend, in NHWC.

    Built-in layers only; every layer that holds weights is named exactly as its node (on Keras' torch backend with
    ">" for "."; see ``archc.transfer.keras_layer_name``).
    """
    _check(graph)
    builder = KerasBuilder(graph, seed)
    _reserve_auto_names(builder.used)
    input_data = graph.nodes[graph.input_node]
    inputs = keras.Input(shape=keras_shape(tuple(input_data["shape"])), name=builder.layer_name(graph.input_node))
    tensors: dict[str, Any] = {graph.input_node: inputs}
    for name, data in graph.op_nodes():
        if data["op"] not in LOWERINGS:
            raise SpecError(Diagnostic(f"the keras backend has no lowering for op '{data['op']}'", data.get("pos"),
                                       data.get("path", ""), "register one with archc.backends.keras.register_lowering "
                                       "(docs/plugins.md)"))
        lowering = get_lowering(data["op"])
        with lowering_node(name, data):
            tensors[name] = lowering(builder, OpNode.of(graph, name), [tensors[source] for source in data["inputs"]])
    with _recursion_limit(8 * len(builder.used) + 1000):
        outputs = [tensors[output] for output in graph.outputs]  # several: a multi-output model, in order
        return keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=graph.graph.get("name") or None)


_NUMBERED = re.compile(r"^(.*?)(?:_(\d+))?$")


def _reserve_auto_names(names: set[str]) -> None:
    """Keras names what it names itself (``keras.ops`` inside a lowering, an unnamed helper layer) from a global
    counter per prefix: ``add``, ``add_1``, ... A node named ``add_1`` (archc's name for a second unnamed add) would
    then be a second operation of that name, which ``keras.Model`` refuses. Move each counter past the nodes' numbers
    (``keras.backend.get_uid`` counts the table Keras' own names use)."""
    for name in names:
        match = _NUMBERED.match(name)
        base, number = (match.group(1), int(match.group(2))) if match and match.group(2) else (name, 0)
        while keras.backend.get_uid(base) <= number:
            pass
        if base != name:
            keras.backend.get_uid(name)


@contextmanager
def _recursion_limit(limit: int) -> Iterator[None]:
    """Keras maps a functional graph by recursion, one level per layer on the longest path (ResNet-1202: ~5000)."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)
