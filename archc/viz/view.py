"""The drawing model: the IR graph seen as boxes, clusters and classified edges, independent of any output format.

``build_view(graph, depth)`` groups nodes by the namespaces of their names (``layer1.0.conv1`` lies in the groups
``layer1`` and ``layer1.0``), collapses every group deeper than ``depth`` levels into one box, classifies every edge
by the connection kind it belongs to (add, concat, gate, se) and attaches the spec's diagnostics to the nodes they
concern. The Graphviz, Mermaid and HTML writers only format a View.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from archc.errors import Diagnostic
from archc.ir.graph import Graph
from archc.ops.registry import has_trait

#: connection kind -> (what it is, the paper's formula); "data" is a plain tensor flowing to the next op
KINDS: dict[str, tuple[str, str]] = {
    "add": ("residual (add)", "y = F(x) + shortcut(x)"),
    "concat": ("dense (concat)", "layer l sees concat(x0 ... x(l-1))"),
    "gate": ("highway gate (sub, mul, add)", "y = x + T·(H(x) - x), T = sigmoid(W_T x + b_T)"),
    "se": ("squeeze-excitation (mul by sigmoid)", "y = x · sigmoid(W2 relu(W1 gap(x)))"),
}
#: connection kind -> the word a box uses for it
KIND_NAMES = {"add": "residual", "concat": "dense", "gate": "highway", "se": "SE"}
#: connection kind (node data ``connection.kind``) -> drawing kind
_KIND_OF_CONNECTION = {"residual": "add", "dense": "concat", "highway": "gate", "se": "se"}
_PATH_PART = re.compile(r"\.[^.\[\]]+$|\[\d+\]$")


@dataclass
class ViewNode:
    """One box: an op node, or a collapsed group (``op == "group"``)."""

    id: str
    label: str  # the name relative to the enclosing drawn group
    op: str
    shape: tuple[int, ...] | None
    params: int = 0
    macs: int = 0
    group: str | None = None  # the innermost drawn (expanded) group holding this box
    kind: str | None = None  # connection kind of a merge op, or the kinds inside a collapsed group
    attrs: dict[str, Any] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    position: str = ""
    count: int = 1  # op nodes inside (groups)
    kinds: list[str] = field(default_factory=list)  # connection kinds inside (groups)
    auto_name: bool = False  # archc chose the name (``relu_2``)
    description: str = ""  # what the op does, briefly: ``conv 3×3 /2``

    @property
    def is_group(self) -> bool:
        return self.op == "group"


@dataclass
class ViewEdge:
    source: str
    target: str
    kind: str  # data, add, concat, gate, se
    label: str = ""
    count: int = 1


@dataclass
class ViewGroup:
    """An expanded group, drawn as a cluster around its members."""

    id: str
    label: str
    parent: str | None
    params: int = 0
    macs: int = 0
    count: int = 0
    shape: tuple[int, ...] | None = None
    errors: int = 0  # diagnostics inside, on nodes or on the group itself
    messages: list[str] = field(default_factory=list)  # diagnostics of the group itself (a failed connection)


@dataclass
class View:
    name: str
    depth: int
    nodes: dict[str, ViewNode]
    edges: list[ViewEdge]
    groups: dict[str, ViewGroup]
    notes: list[str]  # diagnostics that no drawn node could carry
    params: int = 0
    macs: int = 0
    input_shape: tuple[int, ...] | None = None
    output_shape: tuple[int, ...] | None = None

    @property
    def kinds(self) -> list[str]:
        """Connection kinds present in the drawing, in the order of KINDS."""
        present = {e.kind for e in self.edges} | {k for n in self.nodes.values() for k in n.kinds}
        return [kind for kind in KINDS if kind in present]

    def children(self, group: str | None) -> tuple[list[str], list[str]]:
        """(groups, nodes) directly inside ``group`` (None: the top level), in drawing order."""
        groups = [g.id for g in self.groups.values() if g.parent == group]
        nodes = [n.id for n in self.nodes.values() if n.group == group]
        return groups, nodes


# ---- text helpers shared by the writers ------------------------------------------------------------------------
def shape_text(shape: tuple[int, ...] | None) -> str:
    return "?" if shape is None else "×".join(str(v) for v in shape)


def count_text(number: int) -> str:
    """12345 -> 12.3K, 25557032 -> 25.6M."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if number >= scale:
            return f"{number / scale:.1f}{suffix}"
    return str(number)


