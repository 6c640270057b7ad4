"""Graphviz DOT for a View: clusters per namespace, edges styled by connection kind, errors in red notes."""

from __future__ import annotations

import textwrap
from html import escape

from archc.viz.style import CLUSTER_FILLS, EDGE_STYLE, ERROR_COLOR, ERROR_FILL, GROUP_FILL, merge_symbol, op_fill
from archc.viz.view import KIND_NAMES, KINDS, View, ViewNode, count_text, shape_text

FONT = "Helvetica"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _html(text: str) -> str:
    return escape(text, quote=True)


def _attrs(**values: object) -> str:
    return "[" + ", ".join(f"{key}={value}" for key, value in values.items() if value is not None) + "]"


def node_title(node: ViewNode) -> str:
    """The first line of a box: the name, or the op where archc chose the name."""
    if node.is_group:
        return node.label
    symbol = merge_symbol(node.op)
    if symbol:
        return f"{symbol} {node.label if not node.auto_name else node.op}"
    return node.label


def node_lines(node: ViewNode) -> list[str]:
    """The lines under the title: what the op does, its output shape and parameter count."""
    if node.is_group:
        inside = f"{node.count} ops" + (" · " + ", ".join(KIND_NAMES[k] for k in node.kinds) if node.kinds else "")
        return [inside, f"{shape_text(node.shape)} · {count_text(node.params)} params"]
    lines = []
    description = node.description
    if description != node.label and not (node.auto_name and merge_symbol(node.op)):
        lines.append(description)
    shape = shape_text(node.shape)
    lines.append(f"{shape} · {count_text(node.params)} params" if node.params else shape)
    return lines


