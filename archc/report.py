"""Human-readable output of the CLI (rich tables)."""

from __future__ import annotations

import os
import re

from rich.console import Console
from rich.table import Table

from archc.passes.cost import Summary


def human(number: float, unit: str = "") -> str:
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(number) >= scale:
            return f"{number / scale:.3f} {suffix}{unit}"
    return f"{number:g} {unit}".rstrip()


def mib(nbytes: int) -> str:
    return f"{nbytes / 2**20:,.1f} MiB"


def _output_console() -> Console:
    """The CLI's console. Written to a file or a pipe, rich would fit tables into 80 columns; a table there is as wide
    as its rows need (``COLUMNS`` still sets a width)."""
    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(highlight=False, width=1000)
    return console


def print_summary(summary: Summary, rows: bool = True, console: Console | None = None) -> None:
    console = console or _output_console()
    if rows:
        table = Table(title=f"{summary.name}: input {list(summary.input_shape or [])}", title_justify="left")
        table.add_column("node", overflow="fold")  # a node name is a checkpoint key: wrapped, never cut short
        table.add_column("op", no_wrap=True)
        table.add_column("output shape", no_wrap=True)
        table.add_column("params", justify="right")
        table.add_column("MACs", justify="right")
        for row in summary.rows:
            shape = "?" if row.shape is None else str(list(row.shape))
            table.add_row(row.name, row.op, shape, f"{row.params:,}" if row.params else "",
                          f"{row.macs:,}" if row.macs else "")
        console.print(table)
    totals = Table(show_header=False, box=None, title=f"{summary.name} totals", title_justify="left")
    totals.add_column(justify="left")
    totals.add_column(justify="right")
    if summary.outputs:  # several: each with its shape and its stride
        for index, (name, shape, stride) in enumerate(summary.outputs):
            where = f", stride {stride[0]}" if stride and stride[0] == stride[1] else \
                (f", stride {list(stride)}" if stride else "")
            totals.add_row(f"output {index}: {name}", f"{list(shape or [])}{where}")
    else:
        totals.add_row("output shape", str(list(summary.output_shape or [])))
    totals.add_row("nodes", f"{summary.nodes:,}")
    totals.add_row("trainable parameters", f"{summary.params:,}")
    totals.add_row("buffers (running statistics, indices)", f"{summary.buffers:,}")
    totals.add_row("MACs (multiply-accumulates)", f"{summary.macs:,} ({human(summary.macs)})")
    totals.add_row("FLOPs (= 2 x MACs)", f"{summary.flops:,} ({human(summary.flops)})")
    totals.add_row(f"activations, batch {summary.batch_size}, float32", mib(summary.activation_bytes))
    totals.add_row("weights, float32", mib((summary.params + summary.buffers) * 4))
    console.print(totals)


def zoo_rows() -> list[dict[str, object]]:
    """One row per zoo spec: name, params, MACs, the first sentence of its description (or its first error)."""
    import archc
    from archc.errors import SpecError
    from archc.zoo import zoo_names

    rows: list[dict[str, object]] = []
    for name in zoo_names():
        try:
            spec = archc.parse(name)
            summary = archc.summarize(spec)
            # the first sentence; "He et al. 2015" does not end one (a sentence ends before a capital)
            description = re.split(r"\.\s+(?=[A-Z])", spec.model.description)[0]
            rows.append({"name": name, "params": summary.params, "macs": summary.macs, "description": description})
        except SpecError as exc:
            rows.append({"name": name, "error": exc.diagnostics[0].message})
    return rows


def print_zoo(console: Console | None = None) -> None:
    console = console or _output_console()
    table = Table(title="archc zoo", title_justify="left")
    for column, justify in (("name", "left"), ("params", "right"), ("GMACs", "right"), ("description", "left")):
        table.add_column(column, justify=justify, overflow="fold" if column == "name" else "ellipsis")  # type: ignore
    for row in zoo_rows():
        if "error" in row:
            table.add_row(str(row["name"]), "error", "", str(row["error"]))
        else:
            table.add_row(str(row["name"]), f"{row['params']:,}", f"{int(row['macs']) / 1e9:.3f}",  # type: ignore
                          str(row["description"]))
    console.print(table)


def op_rows() -> list[dict[str, object]]:
    """One row per registered op: name, origin (built-in or the plugin), inputs, traits, tensors, summary."""
    from archc.ops import plugin_origins
    from archc.ops.registry import OPS

    origins = plugin_origins()
    rows: list[dict[str, object]] = []
    for name, op in OPS.items():
        inputs = "2+" if op.arity is None else str(op.arity)
        tensors = [f"{decl.name} ({decl.role}{'' if decl.trainable else ', buffer'})" for decl in op.tensors]
        rows.append({"name": name, "origin": origins[name], "inputs": inputs, "traits": sorted(op.traits),
                     "tensors": tensors, "summary": op.summary})
    return rows


def print_ops(console: Console | None = None) -> None:
    console = console or _output_console()
    table = Table(title="archc ops", title_justify="left")
    for column in ("op", "origin", "inputs", "tensors", "traits", "summary"):
        table.add_column(column, overflow="fold" if column == "op" else "ellipsis")
    for row in op_rows():
        tensors = ", ".join(str(t).split(" (")[0] + ("*" if "buffer" in str(t) else "") for t in row["tensors"])  # type: ignore
        table.add_row(str(row["name"]), str(row["origin"]), str(row["inputs"]), tensors or "-",
                      ", ".join(row["traits"]), str(row["summary"]))  # type: ignore
    console.print(table)
    console.print("* a buffer (not trained); `archc list --ops --json` gives each tensor's layout role")