def _pair_text(value: tuple[int, int]) -> str:
    return str(value[0]) if value[0] == value[1] else f"{value[0]}×{value[1]}"


def op_text(op: str, attrs: Any) -> str:
    """A short description of an op: ``conv 3×3 /2``, ``linear 1000``, ``maxpool 3×3 /2``."""
    if attrs is None:
        return op
    if op == "conv":
        kh, kw = attrs.kernel_hw
        text = f"conv {kh}×{kw}"
        if attrs.stride_hw != (1, 1):
            text += f" /{_pair_text(attrs.stride_hw)}"
        if attrs.groups > 1:
            text += f" g{attrs.groups}"
        if attrs.dilation_hw != (1, 1):
            text += f" d{_pair_text(attrs.dilation_hw)}"
        return text
    if op == "linear":
        return f"linear {attrs.out}"
    if op in ("maxpool", "avgpool"):
        kernel = attrs.kernel if isinstance(attrs.kernel, int) else tuple(attrs.kernel)
        stride = attrs.stride or attrs.kernel
        k = kernel if isinstance(kernel, int) else "×".join(map(str, kernel))
        s = stride if isinstance(stride, int) else "×".join(map(str, stride))
        return f"{op} {k}×{k} /{s}" if isinstance(kernel, int) else f"{op} {k} /{s}"
    if op == "dropout":
        return f"dropout {getattr(attrs, 'p', '')}".rstrip()
    if op in _TOKEN_TEXT:
        return _TOKEN_TEXT[op](attrs)
    return op


def _window_text(attrs: Any) -> str:
    """``window_attention 7×7, shift 3, 3 heads``, and Swin V2's options where they are set."""
    parts = [f"window_attention {attrs.window}×{attrs.window}", *([f"shift {attrs.shift}"] if attrs.shift else []),
             f"{attrs.heads} heads", *(["cosine"] if attrs.cosine else []),
             *(["mlp bias"] if attrs.position_bias == "mlp" else [])]
    return ", ".join(parts)


_TOKEN_TEXT = {"window_attention": _window_text, "attention": lambda attrs: f"attention, {attrs.heads} heads",
               "patch_merging": lambda attrs: "patch_merging" + (", norm after" if attrs.norm == "after" else "")}


def attrs_dict(attrs: Any) -> dict[str, Any]:
    """The op's attributes as plain JSON-able values (for tooltips)."""
    if attrs is None:
        return {}
    out: dict[str, Any] = {}
    for key, value in attrs.model_dump().items():
        out[key] = list(value) if isinstance(value, tuple) else value
    return out


# ---- classification -----------------------------------------------------------------------------------------------
def connection_of(graph: Graph, name: str) -> str | None:
    """The drawing kind of a merge node, from the connection that made it (node data ``connection``); a merge
    written by hand (``{mul: {}, from: [x, gate]}``) is plain data flow, whatever its inputs look like."""
    data = graph.nodes[name]
    if not has_trait(data["op"], "merge"):
        return None
    connection = data.get("connection")
    return _KIND_OF_CONNECTION.get(connection["kind"]) if connection else None


_GATE_PORT_LABELS = {("sub", 0): "H", ("sub", 1): "x", ("mul", 0): "T", ("mul", 1): "H-x", ("add", 0): "x",
                     ("add", 1): "T(H-x)"}


def edge_label(kind: str, op: str, port: int, source_op: str) -> str:
    """A short visible label for an edge into a merge op: the term of the formula it carries."""
    if kind == "gate":
        return _GATE_PORT_LABELS.get((op, port), "")
    if kind == "se" and source_op == "sigmoid":
        return "σ"
    return ""


# ---- diagnostics ---------------------------------------------------------------------------------------------------
def _path_prefixes(path: str) -> list[str]:
    prefixes = []
    while path:
        prefixes.append(path)
        path = _PATH_PART.sub("", path) if _PATH_PART.search(path) else ""
    return prefixes


