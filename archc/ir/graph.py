"""The IR: a networkx DiGraph with one node per primitive op, keyed by stable hierarchical names.

Node data: ``op`` (op name), ``attrs`` (the validated OpSpec, None where validation failed), ``inputs`` (input node
names in port order — authoritative, since an op may read the same tensor twice), ``shape`` (logical output shape,
None when unknown after an error), ``params`` / ``buffers`` / ``macs``, ``pos`` (source Position), ``path`` (spec
path), ``auto_name`` (True when archc chose the name) and ``error`` (a message, on nodes that failed).
Nodes are inserted in a topological order, which ``Graph.order()`` returns, so every pass is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import networkx as nx

from archc.errors import Diagnostic


class Graph(nx.DiGraph):
    """An archc network. ``graph.graph`` holds ``name``, ``input``, ``output`` and ``diagnostics``."""

    @property
    def name_(self) -> str:
        return self.graph.get("name", "")

    @property
    def input_node(self) -> str:
        return self.graph["input"]

    @property
    def output_node(self) -> str:
        return self.graph["output"]

    @property
    def outputs(self) -> list[str]:
        """The nodes the model returns, in order: the spec's ``outputs:`` (or ``archc.load(outputs=...)``), else the
        output node alone. With more than one, torch returns a list and Keras is a multi-output model."""
        return list(self.graph.get("outputs") or [self.output_node])

    def stride_of(self, node: str) -> tuple[int, int] | None:
        """How many input pixels one output pixel of ``node`` spans (height, width); None for [features] nodes."""
        shape, first = self.nodes[node]["shape"], self.nodes[self.input_node]["shape"]
        if shape is None or len(shape) != 3 or len(first) != 3:
            return None
        return max(1, round(first[1] / shape[1])), max(1, round(first[2] / shape[2]))

    def stage_ends(self) -> list[str]:
        """``features=True``: the last node of each stage, a stage being the nodes of one stride (as timm's
        feature_info: where the resolution changes), in order, up to the last [C, H, W] node before pooling to 1 x 1
        or flattening."""
        ends: dict[tuple[int, int], str] = {}
        for name, data in self.op_nodes():
            stride = self.stride_of(name)
            if stride is None or data["shape"][1:] == (1, 1):
                continue
            ends.pop(stride, None)  # keep first-appearance order, last node
            ends[stride] = name
        return sorted(ends.values(), key=list(self.order()).index)

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return self.graph.setdefault("diagnostics", [])

    def add_op_node(self, name: str, data: dict[str, Any]) -> None:
        """Add a new node with ``data`` (which holds ``inputs``: existing nodes; each edge's ``port`` is the first
        place its source appears). The same as ``add_node`` plus ``add_edge``, without their per-call overhead:
        expansion adds up to hundreds of thousands of nodes."""
        succ, pred = self._succ, self._pred
        succ[name] = self.adjlist_inner_dict_factory()
        pred[name] = in_edges = self.adjlist_inner_dict_factory()
        attrs = self._node[name] = self.node_attr_dict_factory()
        attrs.update(data)
        for port, source in enumerate(data["inputs"]):
            if source not in in_edges:
                edge = self.edge_attr_dict_factory()
                edge["port"] = port
                succ[source][name] = in_edges[source] = edge
        cache = getattr(self, "__networkx_cache__", None)
        if cache:
            cache.clear()

    def order(self) -> list[str]:
        """Nodes in deterministic topological order (the order of expansion)."""
        return list(self.nodes)

    def op_nodes(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(name, data) for every node except the input, in order."""
        for name, data in self.nodes(data=True):
            if data["op"] != "input":
                yield name, data

    def total(self, key: str) -> int:
        return sum(data.get(key) or 0 for _, data in self.nodes(data=True))

    @property
    def num_params(self) -> int:
        return self.total("params")

    @property
    def num_buffers(self) -> int:
        return self.total("buffers")

    @property
    def num_macs(self) -> int:
        return self.total("macs")
