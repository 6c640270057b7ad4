"""Summary pass: per-node shapes, parameters, MACs and activation memory, with exact totals."""

from __future__ import annotations

from dataclasses import dataclass, field

from archc.ir.draft import GraphMethods
from archc.ops.registry import numel


@dataclass(frozen=True)
class Row:
    name: str
    op: str
    shape: tuple[int, ...] | None
    params: int
    macs: int


@dataclass
class Summary:
    """What `archc summary` prints. MACs count conv / linear multiply-accumulates; FLOPs = 2 × MACs."""

    name: str
    input_shape: tuple[int, ...] | None
    output_shape: tuple[int, ...] | None
    rows: list[Row] = field(default_factory=list)
    params: int = 0
    buffers: int = 0
    macs: int = 0
    activations: int = 0  # elements of every node output for one sample
    nodes: int = 0
    batch_size: int = 1
    bytes_per_element: int = 4
    #: with several outputs: (node, shape, stride) of each, in order (stride None for [features])
    outputs: list[tuple[str, tuple[int, ...] | None, tuple[int, int] | None]] = field(default_factory=list)

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def activation_bytes(self) -> int:
        """Forward activations kept for backward (every node output), for ``batch_size`` samples, float32."""
        return self.activations * self.batch_size * self.bytes_per_element

    def totals(self) -> dict[str, int]:
        return {"params": self.params, "buffers": self.buffers, "macs": self.macs, "flops": self.flops,
                "activation_bytes": self.activation_bytes, "nodes": self.nodes}


def group_of(name: str, depth: int) -> str:
    return ".".join(name.split(".")[:depth]) if depth > 0 else name


def summarize_graph(graph: GraphMethods, batch_size: int = 1, depth: int = 0) -> Summary:
    """Rows per node (``depth`` 0) or per namespace prefix of ``depth`` levels, plus totals."""
    summary = Summary(graph.graph.get("name", ""), graph.nodes[graph.input_node]["shape"],
                      graph.nodes[graph.output_node]["shape"], batch_size=batch_size)
    if len(graph.outputs) > 1:
        summary.outputs = [(name, graph.nodes[name]["shape"], graph.stride_of(name)) for name in graph.outputs]
    grouped: dict[str, list] = {}
    for name, data in graph.op_nodes():
        summary.params += data["params"]
        summary.buffers += data["buffers"]
        summary.macs += data["macs"]
        summary.nodes += 1
        if data["shape"] is not None:
            summary.activations += numel(data["shape"])
        key = group_of(name, depth)
        if key not in grouped:
            grouped[key] = [data["op"] if key == name else "group", data["shape"], 0, 0]
        entry = grouped[key]
        entry[1] = data["shape"]
        entry[2] += data["params"]
        entry[3] += data["macs"]
    summary.rows = [Row(key, op, shape, params, macs) for key, (op, shape, params, macs) in grouped.items()]
    return summary