@dataclass
class Attached:
    """Diagnostics placed on the drawing: on nodes, on groups (namespaces), or nowhere (``notes``)."""

    nodes: dict[str, list[str]] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def attach_diagnostics(graph: Graph) -> Attached:
    """Place each diagnostic of ``graph`` where a reader will look for it.

    A diagnostic belongs to the nodes whose own ``error`` it is. Otherwise a connection or template failed after
    building part of its body: the diagnostic goes to the namespace of the last node built from the spec path it
    names (before the first node of unknown shape), or to that node where it has no namespace.
    """
    names = [n for n, _ in graph.op_nodes()]
    first_unknown = next((i for i, n in enumerate(names) if graph.nodes[n]["shape"] is None), len(names))
    attached = Attached()
    for diagnostic in graph.diagnostics:
        text = _diagnostic_text(diagnostic)
        owners = [n for n in names if graph.nodes[n].get("error") and graph.nodes[n]["error"] == diagnostic.message
                  and diagnostic.path.startswith(str(graph.nodes[n].get("path") or ""))]
        for owner in owners:
            attached.nodes.setdefault(owner, []).append(text)
        if owners:
            continue
        nearest = _nearest_node(graph, names, diagnostic.path, first_unknown)
        if nearest is None:
            attached.notes.append(text)
        elif "." in nearest:
            attached.groups.setdefault(nearest.rsplit(".", 1)[0], []).append(text)
        else:
            attached.nodes.setdefault(nearest, []).append(text)
    return attached


def _nearest_node(graph: Graph, names: list[str], path: str, first_unknown: int) -> str | None:
    for prefix in _path_prefixes(path):
        if prefix in ("network", "blocks"):
            break
        hits = [i for i, n in enumerate(names) if _under(str(graph.nodes[n].get("path") or ""), prefix)]
        if hits:
            before = [i for i in hits if i < first_unknown]
            return names[max(before) if before else hits[-1]]
    return None


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + ".") or path.startswith(prefix + "[")


def _diagnostic_text(diagnostic: Diagnostic) -> str:
    where = f"{diagnostic.position}: " if diagnostic.position else ""
    text = f"{where}{diagnostic.message}"
    return f"{text} (hint: {diagnostic.hint})" if diagnostic.hint else text


# ---- the view ------------------------------------------------------------------------------------------------------
def _parts(name: str) -> list[str]:
    return name.split(".")


def build_view(graph: Graph, depth: int = 0, all_edges: bool = False) -> View:
    """Group, collapse (``depth`` > 0: groups deeper than ``depth`` name levels become one box) and classify.

    A dense block's concats read every earlier output, O(L²) edges that no layout makes readable. Unless
    ``all_edges``, a concat that reads all the inputs of the previous concat of its block (plus new ones) is drawn
    with one edge from that concat, labelled with how many inputs it stands for; its tooltip lists them all.
    """
    if depth < 0:
        raise ValueError("depth must be >= 0")
    attached = attach_diagnostics(graph)
    errors = attached.nodes
    view = View(graph.graph.get("name", ""), depth, {}, [], {}, list(attached.notes), params=graph.num_params,
                macs=graph.num_macs, input_shape=graph.nodes[graph.input_node]["shape"],
                output_shape=graph.nodes[graph.output_node]["shape"] if graph.graph.get("output") else None)
    representative: dict[str, str] = {}
    for name, data in graph.nodes(data=True):
        parts = _parts(name) if data["op"] != "input" else [name]
        collapsed = depth > 0 and len(parts) > depth
        box = ".".join(parts[:depth]) if collapsed else name
        levels = depth - 1 if collapsed else len(parts) - 1
        groups = [".".join(parts[:i]) for i in range(1, levels + 1)]
        parent = None
        for group in groups:
            if group not in view.groups:
                view.groups[group] = ViewGroup(group, _relative(group, parent), parent)
            parent = group
        for group in groups:
            _accumulate_group(view.groups[group], data, errors.get(name))
        representative[name] = box
        if collapsed:
            _add_to_box(view, graph, box, parent, name, data, errors.get(name))
        else:
            view.nodes[name] = ViewNode(name, _relative(name, parent), data["op"], data["shape"], data["params"],
                                        data["macs"], parent, connection_of(graph, name), attrs_dict(data["attrs"]),
                                        list(data["inputs"]), list(errors.get(name, [])), str(data.get("pos") or ""),
                                        auto_name=bool(data.get("auto_name")),
                                        description=op_text(data["op"], data["attrs"]))
            if view.nodes[name].kind:
                view.nodes[name].kinds = [view.nodes[name].kind]  # type: ignore[list-item]
    for namespace, messages in attached.groups.items():
        _attach_to_group(view, namespace, messages)
    view.edges = _edges(graph, representative, {} if all_edges else dense_bundles(graph))
    return view


