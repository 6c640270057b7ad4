"""``archc render``: the graph written back as a flat spec — one item per node, every attribute explicit, inputs
wired with ``from:``. It is a valid spec itself and builds the same graph."""

from __future__ import annotations

from typing import Any

from archc.ir.draft import GraphMethods
from archc.spec.parse import Spec


def render_graph(graph: GraphMethods, spec: Spec | None = None) -> dict[str, Any]:
    """The graph as a flat spec (plain data for yaml.safe_dump); ``spec`` is only read for its name."""
    spec_name = spec.name if spec is not None else graph.graph.get("name", "network")
    network = []
    previous = graph.input_node
    for name, data in graph.op_nodes():
        attrs = data["attrs"].model_dump(mode="json") if data["attrs"] is not None else {}
        item: dict[str, Any] = {"name": name, data["op"]: attrs}
        if data["inputs"] != [previous]:
            item["from"] = data["inputs"] if len(data["inputs"]) != 1 else data["inputs"][0]
        network.append(item)
        previous = name
    input_shape = graph.nodes[graph.input_node]["shape"]
    return {"archc": 1, "name": spec_name, "description": f"{spec_name}, fully expanded by archc render",
            "input": {"shape": list(input_shape or []), "name": graph.input_node}, "network": network}
