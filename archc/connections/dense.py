"""Dense connectivity, Huang et al. 2017: layer l sees concat(x0 ... x(l-1)); the block outputs the concat of all."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from archc.spec.context import Connection, Context, Tensor, register_connection


@register_connection("dense")
class Dense(Connection):
    """``repeat`` layers named by ``name`` (an expression of the loop variable ``as``; default the index)."""

    summary = "layer l sees concat(x0 ... x(l-1)); output concat(x0 ... xL)"
    roles = frozenset({"concat"})
    lazy_fields = frozenset({"body", "name"})
    repeat: int = Field(ge=1, le=10_000)
    as_: str | None = Field(None, alias="as")
    name: Any = None
    body: list[Any] = Field(min_length=1)

    def expand(self, ctx: Context, x: Tensor) -> Tensor:
        features = [x]
        for layer in range(self.repeat):
            layer_ctx = ctx.bind(**{self.as_: layer}) if self.as_ else ctx
            label = str(layer)
            if self.name is not None:
                label = str(layer_ctx.evaluate(self.name, at="name"))
                if not label:
                    raise ctx.error("dense: name evaluates to an empty string", at="name")
            inner = layer_ctx.within(label)
            inp = features[0] if len(features) == 1 else inner.add("concat", {}, features, "concat")
            out = inner.expand(ctx.args["body"], inp)
            inner.publish(out)
            features.append(out)
        return ctx.add("concat", {}, features)
