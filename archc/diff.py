"""What changed between two networks: nodes added, removed and changed, output shapes, and cost per stage.

Nodes are matched by name, since names are the checkpoint contract: a node that keeps its name keeps its weights.

    >>> import archc
    >>> from archc.diff import diff_graphs
    >>> change = diff_graphs(archc.build_graph("resnet50"), archc.build_graph("resnet50", stride_on="conv1"))
    >>> change.total.macs_delta
    -231211008

The core of ``archc diff``; it reads only the IR (no torch, no keras).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archc.ir.graph import Graph
from archc.passes.cost import group_of

Shape = tuple[int, ...]


@dataclass(frozen=True)
class NodeInfo:
    """A node that is in only one of the two graphs."""

    name: str
    op: str
    shape: Shape | None
    params: int
    macs: int
    group: str = ""  # the shortest prefix of the name that the other graph lacks: a new block, or the node itself
    connection: str | None = None  # the connection that made the node (node data ``connection``): kind and name
    connection_kind: str | None = None


@dataclass(frozen=True)
class AttrChange:
    """One attribute of a node, before and after (``None``: the attribute does not exist on that side)."""

    name: str
    old: Any
    new: Any


@dataclass(frozen=True)
class NodeChange:
    """A node of both graphs whose op, attributes or inputs differ."""

    name: str
    op_old: str
    op_new: str
    attrs: tuple[AttrChange, ...] = ()
    inputs_old: tuple[str, ...] | None = None  # set (both) only when the inputs differ
    inputs_new: tuple[str, ...] | None = None
    connection_old: str | None = None  # the kinds of the connections that made it, set only when they differ
    connection_new: str | None = None

    @property
    def op_changed(self) -> bool:
        return self.op_old != self.op_new

    @property
    def inputs_changed(self) -> bool:
        return self.inputs_old is not None

    @property
    def connection_changed(self) -> bool:
        return self.connection_old != self.connection_new


@dataclass(frozen=True)
class ShapeChange:
    """A node of both graphs whose inferred output shape differs."""

    name: str
    old: Shape | None
    new: Shape | None


@dataclass(frozen=True)
class CostDelta:
    """Parameters and MACs of one name group (or of the whole network) in A and in B.

    ``in_a`` / ``in_b`` say whether the group has nodes in each graph (a group of only parameter-free nodes still
    exists)."""

    name: str
    params_a: int
    params_b: int
    macs_a: int
    macs_b: int
    in_a: bool = True
    in_b: bool = True

    @property
    def params_delta(self) -> int:
        return self.params_b - self.params_a

    @property
    def macs_delta(self) -> int:
        return self.macs_b - self.macs_a

    @property
    def changed(self) -> bool:
        return self.params_delta != 0 or self.macs_delta != 0 or self.in_a != self.in_b


@dataclass
class GraphDiff:
    """The difference from graph A to graph B (what ``archc diff A B`` prints).

    ``stages`` has one entry per name group of ``depth`` levels (``depth`` 0: one per node), in network order;
    ``total`` sums the whole network.
    """

    name_a: str
    name_b: str
    depth: int
    added: list[NodeInfo] = field(default_factory=list)
    removed: list[NodeInfo] = field(default_factory=list)
    changed: list[NodeChange] = field(default_factory=list)
    shapes: list[ShapeChange] = field(default_factory=list)
    stages: list[CostDelta] = field(default_factory=list)
    total: CostDelta = field(default_factory=lambda: CostDelta("total", 0, 0, 0, 0))

    @property
    def identical(self) -> bool:
        """No node added, removed or changed, and no shape changed (names of the specs may still differ)."""
        return not (self.added or self.removed or self.changed or self.shapes)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``archc diff --json``: lists, ints, strings, floats and bools only."""
        return {
            "a": self.name_a,
            "b": self.name_b,
            "identical": self.identical,
            "depth": self.depth,
            "added": [_node_dict(node) for node in self.added],
            "removed": [_node_dict(node) for node in self.removed],
            "changed": [_change_dict(change) for change in self.changed],
            "shapes": [{"name": s.name, "old": _list(s.old), "new": _list(s.new)} for s in self.shapes],
            "stages": [_cost_dict(stage) for stage in self.stages],
            "total": _cost_dict(self.total),
        }


