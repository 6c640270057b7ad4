"""The typed view of one graph node that every backend's lowerings receive (torch extends it with build options)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archc.ops.registry import OpSpec, Shape


@dataclass(frozen=True)
class OpNode:
    """What a lowering sees of one graph node: its name, op, validated attributes and the shapes around it."""

    name: str
    op: str
    attrs: OpSpec
    input_shapes: tuple[Shape, ...]
    shape: Shape
    #: the nodes it reads, in port order
    inputs: tuple[str, ...] = ()

    @property
    def in_channels(self) -> int:
        return self.input_shapes[0][0]

    @classmethod
    def of(cls, graph: Any, name: str, **extra: Any) -> OpNode:
        """The node ``name`` of an archc Graph."""
        data = graph.nodes[name]
        shapes = tuple(tuple(graph.nodes[source]["shape"]) for source in data["inputs"])
        return cls(name, data["op"], data["attrs"], shapes, tuple(data["shape"]), tuple(data["inputs"]), **extra)
