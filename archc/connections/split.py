"""Channel split, ShuffleNetV2's ``x1, x2 = x.chunk(2, dim=1)``: one ``chunk`` node per part.

The parts are addressed by number in the split's namespace: ``from: split.0`` (or ``<name>.0`` for a named split).
The split's own output, what the next item reads, is its last part.
"""

from __future__ import annotations

from pydantic import Field

from archc.spec.context import Connection, Context, Tensor, register_connection


@register_connection("split")
class Split(Connection):
    summary = "x cut into `chunks` equal channel parts <name>.0, <name>.1, ... (the last one flows on)"
    roles = frozenset()  # its parts are named by number
    chunks: int = Field(2, ge=2)

    def expand(self, ctx: Context, x: Tensor) -> Tensor:
        if x.shape is not None and x.shape[0] % self.chunks:
            raise ctx.error(f"split cannot cut {x.shape[0]} channels into {self.chunks} equal parts",
                            "choose chunks among the divisors of the channel count", at="chunks")
        # an unnamed split still gets a namespace of its own (split, split_1, ...), so its parts have names to address
        inner = ctx if ctx.name == ctx.namespace else ctx.within(ctx.name.removeprefix(f"{ctx.namespace}."))
        parts = [inner.add("chunk", {"chunks": self.chunks, "index": index}, [x], str(index))
                 for index in range(self.chunks)]
        return parts[-1]
