"""Limits checked before a graph is lowered: a network whose weights or activations cannot exist is a located error
naming the node, not an allocator crash (torch) or a ResourceExhaustedError after a long wait (Keras).

``archc validate`` and ``archc summary`` do not check them (a spec may describe a network too large for this
machine); ``compile``, ``train`` and ``archc.load`` do. Raise them with ``--max-params`` / ``--max-activation-bytes``
or ``archc.load(..., max_params=..., max_activation_bytes=...)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from archc.errors import Diagnostic, SpecError
from archc.ir.draft import GraphMethods

#: 2 * 10^9 parameters: 8 GB of float32 weights, over 20 times the largest network of the zoo
MAX_PARAMS = 2_000_000_000
#: 16 GiB of float32 activations (every node output kept for backward) for one batch
MAX_ACTIVATION_BYTES = 16 * 2**30
BYTES_PER_ELEMENT = 4


@dataclass(frozen=True)
class Limits:
    max_params: int = MAX_PARAMS
    max_activation_bytes: int = MAX_ACTIVATION_BYTES

    @classmethod
    def of(cls, max_params: int | None = None, max_activation_bytes: int | None = None) -> Limits:
        return cls(MAX_PARAMS if max_params is None else max_params,
                   MAX_ACTIVATION_BYTES if max_activation_bytes is None else max_activation_bytes)


def size(nbytes: float) -> str:
    """Bytes in the largest binary unit that keeps the number at least 1 (``1.5 GiB``)."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= scale:
            return f"{nbytes / scale:,.1f} {unit}"
    return f"{int(nbytes)} bytes"


def _located(graph: GraphMethods, node: str, message: str, hint: str) -> SpecError:
    data = graph.nodes[node]
    return SpecError(Diagnostic(message, data.get("pos"), data.get("path", ""), hint))


def check_limits(graph: GraphMethods, limits: Limits | None = None, batch_size: int = 1) -> None:
    """Raise a SpecError at the node that takes the network past a limit: the largest node, which alone may be over.

    Weights: parameters and buffers of every node. Activations: every node output of one batch, float32 (what
    training keeps for the backward pass; ``archc summary`` prints the same number).
    """
    limits = limits or Limits()
    nodes = list(graph.op_nodes())
    weights = {name: data["params"] + data["buffers"] for name, data in nodes}
    total = sum(weights.values())
    if total > limits.max_params:
        big = max(weights, key=weights.__getitem__)
        raise _located(graph, big, f"node '{big}' has {weights[big]:,} parameters and buffers; the network "
                       f"{total:,} ({size(total * BYTES_PER_ELEMENT)} of float32), more than the limit "
                       f"--max-params {limits.max_params:,}",
                       "make the network smaller, or raise the limit: --max-params N, archc.load(..., max_params=N)")
    sizes = {name: math.prod(data["shape"]) * batch_size * BYTES_PER_ELEMENT for name, data in nodes
             if data.get("shape") is not None}
    total = sum(sizes.values())
    if total > limits.max_activation_bytes:
        big = max(sizes, key=sizes.__getitem__)
        raise _located(graph, big, f"the output of node '{big}' takes {size(sizes[big])}; all activations "
                       f"{size(total)} for batch {batch_size} (float32), more than the limit --max-activation-bytes "
                       f"{size(limits.max_activation_bytes)}",
                       "make the network or the batch smaller, or raise the limit: --max-activation-bytes N, "
                       "archc.load(..., max_activation_bytes=N)")
