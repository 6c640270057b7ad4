"""One self-contained HTML page per network: zoom, pan, expand / collapse groups, hover for attributes and cost.

Everything is inline (the data as JSON, and the script and stylesheet of ``archc/viz/assets/``, package data); the
page loads nothing. The script lays the graph out itself (layered, top to bottom, groups as boxes), so the page works
where Graphviz is not installed.
"""

from __future__ import annotations

import json
from functools import cache
from html import escape
from importlib import resources
from typing import Any

from archc.ir.graph import Graph
from archc.viz.dot import node_lines, node_title
from archc.viz.style import CLUSTER_FILLS, EDGE_STYLE, ERROR_FILL, GROUP_FILL, op_fill
from archc.viz.view import KIND_NAMES, KINDS, View, build_view, count_text, shape_text

_DASH = {"solid": "", "dashed": "7 4", "dotted": "2 3"}


@cache
def asset(name: str) -> str:
    """The text of a file of ``archc/viz/assets/`` (``page.css``, ``page.js``), shipped as package data."""
    return resources.files("archc.viz").joinpath("assets", name).read_text(encoding="utf-8")


def page_data(view: View, depth: int) -> dict[str, Any]:
    """The JSON the page script reads: every op node (the page collapses groups itself), groups, edges, styles."""
    group_kinds: dict[str, set[str]] = {g: set() for g in view.groups}
    for node in view.nodes.values():
        group = node.group
        while group is not None:
            group_kinds[group].update(node.kinds)
            group = view.groups[group].parent
    nodes = [{"id": n.id, "title": node_title(n), "lines": node_lines(n), "op": n.op, "description": n.description,
              "shape": list(n.shape) if n.shape else None, "shapeText": shape_text(n.shape), "params": n.params,
              "macs": n.macs, "attrs": n.attrs, "inputs": n.inputs, "errors": n.errors, "position": n.position,
              "kind": n.kind, "group": n.group, "fill": op_fill(n.op)} for n in view.nodes.values()]
    groups = []
    for g in view.groups.values():
        kinds = [k for k in KINDS if k in group_kinds[g.id]]
        inside = f"{g.count} ops" + (" · " + ", ".join(KIND_NAMES[k] for k in kinds) if kinds else "")
        groups.append({"id": g.id, "label": g.label, "parent": g.parent, "params": g.params, "macs": g.macs,
                       "count": g.count, "shape": list(g.shape) if g.shape else None, "shapeText": shape_text(g.shape),
                       "kinds": kinds, "errors": g.errors, "messages": g.messages,
                       "sub": f"{count_text(g.params)} params",
                       "lines": [inside, f"{shape_text(g.shape)} · {count_text(g.params)} params"]})
    edges = []
    for e in view.edges:
        target = view.nodes[e.target]
        # the label when the page collapses the concat's own namespace (a dense layer) into one box
        outer = f"{target.shape[0]} ch" if target.op == "concat" and target.shape else ""
        edges.append({"s": e.source, "t": e.target, "kind": e.kind, "label": e.label, "outer": outer,
                      "outerAt": e.target.rpartition(".")[0]})
    kinds = {kind: {"color": color, "fill": fill, "dash": _DASH[style], "width": width,
                    "name": KINDS[kind][0] if kind in KINDS else "data flow",
                    "formula": KINDS[kind][1] if kind in KINDS else ""}
             for kind, (color, fill, style, width) in EDGE_STYLE.items()}
    return {"name": view.name, "depth": depth, "nodes": nodes, "groups": groups, "edges": edges, "kinds": kinds,
            "present": view.kinds, "notes": view.notes, "clusterFills": CLUSTER_FILLS, "groupFill": GROUP_FILL,
            "errorFill": ERROR_FILL}


def _markers() -> str:
    return "".join(f'<marker id="arrow-{kind}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" '
                   f'markerHeight="8" markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0 L10,5 L0,10 z" '
                   f'fill="{color}"/></marker>' for kind, (color, *_rest) in EDGE_STYLE.items())


def to_html(graph: Graph, depth: int = 0, all_edges: bool = False) -> str:
    """The page for ``graph``, opening with groups deeper than ``depth`` levels collapsed (0: all open)."""
    view = build_view(graph, 0, all_edges=all_edges)
    data = json.dumps(page_data(view, depth), separators=(",", ":"), ensure_ascii=False).replace("<", "\\u003c")
    title = escape(view.name)
    stats = (f"input {escape(shape_text(view.input_shape))} → {escape(shape_text(view.output_shape))} · "
             f"{view.params:,} params · {count_text(view.macs)} MACs")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="archc draw">
<title>{title} · archc</title>
<style>
{asset('page.css')}</style>
</head>
<body>
<svg id="canvas" xmlns="http://www.w3.org/2000/svg"><defs>{_markers()}</defs><g id="viewport"></g></svg>
<div id="toolbar">
  <span id="title"><b>{title}</b> {stats}</span>
  <span id="controls">
    <button id="fit" title="fit the drawing to the window (f)">fit</button>
    <button id="expand-all" title="open every group">expand all</button>
    <button id="collapse-all" title="collapse to the top level">collapse all</button>
    <button id="depth-less" title="collapse one level">−</button> depth <span id="depth-value"></span>
    <button id="depth-more" title="open one more level">+</button>
    <input id="search" type="search" placeholder="find a node (Enter)">
  </span>
</div>
<div id="legend"></div>
<div id="notes"></div>
<div id="tooltip" hidden></div>
<script type="application/json" id="archc-data">{data}</script>
<script>
{asset('page.js')}</script>
</body>
</html>
"""