def diff_graphs(graph_a: Graph, graph_b: Graph, depth: int = 1) -> GraphDiff:
    """Compare two built graphs node by node (matched by name) and stage by stage.

    ``depth`` is the number of name levels that make a stage: 1 groups ``layer1.0.conv1`` under ``layer1``; 0 gives
    one row per node. The input node takes part like any other, so a changed input shape is reported.
    """
    if depth < 0:
        raise ValueError(f"depth must be 0 or more, got {depth}")
    result = GraphDiff(graph_a.graph.get("name", ""), graph_b.graph.get("name", ""), depth)
    nodes_a, nodes_b = graph_a.nodes, graph_b.nodes
    added = [name for name in nodes_b if name not in nodes_a]
    removed = [name for name in nodes_a if name not in nodes_b]
    if added:
        prefixes_a = _prefixes(graph_a)
        result.added = [_info(name, nodes_b[name], prefixes_a) for name in added]
    if removed:
        prefixes_b = _prefixes(graph_b)
        result.removed = [_info(name, nodes_a[name], prefixes_b) for name in removed]
    for name, data in nodes_a.items():
        if name not in nodes_b:
            continue
        other = nodes_b[name]
        change = _node_change(name, data, other)
        if change is not None:
            result.changed.append(change)
        if data.get("shape") != other.get("shape"):
            result.shapes.append(ShapeChange(name, _shape(data.get("shape")), _shape(other.get("shape"))))
    # changes in B's order: the order a reader of the new network follows
    order_b = {name: index for index, name in enumerate(nodes_b)}
    result.changed.sort(key=lambda change: order_b[change.name])
    result.shapes.sort(key=lambda change: order_b[change.name])
    result.stages = _stage_costs(graph_a, graph_b, depth)
    result.total = CostDelta("total", graph_a.num_params, graph_b.num_params, graph_a.num_macs, graph_b.num_macs)
    return result


def diff_specs(spec_a: Any, spec_b: Any, overrides_a: list[str] | dict[str, Any] | None = None,
               overrides_b: list[str] | dict[str, Any] | None = None, depth: int = 1) -> GraphDiff:
    """Build two specs (paths, zoo names, YAML text, dicts) with their own ``--set``-style overrides and diff them.

    Raises SpecError if either spec has errors.
    """
    from archc.api import build_graph

    return diff_graphs(build_graph(spec_a, overrides=overrides_a), build_graph(spec_b, overrides=overrides_b), depth)


def grouped(nodes: list[NodeInfo]) -> list[tuple[str, list[NodeInfo]]]:
    """Added (or removed) nodes grouped by ``NodeInfo.group``, in order: for ``resnet50`` -> ``se_resnet50`` the 96
    added nodes form 16 groups ``layer1.0.se`` ... ``layer4.2.se`` of 6 nodes each."""
    groups: dict[str, list[NodeInfo]] = {}
    for node in nodes:
        groups.setdefault(node.group, []).append(node)
    return list(groups.items())


def _prefixes(graph: Graph) -> set[str]:
    """Every node name and every namespace (dotted prefix of a name) of a graph."""
    out: set[str] = set()
    for name in graph.nodes:
        parts = name.split(".")
        out.update(".".join(parts[:cut]) for cut in range(1, len(parts) + 1))
    return out


def _new_prefix(name: str, other: set[str]) -> str:
    """The shortest prefix of ``name`` that is no name or namespace of the other graph."""
    parts = name.split(".")
    for cut in range(1, len(parts) + 1):
        prefix = ".".join(parts[:cut])
        if prefix not in other:
            return prefix
    return name


def _info(name: str, data: dict[str, Any], other: set[str]) -> NodeInfo:
    connection = data.get("connection") or {}
    return NodeInfo(name, data.get("op", ""), _shape(data.get("shape")), data.get("params") or 0,
                    data.get("macs") or 0, _new_prefix(name, other), connection.get("name"), connection.get("kind"))


def _connection_kind(data: dict[str, Any]) -> str | None:
    connection = data.get("connection")
    return connection["kind"] if connection else None


