"""Gated (highway) connections, Srivastava, Greff & Schmidhuber 2015: ``y = H(x)·T(x) + x·(1 − T(x))``.

Computed as ``x + T·(H − x)`` with built-in ops only (sub, mul, add), which is the same function and lowers to plain
layers in every backend. ``T = sigmoid(gate(x))`` where ``gate`` is a linear layer for [features] inputs and a
convolution for [C, H, W] inputs; its bias starts negative so the layer begins by carrying its input.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from archc.spec.context import Connection, Context, Tensor, register_connection


class Gate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bias: float = -1.0
    kernel: PositiveInt = 3  # conv form only; the paper's CIFAR nets gate with the same 3x3 as the transform


@register_connection("highway")
class Highway(Connection):
    """``body`` is the transform H; ``gate`` sets T's bias (default −1) and kernel. When H changes the width, the
    carried input is projected (``proj``: linear or 1x1 conv without bias)."""

    summary = "y = H(x)·T(x) + x·(1 − T(x)), T = sigmoid(W_T x + b_T)"
    roles = frozenset({"proj", "gate", "sigmoid", "sub", "mul", "add"})
    body: list[Any] = Field(min_length=1)
    gate: Gate = Gate()

    def expand(self, ctx: Context, x: Tensor) -> Tensor:
        h = ctx.expand(ctx.args["body"], x)
        if x.shape is None or h.shape is None:
            return Tensor(h.node, None)
        self.check_shapes(ctx, x.shape, h.shape)
        rank, width = len(x.shape), h.shape[0]
        carry = x
        if x.shape[0] != width:
            proj = {"out": width, "bias": False} if rank == 1 else {"out": width, "kernel": 1, "bias": False}
            carry = ctx.add("linear" if rank == 1 else "conv", proj, [x], "proj")
        gate_args: dict[str, Any] = {"out": width, "bias": True, "bias_init": self.gate.bias}
        if rank == 3:
            gate_args["kernel"] = self.gate.kernel
        gate = ctx.add("linear" if rank == 1 else "conv", gate_args, [x], "gate", at="gate")
        t = ctx.add("sigmoid", {}, [gate], at="gate")
        delta = ctx.add("sub", {}, [h, carry])
        gated = ctx.add("mul", {}, [t, delta])
        return ctx.add("add", {}, [carry, gated])

    @staticmethod
    def check_shapes(ctx: Context, x: tuple[int, ...], h: tuple[int, ...]) -> None:
        if len(x) not in (1, 3) or len(h) != len(x):
            raise ctx.error(f"highway needs the body to keep the rank of its input: {list(x)} -> {list(h)}")
        if len(x) == 3 and h[1:] != x[1:]:
            raise ctx.error(f"highway body changes height/width {list(x)} -> {list(h)}",
                            "keep stride 1 inside a highway layer; downsample between layers")
