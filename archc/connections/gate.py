"""Multiplicative attention, the shape of SE, ECA and CBAM: ``y = x · body(x)``, the body's output broadcast over the
axes where it has size 1 (a ``[C, 1, 1]`` channel gate or a ``[1, H, W]`` spatial one)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from archc.spec.context import Connection, Context, Tensor, register_connection


@register_connection("gate")
class Gate(Connection):
    """``input`` names x inside the body, for items that read it again (CBAM pools x twice: ``from: x``)."""

    summary = "y = x · body(x) (the gate broadcasts over axes of size 1)"
    roles = frozenset({"mul"})
    body: list[Any] = Field(min_length=1)
    input: str | None = Field(None, description="a name for the gate's input: from: reads it inside the body only")

    def expand(self, ctx: Context, x: Tensor) -> Tensor:
        with ctx.input_named(self.input, x):
            gate = ctx.expand(ctx.args["body"], x)
        return ctx.add("mul", {}, [x, gate])