def _shape(shape: Any) -> Shape | None:
    return None if shape is None else tuple(shape)


def _attr_values(attrs: Any) -> dict[str, Any]:
    """An op's attributes as plain values, with kernel / stride / padding / dilation as their effective (height,
    width), one number when both agree: ``kernel: 3`` and ``kernel: [3, 3]``, or a default padding and the same
    padding written out, compare equal."""
    if attrs is None:
        return {}
    values = attrs.model_dump(mode="json")
    for key in values:
        derived = getattr(attrs, f"{key}_hw", None)
        if derived is not None:
            height, width = derived
            values[key] = height if height == width else [height, width]
    return values


def _node_change(name: str, old: dict[str, Any], new: dict[str, Any]) -> NodeChange | None:
    values_old, values_new = _attr_values(old.get("attrs")), _attr_values(new.get("attrs"))
    attrs = tuple(AttrChange(key, values_old.get(key), values_new.get(key))
                  for key in [*values_old, *(k for k in values_new if k not in values_old)]
                  if values_old.get(key) != values_new.get(key) or (key in values_old) != (key in values_new))
    inputs_old, inputs_new = tuple(old.get("inputs") or ()), tuple(new.get("inputs") or ())
    inputs_differ = inputs_old != inputs_new
    kind_old, kind_new = _connection_kind(old), _connection_kind(new)
    if old.get("op") == new.get("op") and not attrs and not inputs_differ and kind_old == kind_new:
        return None
    return NodeChange(name, old.get("op", ""), new.get("op", ""), attrs,
                      inputs_old if inputs_differ else None, inputs_new if inputs_differ else None,
                      kind_old, kind_new)


def _group_costs(graph: Graph, depth: int) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for name, data in graph.op_nodes():
        entry = groups.setdefault(group_of(name, depth), [0, 0])
        entry[0] += data.get("params") or 0
        entry[1] += data.get("macs") or 0
    return groups


def _stage_costs(graph_a: Graph, graph_b: Graph, depth: int) -> list[CostDelta]:
    groups_a, groups_b = _group_costs(graph_a, depth), _group_costs(graph_b, depth)
    stages = []
    for key in _merge_order(list(groups_a), list(groups_b)):
        params_a, macs_a = groups_a.get(key, (0, 0))
        params_b, macs_b = groups_b.get(key, (0, 0))
        stages.append(CostDelta(key, params_a, params_b, macs_a, macs_b, key in groups_a, key in groups_b))
    return stages


def _merge_order(order_a: list[str], order_b: list[str]) -> list[str]:
    """B's order, with each name found only in A placed right after the name it follows in A."""
    out = list(order_b)
    seen = set(out)
    previous: str | None = None
    for name in order_a:
        if name not in seen:
            out.insert(out.index(previous) + 1 if previous is not None else 0, name)
            seen.add(name)
        previous = name
    return out


def _list(shape: Shape | None) -> list[int] | None:
    return None if shape is None else list(shape)


def _node_dict(node: NodeInfo) -> dict[str, Any]:
    return {"name": node.name, "op": node.op, "shape": _list(node.shape), "params": node.params, "macs": node.macs,
            "group": node.group, "connection": node.connection_kind}


def _change_dict(change: NodeChange) -> dict[str, Any]:
    data: dict[str, Any] = {"name": change.name, "op": change.op_new}
    if change.op_changed:
        data["op"] = {"old": change.op_old, "new": change.op_new}
    data["attrs"] = {attr.name: {"old": attr.old, "new": attr.new} for attr in change.attrs}
    if change.inputs_changed:
        data["inputs"] = {"old": list(change.inputs_old or ()), "new": list(change.inputs_new or ())}
    if change.connection_changed:
        data["connection"] = {"old": change.connection_old, "new": change.connection_new}
    return data


def _cost_dict(cost: CostDelta) -> dict[str, Any]:
    return {"name": cost.name, "params_a": cost.params_a, "params_b": cost.params_b,
            "params_delta": cost.params_delta, "macs_a": cost.macs_a, "macs_b": cost.macs_b,
            "macs_delta": cost.macs_delta, "in_a": cost.in_a, "in_b": cost.in_b}
