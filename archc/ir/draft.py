"""The IR as expansion builds it, without networkx: :class:`GraphDraft` keeps the very dicts a networkx DiGraph
keeps (``graph``, ``_node``, ``_succ``, ``_pred``), and :meth:`archc.ir.graph.Graph.adopt` makes it the networkx
graph without copying. A command that only reads the IR (``archc validate``, ``summary``, ``render``) never imports
networkx, about a third of its start-up (docs/optimize.md, "Start-up").

:class:`GraphMethods` holds archc's own questions about a graph, written against those dicts, so the draft and the
networkx ``Graph`` answer them alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from archc.errors import Diagnostic


class GraphMethods:
    """archc's view of an IR graph; ``graph.graph`` holds ``name``, ``input``, ``output`` and ``diagnostics``."""

    graph: dict[str, Any]
    _node: dict[str, dict[str, Any]]
    _succ: dict[str, dict[str, dict[str, Any]]]
    _pred: dict[str, dict[str, dict[str, Any]]]
    nodes: Any  # name -> data: networkx's NodeView in Graph, the node dict itself in GraphDraft

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
        shape, first = self._node[node]["shape"], self._node[self.input_node]["shape"]
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
        return list(self._node)

    def op_nodes(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(name, data) for every node except the input, in order."""
        for name, data in self._node.items():
            if data["op"] != "input":
                yield name, data

    def total(self, key: str) -> int:
        return sum(data.get(key) or 0 for data in self._node.values())

    @property
    def num_params(self) -> int:
        return self.total("params")

    @property
    def num_buffers(self) -> int:
        return self.total("buffers")

    @property
    def num_macs(self) -> int:
        return self.total("macs")


class GraphDraft(GraphMethods):
    """The IR before it is a networkx graph: what expansion fills and what ``archc validate`` reads. It offers the
    few networkx reads expansion makes (``name in draft``, ``len``, iteration, ``draft.nodes[name]``, ``add_node``);
    everything else takes the :class:`~archc.ir.graph.Graph` that ``archc.build_graph`` returns."""

    # networkx's factory hooks, read by add_op_node: plain dicts, as networkx's defaults
    node_dict_factory = node_attr_dict_factory = adjlist_outer_dict_factory = dict
    adjlist_inner_dict_factory = edge_attr_dict_factory = dict

    def __init__(self, **attr: Any):
        self.graph = dict(attr)
        self._node, self._succ, self._pred = {}, {}, {}

    @property
    def nodes(self) -> dict[str, dict[str, Any]]:
        """node name -> node data (in networkx, ``graph.nodes[name]`` reads the same dict)."""
        return self._node

    def __contains__(self, name: object) -> bool:
        try:
            return name in self._node
        except TypeError:  # an unhashable name, as networkx answers
            return False

    def __len__(self) -> int:
        return len(self._node)

    def __iter__(self) -> Iterator[str]:
        return iter(self._node)

    def add_node(self, name: str, **attr: Any) -> None:
        """networkx's ``add_node``: a new node without edges, or more data for an existing one."""
        if name not in self._succ:
            self._succ[name], self._pred[name] = {}, {}
            self._node[name] = {}
        self._node[name].update(attr)