def _value_text(value: object) -> str:
    """As a spec writes it: true / false, not Python's True."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def tooltip(node: ViewNode) -> str:
    lines = [node.id, f"op: {node.op}" if not node.is_group else f"group of {node.count} ops"]
    lines += [f"{key}: {_value_text(value)}" for key, value in node.attrs.items()]
    lines.append(f"output: {shape_text(node.shape)}")
    lines.append(f"params: {node.params:,}   MACs: {node.macs:,}")
    if node.inputs:
        lines.append("inputs: " + ", ".join(node.inputs))
    if node.position:
        lines.append(f"defined at {node.position}")
    lines += [f"error: {message}" for message in node.errors]
    return "\n".join(lines)


def _node_statement(node: ViewNode) -> str:
    title = f"<B>{_html(node_title(node))}</B>"
    small = "".join(f'<BR/><FONT POINT-SIZE="9">{_html(line)}</FONT>' for line in node_lines(node))
    classes = ["group" if node.is_group else f"op_{node.op}"]
    style = "rounded,filled"
    fill, color, penwidth, peripheries = op_fill(node.op), "#777777", 1.0, None
    if node.is_group:
        fill, color, penwidth, peripheries = GROUP_FILL, "#4a5d7a", 1.4, 2
        style = "filled"
    elif node.kind:
        fill, color = EDGE_STYLE[node.kind][1], EDGE_STYLE[node.kind][0]
        classes.append(f"merge_{node.kind}")
    if node.shape is None and not node.errors:
        style += ",dashed"
        classes.append("unknown_shape")
    if node.errors:
        fill, color, penwidth = ERROR_FILL, ERROR_COLOR, 2.4
        classes.append("error")
        title = f'<FONT COLOR="{ERROR_COLOR}">{title}</FONT>'
        small += "".join(f'<BR/><FONT POINT-SIZE="9" COLOR="{ERROR_COLOR}">{_html(line)}</FONT>'
                         for message in node.errors for line in textwrap.wrap(message, 56))
    return f"{_quote(node.id)} " + _attrs(label=f"<{title}{small}>", shape="box", style=_quote(style),
                                          fillcolor=_quote(fill), color=_quote(color), penwidth=penwidth,
                                          peripheries=peripheries, tooltip=_quote(tooltip(node)),
                                          **{"class": _quote(" ".join(classes))})


def _header(view: View) -> str:
    rows = [f'<TR><TD ALIGN="LEFT"><B><FONT POINT-SIZE="14">{_html(view.name)}</FONT></B>  '
            f"input {_html(shape_text(view.input_shape))} → {_html(shape_text(view.output_shape))} · "
            f"{view.params:,} params · {count_text(view.macs)} MACs"
            + (f" · depth {view.depth}" if view.depth else "") + "</TD></TR>"]
    for kind in view.kinds:
        color = EDGE_STYLE[kind][0]
        name, formula = KINDS[kind]
        rows.append(f'<TR><TD ALIGN="LEFT"><FONT COLOR="{color}"><B>━━ {_html(name)}</B></FONT>  '
                    f'<FONT POINT-SIZE="9">{_html(formula)}</FONT></TD></TR>')
    for note in view.notes:
        rows.append(f'<TR><TD ALIGN="LEFT"><FONT COLOR="{ERROR_COLOR}">error: {_html(note)}</FONT></TD></TR>')
    return '<<TABLE BORDER="0" CELLSPACING="0" CELLPADDING="1">' + "".join(rows) + "</TABLE>>"


def to_dot(view: View, direction: str = "TB") -> str:
    """The DOT text of a drawing (render it with ``dot -Tsvg``)."""
    lines = [f"digraph {_quote(view.name or 'network')} {{",
             "  " + _attrs(rankdir=direction, newrank="true", compound="true", nodesep=0.18, ranksep=0.28,
                           fontname=_quote(FONT), labelloc="t", labeljust="l", label=_header(view),
                           tooltip=_quote(view.name)).replace("[", "graph [", 1),
             "  node " + _attrs(fontname=_quote(FONT), fontsize=10, margin='"0.10,0.04"', height=0.3),
             "  edge " + _attrs(fontname=_quote(FONT), fontsize=8, arrowsize=0.6, color=_quote("#555555"))]
    counter = [0]

    def emit(group: str | None, indent: str, level: int) -> None:
        groups, nodes = view.children(group)
        for child in groups:
            info = view.groups[child]
            counter[0] += 1
            label = f"<B>{_html(info.label)}</B>  <FONT POINT-SIZE=\"9\">{count_text(info.params)} params</FONT>"
            label += "".join(f'<BR ALIGN="LEFT"/><FONT POINT-SIZE="9" COLOR="{ERROR_COLOR}">{_html(line)}</FONT>'
                             for message in info.messages for line in textwrap.wrap(message, 64))
            label += '<BR ALIGN="LEFT"/>' if info.messages else ""
            label = f"<{label}>"
            color = ERROR_COLOR if info.errors else "#9aa7b8"
            lines.append(f"{indent}subgraph cluster_{counter[0]} {{")
            lines.append(f"{indent}  graph " + _attrs(label=label, style='"rounded,filled"',
                                                       fillcolor=_quote(CLUSTER_FILLS[min(level, 4)]),
                                                       color=_quote(color), fontsize=11, labeljust="l",
                                                       tooltip=_quote(f"{child}: {info.count} ops, "
                                                                      f"{info.params:,} params, {info.macs:,} MACs"),
                                                       **{"class": _quote("cluster")}))
            emit(child, indent + "  ", level + 1)
            lines.append(f"{indent}}}")
        for name in nodes:
            node = view.nodes[name]
            lines.append(indent + _node_statement(node))

    emit(None, "  ", 0)
    for edge in view.edges:
        color, _, style, width = EDGE_STYLE[edge.kind]
        label = _quote(edge.label) if edge.label else None
        lines.append(f"  {_quote(edge.source)} -> {_quote(edge.target)} " + _attrs(
            color=_quote(color), style=style, penwidth=width, label=label, fontcolor=_quote(color) if label else None,
            tooltip=_quote(f"{edge.kind}: {KINDS[edge.kind][0]}" if edge.kind in KINDS else "data"),
            **{"class": _quote(f"edge_{edge.kind}")}))
    lines.append("}")
    return "\n".join(lines) + "\n"
