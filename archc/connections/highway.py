"""Gated (highway) connections, Srivastava, Greff & Schmidhuber 2015: ``y = H(x)·T(x) + x·(1 − T(x))``.

Computed as ``x + T·(H − x)`` with built-in ops only (sub, mul, add), which is the same function and lowers to plain
layers in every backend. ``T = sigmoid(gate(x))`` where ``gate`` is a linear layer for [features] inputs and a
convolution for [C, H, W] inputs; its bias starts negative so the layer begins by carrying its input.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from archc.connections.registry import ConnectionSpec, register_connection
from archc.spec.expand import Expander, Scope, Tensor, _ItemError
from archc.spec.loader import position_of


class Gate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bias: float = -1.0
    kernel: PositiveInt = 3  # conv form only; the paper's CIFAR nets gate with the same 3x3 as the transform


@register_connection("highway")
class Highway(ConnectionSpec):
    """``body`` is the transform H; ``gate`` sets T's bias (default −1) and kernel. When H changes the width, the
    carried input is projected (``proj``: linear or 1x1 conv without bias)."""

    summary = "y = H(x)·T(x) + x·(1 − T(x)), T = sigmoid(W_T x + b_T)"
    body: list[Any] = Field(min_length=1)
    gate: Gate = Gate()

    def expand(self, ctx: Expander, raw: Any, x: Tensor, scope: Scope) -> Tensor:
        position = scope.position or getattr(raw, "pos", None)
        h = ctx.expand_body(raw["body"], x, scope.child(path=f"{scope.path}.body"), position)
        if x.shape is None or h.shape is None:
            return Tensor(h.node, None)
        rank = len(x.shape)
        if rank not in (1, 3) or len(h.shape) != rank:
            raise _ItemError(f"highway needs the body to keep the rank of its input: {list(x.shape)} -> "
                             f"{list(h.shape)}", position, scope.path)
        if rank == 3 and h.shape[1:] != x.shape[1:]:
            raise _ItemError(f"highway body changes height/width {list(x.shape)} -> {list(h.shape)}", position,
                             scope.path, "keep stride 1 inside a highway layer; downsample between layers")
        width = h.shape[0]
        carry = x
        gate_pos = position_of(raw, "gate") or position
        if x.shape[0] != width:
            proj = {"out": width, "bias": False} if rank == 1 else {"out": width, "kernel": 1, "bias": False}
            carry = ctx.add_node("linear" if rank == 1 else "conv", proj, [x], scope, "proj", position, scope.path)
        if rank == 1:
            gate_args = {"out": width, "bias": True, "bias_init": self.gate.bias}
            gate = ctx.add_node("linear", gate_args, [x], scope, "gate", gate_pos, f"{scope.path}.gate")
        else:
            gate_args = {"out": width, "kernel": self.gate.kernel, "bias": True, "bias_init": self.gate.bias}
            gate = ctx.add_node("conv", gate_args, [x], scope, "gate", gate_pos, f"{scope.path}.gate")
        t = ctx.add_node("sigmoid", {}, [gate], scope, None, gate_pos, f"{scope.path}.gate")
        delta = ctx.add_node("sub", {}, [h, carry], scope, None, position, scope.path)
        gated = ctx.add_node("mul", {}, [t, delta], scope, None, position, scope.path)
        return ctx.add_node("add", {}, [carry, gated], scope, None, position, scope.path)
