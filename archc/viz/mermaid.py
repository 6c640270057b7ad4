"""Mermaid flowchart text for a View (renders on GitHub, GitLab and in mermaid.live)."""

from __future__ import annotations

from archc.viz.dot import node_lines, node_title
from archc.viz.style import EDGE_STYLE, ERROR_COLOR, ERROR_FILL, GROUP_FILL
from archc.viz.view import KINDS, View

#: connection kind -> Mermaid arrow
_ARROWS = {"data": "-->", "add": "==>", "concat": "-->", "gate": "-.->", "se": "-.->"}


def _text(value: str) -> str:
    """Mermaid label text: quotes and angle brackets as entities."""
    return (value.replace("&", "&amp;").replace('"', "#quot;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("|", "#124;"))


def to_mermaid(view: View, direction: str = "TB") -> str:
    """A ``flowchart`` with one subgraph per namespace; connection kinds by arrow, colour and label."""
    ids = {name: f"n{index}" for index, name in enumerate(view.nodes)}
    group_ids = {name: f"g{index}" for index, name in enumerate(view.groups)}
    lines = [f"%% {view.name}: {view.params:,} params; drawn by archc draw (depth {view.depth or 'all'})",
             f"flowchart {direction}"]
    for kind in view.kinds:
        lines.append(f"  %% {KINDS[kind][0]}: {KINDS[kind][1]}")
    for note in view.notes:
        lines.append(f'  note_{len(lines)}["error: {_text(note)}"]:::error')

    def emit(group: str | None, indent: str) -> None:
        groups, nodes = view.children(group)
        for child in groups:
            info = view.groups[child]
            title = info.label + "".join(f"<br/>error: {message}" for message in info.messages)
            lines.append(f'{indent}subgraph {group_ids[child]}["{_text(title)}"]')
            emit(child, indent + "  ")
            lines.append(f"{indent}end")
            if info.errors:
                lines.append(f"{indent}style {group_ids[child]} stroke:{ERROR_COLOR},stroke-width:2px")
        for name in nodes:
            node = view.nodes[name]
            parts = [f"<b>{_text(node_title(node))}</b>", *(_text(line) for line in node_lines(node))]
            parts += [f"error: {_text(message)}" for message in node.errors]
            css = "error" if node.errors else "group" if node.is_group else node.kind or ""
            suffix = f":::{css}" if css else ""
            lines.append(f'{indent}{ids[name]}["{"<br/>".join(parts)}"]{suffix}')

    emit(None, "  ")
    link_styles = []
    for index, edge in enumerate(view.edges):
        arrow = _ARROWS[edge.kind]
        label = f"|\"{_text(edge.label)}\"|" if edge.label else ""  # quoted: T(H-x) would end the label
        lines.append(f"  {ids[edge.source]} {arrow}{label} {ids[edge.target]}")
        if edge.kind != "data":
            color, _, style, width = EDGE_STYLE[edge.kind]
            dash = {"dashed": ",stroke-dasharray:5 4", "dotted": ",stroke-dasharray:2 3"}.get(style, "")
            link_styles.append(f"  linkStyle {index} stroke:{color},stroke-width:{width + 0.5}px{dash}")
    lines += link_styles
    for kind in KINDS:
        color, fill = EDGE_STYLE[kind][:2]
        lines.append(f"  classDef {kind} fill:{fill},stroke:{color},stroke-width:2px")
    lines.append(f"  classDef group fill:{GROUP_FILL},stroke:#4a5d7a,stroke-width:2px")
    lines.append(f"  classDef error fill:{ERROR_FILL},stroke:{ERROR_COLOR},stroke-width:3px,color:{ERROR_COLOR}")
    return "\n".join(lines) + "\n"