def _attach_to_group(view: View, namespace: str, messages: list[str]) -> None:
    if namespace in view.groups:
        view.groups[namespace].messages.extend(messages)
        group: str | None = namespace
        while group is not None:
            view.groups[group].errors += len(messages)
            group = view.groups[group].parent
        return
    box = next((n for n in view.nodes.values() if n.is_group and (namespace + ".").startswith(n.id + ".")), None)
    if box is None:
        view.notes.extend(f"{namespace}: {message}" for message in messages)
        return
    box.errors.extend(f"{namespace}: {message}" for message in messages)
    group = box.group
    while group is not None:
        view.groups[group].errors += len(messages)
        group = view.groups[group].parent


def dense_bundles(graph: Graph) -> dict[str, tuple[str, int]]:
    """concat node -> (the previous concat of the same dense connection, how many leading inputs they share)."""
    last: dict[str, str] = {}
    bundles: dict[str, tuple[str, int]] = {}
    for name, data in graph.op_nodes():
        connection = data.get("connection")
        if data["op"] != "concat" or not connection or connection["kind"] != "dense":
            continue
        previous = last.get(connection["name"])
        if previous is not None:
            shared = graph.nodes[previous]["inputs"]
            if 1 < len(shared) < len(data["inputs"]) and data["inputs"][:len(shared)] == shared:
                bundles[name] = (previous, len(shared))
        last[connection["name"]] = name
    return bundles


def _relative(name: str, parent: str | None) -> str:
    return name[len(parent) + 1:] if parent and name.startswith(parent + ".") else name


def _accumulate_group(group: ViewGroup, data: dict[str, Any], errors: list[str] | None) -> None:
    group.params += data["params"]
    group.macs += data["macs"]
    group.count += 1
    group.shape = data["shape"]
    group.errors += len(errors or [])


def _add_to_box(view: View, graph: Graph, box: str, parent: str | None, name: str, data: dict[str, Any],
                errors: list[str] | None) -> None:
    node = view.nodes.get(box)
    if node is None:
        node = view.nodes[box] = ViewNode(box, _relative(box, parent), "group", None, group=parent, count=0)
    node.params += data["params"]
    node.macs += data["macs"]
    node.count += 1
    node.shape = data["shape"]  # the group's output: its last node in topological order
    node.errors.extend(f"{name}: {message}" for message in errors or [])
    kind = connection_of(graph, name)
    if kind and kind not in node.kinds:
        node.kinds.append(kind)
        node.kinds.sort(key=list(KINDS).index)


def concat_width_label(name: str, data: dict[str, Any], box: str) -> str:
    """``96 ch`` on an edge into the collapsed box that holds concat ``name`` directly (a dense layer's box): how wide
    the features it reads have become. Deeper inside a box the number would describe some inner layer: no label."""
    if data["op"] != "concat" or not data["shape"] or name.rpartition(".")[0] != box:
        return ""
    return f"{data['shape'][0]} ch"


def _edges(graph: Graph, representative: dict[str, str], bundles: dict[str, tuple[str, int]]) -> list[ViewEdge]:
    edges: dict[tuple[str, str, str], ViewEdge] = {}
    for name, data in graph.op_nodes():
        kind = connection_of(graph, name) or "data"
        target = representative[name]
        width = concat_width_label(name, data, target)
        inputs: list[str] = list(data["inputs"])
        if name in bundles:
            previous, shared = bundles[name]
            inputs = inputs[shared:]
            if representative[previous] != target:
                label = f"{shared} earlier" if target == name else width
                edges[(representative[previous], target, kind)] = ViewEdge(representative[previous], target, kind,
                                                                           label)
        for port, source_name in enumerate(inputs):
            if source_name not in representative:
                continue
            source = representative[source_name]
            if source == target:
                continue
            if target == name:
                label = edge_label(kind, data["op"], port, graph.nodes[source_name]["op"])
            else:  # into a collapsed group
                label = width
            key = (source, target, kind)
            if key in edges:
                edges[key].count += 1
                if edges[key].label != label:  # several inputs drawn as one edge
                    edges[key].label = width
            else:
                edges[key] = ViewEdge(source, target, kind, label)
    return list(edges.values())
