"""The IR: a networkx DiGraph with one node per primitive op, keyed by stable hierarchical names.

Node data: ``op`` (op name), ``attrs`` (the validated OpSpec, None where validation failed), ``inputs`` (input node
names in port order — authoritative, since an op may read the same tensor twice), ``shape`` (logical output shape,
None when unknown after an error), ``params`` / ``buffers`` / ``macs``, ``pos`` (source Position), ``path`` (spec
path), ``auto_name`` (True when archc chose the name) and ``error`` (a message, on nodes that failed).
Nodes are inserted in a topological order, which ``Graph.order()`` returns, so every pass is deterministic.
Expansion fills a networkx-free :class:`~archc.ir.draft.GraphDraft`; ``Graph.adopt`` turns it into this graph.
"""

from __future__ import annotations

import networkx as nx

from archc.ir.draft import GraphDraft, GraphMethods


class Graph(GraphMethods, nx.DiGraph):
    """An archc network: a networkx DiGraph (every networkx algorithm takes it) with archc's methods
    (:class:`~archc.ir.draft.GraphMethods`). ``graph.graph`` holds ``name``, ``input``, ``output`` and
    ``diagnostics``."""

    @classmethod
    def adopt(cls, draft: GraphDraft | Graph) -> Graph:
        """The networkx graph of ``draft``, sharing its dicts (no copy: a network may have 250,000 nodes). Setting
        ``_node``, ``_succ`` and ``_pred`` goes through networkx's own descriptors, which reset its cached views."""
        if isinstance(draft, cls):
            return draft
        graph = cls()
        graph.graph = draft.graph
        graph._node, graph._succ, graph._pred = draft._node, draft._succ, draft._pred
        return graph
