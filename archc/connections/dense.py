"""Dense connectivity, Huang et al. 2017: layer l sees concat(x0 ... x(l-1)); the block outputs the concat of all."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from archc.connections.registry import ConnectionSpec, register_connection
from archc.spec.expand import Expander, Scope, Tensor, _ItemError, qualify
from archc.spec.loader import position_of


@register_connection("dense")
class Dense(ConnectionSpec):
    """``repeat`` layers named by ``name`` (an expression of the loop variable ``as``; default the index)."""

    summary = "layer l sees concat(x0 ... x(l-1)); output concat(x0 ... xL)"
    lazy_fields = frozenset({"body", "name"})
    repeat: int = Field(ge=1, le=10_000)
    as_: str | None = Field(None, alias="as")
    name: Any = None
    body: list[Any] = Field(min_length=1)

    def expand(self, ctx: Expander, raw: Any, x: Tensor, scope: Scope) -> Tensor:
        features = [x]
        position = scope.position or getattr(raw, "pos", None)
        for layer in range(self.repeat):
            env = scope.env.new_child({self.as_: layer}) if self.as_ else scope.env
            layer_scope = scope.child(env=env, path=f"{scope.path}.body")
            label = str(layer)
            if self.name is not None:
                label = str(ctx.evaluate(self.name, layer_scope, position_of(raw, "name"), f"{scope.path}.name"))
                if not label:
                    raise _ItemError("dense: name evaluates to an empty string", position_of(raw, "name"),
                                     f"{scope.path}.name")
            ns = qualify(scope.ns, label)
            inner = scope.child(ns=ns, env=env, path=f"{scope.path}.body")
            inp = features[0] if len(features) == 1 else ctx.add_node("concat", {}, features, inner, "concat",
                                                                      position, scope.path)
            out = ctx.expand_body(raw["body"], inp, ctx.item_env(inner, inp), position)
            ctx.outputs[ns] = out
            features.append(out)
        return ctx.add_node("concat", {}, features, scope, None, position, scope.path)
