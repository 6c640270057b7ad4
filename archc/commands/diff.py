"""``archc diff A B``: what changed between two specs, node by node (matched by name) and stage by stage.

    archc diff resnet50 se_resnet50
    archc diff resnet50 resnet50 --set-b stride_on=conv1
    archc diff specs/my_net.yaml specs/my_net_v2.yaml --json

Exit status 0 when the comparison ran (whether or not anything differs), 1 with ``--exit-code`` when the networks
differ (as ``git diff --exit-code``), 2 for a mistake in a spec or on the command line.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # rich and archc.diff (networkx) load when a diff runs, not when `archc --help` lists the commands
    from rich.console import Console

    from archc.diff import GraphDiff, NodeChange, NodeInfo

EXAMPLES = """examples:
  archc diff resnet50 se_resnet50                     # the SE nodes added to every block
  archc diff resnet50 resnet50 --set-b stride_on=conv1  # strides moved; MACs 4.089 G -> 3.858 G
  archc diff resnet18 resnet34 --depth 2 --json
"""


def register(subparsers: Any) -> None:
    """Add the ``diff`` subcommand."""
    parser = subparsers.add_parser(
        "diff", help="show what changed between two specs: nodes, attributes, shapes, parameters and MACs",
        description="Compare two specs (files or zoo names). Nodes are matched by name (names are the checkpoint "
                    "contract): added, removed and changed nodes (op, attributes, inputs), output shapes that "
                    "changed, and parameter / MAC deltas per stage and in total.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", metavar="A", help="the old spec: a file or a zoo name")
    parser.add_argument("b", metavar="B", help="the new spec: a file or a zoo name")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a parameter of both specs (repeatable)")
    parser.add_argument("--set-a", dest="overrides_a", action="append", default=[], metavar="KEY=VALUE",
                        help="override a parameter of A (repeatable; after --set)")
    parser.add_argument("--set-b", dest="overrides_b", action="append", default=[], metavar="KEY=VALUE",
                        help="override a parameter of B (repeatable; after --set)")
    parser.add_argument("--depth", type=int, default=1,
                        help="stages are the first N levels of the node names (default 1; 0: one row per node)")
    parser.add_argument("--json", action="store_true", help="print the difference as JSON")
    parser.add_argument("--exit-code", action="store_true", help="exit with status 1 when the networks differ")
    parser.add_argument("--limit", type=int, default=40, metavar="N",
                        help="rows shown per section (default 40; 0: all); --json always lists everything")
    parser.set_defaults(func=cmd_diff)


def cmd_diff(args: argparse.Namespace) -> int:
    """Run ``archc diff``: build both graphs, compare them, print the result."""
    from archc.cli import UsageError
    from archc.diff import diff_graphs

    if args.depth < 0:
        raise UsageError(f"--depth must be 0 or more, got {args.depth}")
    if args.limit < 0:
        raise UsageError(f"--limit must be 0 or more, got {args.limit}")
    overrides_a = [*args.overrides, *args.overrides_a]
    overrides_b = [*args.overrides, *args.overrides_b]
    graph_a = _build("A", args.a, overrides_a)
    graph_b = _build("B", args.b, overrides_b)
    result = diff_graphs(graph_a, graph_b, depth=args.depth)
    if args.json:
        data = {"spec_a": {"source": args.a, "set": overrides_a}, "spec_b": {"source": args.b, "set": overrides_b},
                **result.to_dict()}
        print(json.dumps(data, indent=1))
    else:
        print_diff(result, _label(args.a, overrides_a), _label(args.b, overrides_b), limit=args.limit)
    return 1 if args.exit_code and not result.identical else 0


def _build(side: str, spec: str, overrides: list[str]) -> Any:
    """The graph of one side; its spec errors say which side they belong to."""
    import archc
    from archc.errors import Diagnostic, SpecError

    try:
        return archc.build_graph(spec, overrides=overrides)
    except SpecError as exc:
        note = Diagnostic(f"in spec {side}: {_label(spec, overrides)}", severity="note")
        if exc.diagnostics:
            exc.diagnostics[0].notes.append(note)
        raise


def _label(spec: str, overrides: list[str]) -> str:
    return " ".join([spec, *(f"--set {item}" for item in overrides)])


# ---- human-readable output -------------------------------------------------------------------------------------
# Plain aligned columns rather than rich tables: lines never wrap or truncate, so piped output stays greppable.

def signed(number: int) -> str:
    """``+1,234`` / ``-1,234`` / ``0``."""
    return f"{number:+,}" if number else "0"


def _human(number: int, sign: bool = False) -> str:
    from archc.report import human

    text = human(number)
    return f"+{text}" if sign and number > 0 else text


def _percent(old: int, new: int) -> str:
    if not old or new == old:
        return ""
    percent = (new - old) / old * 100
    return f" ({percent:+.2f}%)" if abs(percent) >= 0.01 else f" ({percent:+.1g}%)"


def _giga(number: int) -> str:
    if not number:
        return "0"
    return f"{number / 1e9:+.3f}" if abs(number) >= 500_000 else f"{number / 1e9:+.6f}"


def _shape(shape: tuple[int, ...] | None) -> str:
    return "?" if shape is None else str(list(shape))


def _value(value: Any) -> str:
    """A value as a spec writes it: strings quoted, booleans true / false (not Python's True)."""
    return "-" if value is None else json.dumps(value) if isinstance(value, (str, bool)) else str(value)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def print_diff(result: GraphDiff, label_a: str, label_b: str, limit: int = 40, console: Console | None = None) -> None:
    """Print a GraphDiff as text sections: added, removed, changed, shapes, cost per stage, totals."""
    from rich.console import Console
    from rich.text import Text

    console = console or Console(highlight=False)
    for side, label, name in (("A", label_a, result.name_a), ("B", label_b, result.name_b)):
        named = "" if label.split(" ")[0] == name else f"  (network {name})"
        console.print(Text(f"{side}: {label}{named}", style="bold"), soft_wrap=True)
    if result.identical:
        console.print("no structural difference: same nodes, attributes, inputs and shapes")
    _print_nodes(console, "added", "+", "green", result.added, limit)
    _print_nodes(console, "removed", "-", "red", result.removed, limit)
    _print_changes(console, result.changed, limit)
    _print_shapes(console, result, limit)
    _print_costs(console, result, limit)
    _print_totals(console, result)


def _section(console: Console, title: str) -> None:
    from rich.text import Text

    console.print()
    console.print(Text(title, style="bold"), soft_wrap=True)


def _rows(console: Console, rows: list[list[str]], right: tuple[int, ...] = (), styles: dict[int, str] | None = None,
          limit: int = 0, bold_last: bool = False) -> None:
    """Print rows as columns two spaces apart; ``right`` lists right-aligned columns, ``styles`` a style per column."""
    from rich.text import Text

    shown = rows if limit == 0 else rows[:limit]
    if bold_last and shown is not rows and rows:
        shown = [*shown, rows[-1]]
    widths = [max(len(row[column]) for row in shown) for column in range(len(shown[0]))] if shown else []
    for index, row in enumerate(shown):
        line = Text("  ", style="bold" if bold_last and index == len(shown) - 1 else "")
        for column, cell in enumerate(row):
            padded = cell.rjust(widths[column]) if column in right else cell.ljust(widths[column])
            line.append(padded if column == len(row) - 1 and column not in right else padded + "  ",
                        style=(styles or {}).get(column, ""))
        line.rstrip()
        console.print(line, soft_wrap=True)
    hidden = len(rows) - len(shown)
    if hidden > 0:
        console.print(f"  ... {hidden} more (--limit 0 shows all; --json lists everything)")


def _print_nodes(console: Console, verb: str, mark: str, style: str, nodes: list[NodeInfo], limit: int) -> None:
    from archc.diff import grouped

    if not nodes:
        return
    groups = grouped(nodes)
    params, macs = sum(node.params for node in nodes), sum(node.macs for node in nodes)
    where = f" in {_plural(len(groups), 'group')}" if len(groups) != len(nodes) else ""
    _section(console, f"{verb} {_plural(len(nodes), 'node')}{where}: {_signed_by(mark, params)} params, "
                      f"{_signed_by(mark, macs)} MACs")
    rows = []
    for group, members in groups:
        if len(members) == 1 and members[0].name == group:
            what = f"{members[0].op} {_shape(members[0].shape)}"
        else:
            relative = [node.name[len(group) + 1:] for node in members]
            what = ", ".join(relative[:8]) + (f", ... ({len(relative) - 8} more)" if len(relative) > 8 else "")
            what = f"{len(members)} nodes: {what}"
        group_params, group_macs = sum(n.params for n in members), sum(n.macs for n in members)
        rows.append([mark, group, f"{_signed_by(mark, group_params)} params" if group_params else "",
                     f"{_signed_by(mark, group_macs)} MACs" if group_macs else "", what])
    _rows(console, rows, right=(2, 3), styles={0: style}, limit=limit)


def _signed_by(mark: str, number: int) -> str:
    return f"{mark}{number:,}" if number else "0"


def _print_changes(console: Console, changes: list[NodeChange], limit: int) -> None:
    if not changes:
        return
    _section(console, f"changed {_plural(len(changes), 'node')} (op, attributes or inputs)")
    rows = []
    for change in changes:
        details = [f"op {change.op_old} -> {change.op_new}"] if change.op_changed else []
        details += [f"{attr.name} {_value(attr.old)} -> {_value(attr.new)}" for attr in change.attrs]
        details += _input_lines(change)
        if change.connection_changed:
            details.append(f"made by {change.connection_old or 'no connection'} -> "
                           f"{change.connection_new or 'no connection'}")
        rows.append(["~", change.name, change.op_new, "; ".join(details)])
    _rows(console, rows, styles={0: "yellow"}, limit=limit)


def _input_lines(change: NodeChange) -> list[str]:
    if not change.inputs_changed:
        return []
    old, new = change.inputs_old or (), change.inputs_new or ()
    if len(old) != len(new):  # a concat that gained or lost inputs: name the difference, not both lists
        dropped, gained = [name for name in old if name not in new], [name for name in new if name not in old]
        parts = [f"inputs {len(old)} -> {len(new)}"]
        parts += [f"{verb} {_some(names)}" for verb, names in (("without", dropped), ("with", gained)) if names]
        return [", ".join(parts)]
    return [f"input {port}: {before} -> {after}" for port, (before, after) in enumerate(zip(old, new))
            if before != after]


def _some(names: list[str], shown: int = 2) -> str:
    return ", ".join(names[:shown]) + (f" (+{len(names) - shown} more)" if len(names) > shown else "")


def _print_shapes(console: Console, result: GraphDiff, limit: int) -> None:
    if not result.shapes:
        return
    _section(console, f"output shape changed on {_plural(len(result.shapes), 'node')}")
    rows = [[change.name, _shape(change.old), "->", _shape(change.new)] for change in result.shapes]
    _rows(console, rows, right=(1,), limit=limit)


def _print_costs(console: Console, result: GraphDiff, limit: int) -> None:
    changed = [stage for stage in result.stages if stage.changed]
    if not changed:
        return
    hidden = len(result.stages) - len(changed)
    unit = "node" if result.depth == 0 else "stage"
    depth = f", depth {result.depth}" if result.depth > 1 else ""
    _section(console, f"parameters and MACs by {unit}{depth}" + (f" ({hidden} unchanged not shown)" if hidden else ""))
    rows = [[unit, "params A", "params B", "Δ params", "MACs A", "MACs B", "Δ MACs"]]
    for stage in changed:
        rows.append([stage.name, f"{stage.params_a:,}" if stage.in_a else "-",
                     f"{stage.params_b:,}" if stage.in_b else "-", signed(stage.params_delta),
                     _human(stage.macs_a) if stage.in_a else "-", _human(stage.macs_b) if stage.in_b else "-",
                     _human(stage.macs_delta, sign=True)])
    _rows(console, rows, right=(1, 2, 3, 4, 5, 6), limit=limit + 1 if limit else 0)


def _print_totals(console: Console, result: GraphDiff) -> None:
    total = result.total
    _section(console, "total")
    rows = [["", "A", "B", "Δ"],
            ["parameters", f"{total.params_a:,}", f"{total.params_b:,}",
             signed(total.params_delta) + _percent(total.params_a, total.params_b)],
            ["MACs", f"{total.macs_a:,}", f"{total.macs_b:,}",
             signed(total.macs_delta) + _percent(total.macs_a, total.macs_b)],
            ["GMACs", f"{total.macs_a / 1e9:.3f}", f"{total.macs_b / 1e9:.3f}", _giga(total.macs_delta)]]
    _rows(console, rows, right=(1, 2, 3))
