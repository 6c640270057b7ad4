"""Additive (residual) connections, He et al. 2015: ``y = after(body(x) + shortcut(x))``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from archc.connections.registry import ConnectionSpec, register_connection
from archc.spec.expand import Expander, Scope, Tensor, _ItemError, qualify
from archc.spec.loader import position_of


class Projection(BaseModel):
    """A shortcut with its own ops. ``use: auto`` applies it only where the body changes the shape (torchvision's
    ``downsample``); ``use: always`` applies it everywhere."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = "shortcut"
    body: list[Any] = Field(min_length=1)
    use: Literal["auto", "always"] = "auto"


@register_connection("residual")
class Residual(ConnectionSpec):
    """``shortcut``: ``identity`` (shapes must agree), ``zero_pad`` (He et al.'s parameter-free option A: strided
    subsample and zero channels) or a projection ``{name, body, use}``; ``after``: items applied to the sum."""

    summary = "y = after(body(x) + shortcut(x))"
    body: list[Any] = Field(min_length=1)
    shortcut: Literal["identity", "zero_pad"] | Projection = "identity"
    after: list[Any] | str | None = None

    def expand(self, ctx: Expander, raw: Any, x: Tensor, scope: Scope) -> Tensor:
        position = getattr(raw, "pos", None)
        body = ctx.expand_body(raw["body"], x, scope.child(path=f"{scope.path}.body"), position)
        shortcut = self.shortcut_for(ctx, raw, x, body, scope)
        y = ctx.add_node("add", {}, [body, shortcut], scope, None, position, scope.path)
        if self.after is not None:
            y = ctx.expand_body(raw["after"], y, scope.child(path=f"{scope.path}.after"), position_of(raw, "after"))
        return y

    def shortcut_for(self, ctx: Expander, raw: Any, x: Tensor, body: Tensor, scope: Scope) -> Tensor:
        position = position_of(raw, "shortcut") if "shortcut" in raw else scope.position or getattr(raw, "pos", None)
        path = f"{scope.path}.shortcut"
        unknown = x.shape is None or body.shape is None
        if self.shortcut == "identity":
            if not unknown and x.shape != body.shape:
                raise _ItemError(f"cannot add {list(body.shape)} to {list(x.shape)}: the shortcut is identity but the "
                                 "body changes the shape", position, path,
                                 "give the residual a projection shortcut, or shortcut: zero_pad")
            return x
        if self.shortcut == "zero_pad":
            if unknown:
                return Tensor(x.node, None)
            if len(x.shape) != 3 or len(body.shape) != 3:
                raise _ItemError("shortcut: zero_pad needs [C, H, W] tensors", position, path)
            stride = [max(1, round(a / b)) for a, b in zip(x.shape[1:], body.shape[1:])]
            return ctx.add_node("channel_pad", {"out": body.shape[0], "stride": stride}, [x], scope, "shortcut",
                                position, path)
        projection = self.shortcut
        if projection.use == "auto" and not unknown and x.shape == body.shape:
            return x
        ns = qualify(scope.ns, projection.name) if projection.name else scope.ns
        # the raw items keep their source positions; a shortcut given by an expression (shortcut: $param) has none
        items = raw["shortcut"]["body"] if isinstance(raw.get("shortcut"), dict) else projection.body
        return ctx.expand_body(items, x, scope.child(ns=ns, path=f"{path}.body"), position)
