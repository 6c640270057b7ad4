"""Colours and line styles shared by the Graphviz, Mermaid and HTML drawings, so the four kinds look alike in all."""

from __future__ import annotations

#: connection kind -> (edge colour, merge-node fill, Graphviz edge style, pen width)
EDGE_STYLE: dict[str, tuple[str, str, str, float]] = {
    "data": ("#555555", "#f4f4f4", "solid", 1.0),
    "add": ("#1f6fc5", "#dce9f8", "solid", 2.2),
    "concat": ("#2e8b3a", "#dcf2de", "solid", 1.6),
    "gate": ("#e07b00", "#fde8cc", "dashed", 2.0),
    "se": ("#8a3fb8", "#eedcf7", "dotted", 2.2),
}
#: merge op -> symbol drawn in its node
MERGE_SYMBOL = {"add": "+", "sub": "−", "mul": "×", "concat": "‖"}
ERROR_COLOR = "#cc0000"
ERROR_FILL = "#ffd9d9"
GROUP_FILL = "#e9eef6"
OP_FILL = {
    "conv": "#fff4d6", "linear": "#fff4d6", "bn": "#eef6ee", "input": "#e0e0e0",
    "maxpool": "#e6f0fa", "avgpool": "#e6f0fa", "global_avgpool": "#e6f0fa", "global_maxpool": "#e6f0fa",
}
ACTIVATIONS = frozenset({"relu", "relu6", "leaky_relu", "gelu", "silu", "sigmoid", "tanh", "softmax"})
#: cluster fills by nesting level (outermost first)
CLUSTER_FILLS = ["#fbfbfb", "#f3f5f8", "#eaeef4", "#e2e7ef", "#dadfe9"]


def op_fill(op: str) -> str:
    if op in ACTIVATIONS:
        return "#ffffff"
    return OP_FILL.get(op, "#f7f7f7")
