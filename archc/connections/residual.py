"""Additive (residual) connections, He et al. 2015: ``y = after(body(x) + shortcut(x))``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from archc.spec.context import Connection, Context, Tensor, register_connection


class Projection(BaseModel):
    """A shortcut with its own ops. ``use: auto`` applies it only where the body changes the shape (torchvision's
    ``downsample``); ``use: always`` applies it everywhere."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = "shortcut"
    body: list[Any] = Field(min_length=1)
    use: Literal["auto", "always"] = "auto"
    # expand the projection before the body, so its layers come first in the state dict (torchvision's RegNet
    # registers ``proj`` before ``f``); needs use: always, whose items say by `when:` where they apply
    first: bool = False

    @model_validator(mode="after")
    def _first_needs_always(self) -> Projection:
        if self.first and self.use != "always":
            raise ValueError("first: true expands the shortcut before the body, so it cannot depend on the body's "
                             "shape: give use: always (and `when:` on its items)")
        return self


@register_connection("residual")
class Residual(Connection):
    """``shortcut``: ``identity`` (shapes must agree), ``when_shapes_agree`` (an identity shortcut where the body
    keeps the shape, none at all where it changes it: MobileNet's and EfficientNet's ``use_res_connect``),
    ``zero_pad`` (He et al.'s parameter-free option A: strided subsample and zero channels) or a projection ``{name,
    body, use}``; ``after``: items applied to the sum (or to the body, where there is no shortcut)."""

    summary = "y = after(body(x) + shortcut(x))"
    roles = frozenset({"add", "shortcut"})
    body: list[Any] = Field(min_length=1)
    shortcut: Literal["identity", "when_shapes_agree", "zero_pad"] | Projection = "identity"
    after: list[Any] | str | None = None

    def expand(self, ctx: Context, x: Tensor) -> Tensor:
        first = isinstance(self.shortcut, Projection) and self.shortcut.first
        shortcut = self.shortcut_for(ctx, x, None) if first else None
        body = ctx.expand(ctx.args["body"], x)
        if self.shortcut == "when_shapes_agree" and (x.shape is None or body.shape is None or x.shape != body.shape):
            y = body  # no shortcut, no add: the block is its body
        else:
            y = ctx.add("add", {}, [body, shortcut or self.shortcut_for(ctx, x, body)])
        if self.after is not None:
            y = ctx.expand(ctx.args["after"], y, at="after")
        return y

    def shortcut_for(self, ctx: Context, x: Tensor, body: Tensor | None) -> Tensor:
        """``body`` is None where the shortcut comes first (a projection with use: always)."""
        unknown = x.shape is None or body is None or body.shape is None
        if self.shortcut in ("identity", "when_shapes_agree"):
            if not unknown and x.shape != body.shape:
                raise ctx.error(f"cannot add {list(body.shape)} to {list(x.shape)}: the shortcut is identity but the "
                                "body changes the shape",
                                "give the residual a projection shortcut, or shortcut: zero_pad", at="shortcut")
            return x
        if self.shortcut == "zero_pad":
            return self.zero_pad(ctx, x, body, unknown)
        projection = self.shortcut
        if projection.use == "auto" and not unknown and x.shape == body.shape:
            return x
        inner = ctx.within(projection.name) if projection.name else ctx
        # the written items keep their source positions; a shortcut given by an expression (shortcut: $param) has none
        written = ctx.args.get("shortcut")
        items = written["body"] if isinstance(written, dict) else projection.body
        return inner.expand(items, x, at="shortcut.body")

    @staticmethod
    def zero_pad(ctx: Context, x: Tensor, body: Tensor, unknown: bool) -> Tensor:
        if unknown:
            return Tensor(x.node, None)
        if len(x.shape) != 3 or len(body.shape) != 3:
            raise ctx.error("shortcut: zero_pad needs [C, H, W] tensors", at="shortcut")
        stride = [max(1, round(a / b)) for a, b in zip(x.shape[1:], body.shape[1:])]
        return ctx.add("channel_pad", {"out": body.shape[0], "stride": stride}, [x], "shortcut", at="shortcut")
