"""Colours and line styles shared by the Graphviz, Mermaid and HTML drawings, so the four kinds look alike in all.

Op boxes are coloured by the traits their op declares (archc/ops/*.py), so a new op is drawn like its kind.
"""

from __future__ import annotations

from archc.ops.registry import OPS, has_trait

#: connection kind -> (edge colour, merge-node fill, Graphviz edge style, pen width)
EDGE_STYLE: dict[str, tuple[str, str, str, float]] = {
    "data": ("#555555", "#f4f4f4", "solid", 1.0),
    "add": ("#1f6fc5", "#dce9f8", "solid", 2.2),
    "concat": ("#2e8b3a", "#dcf2de", "solid", 1.6),
    "gate": ("#e07b00", "#fde8cc", "dashed", 2.0),
    "se": ("#8a3fb8", "#eedcf7", "dotted", 2.2),
}
ERROR_COLOR = "#cc0000"
ERROR_FILL = "#ffd9d9"
GROUP_FILL = "#e9eef6"
INPUT_FILL = "#e0e0e0"
#: trait -> box fill, the first trait an op has wins
TRAIT_FILL = {"activation": "#ffffff", "weighted": "#fff4d6", "normalization": "#eef6ee", "pool": "#e6f0fa"}
DEFAULT_FILL = "#f7f7f7"
#: cluster fills by nesting level (outermost first)
CLUSTER_FILLS = ["#fbfbfb", "#f3f5f8", "#eaeef4", "#e2e7ef", "#dadfe9"]


def op_fill(op: str) -> str:
    if op == "input":
        return INPUT_FILL
    return next((fill for trait, fill in TRAIT_FILL.items() if has_trait(op, trait)), DEFAULT_FILL)


def merge_symbol(op: str) -> str | None:
    """The symbol drawn in a merge node (``+``), None for other ops."""
    return OPS.get(op).symbol or None if has_trait(op, "merge") else None
