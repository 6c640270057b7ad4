"""archc draw SPEC -o net.svg: a picture of the network (.svg .png .dot .mmd .html), errors marked in red."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

FORMATS = {".svg": "SVG through Graphviz", ".png": "PNG through Graphviz", ".dot": "Graphviz source",
           ".gv": "Graphviz source", ".mmd": "Mermaid flowchart", ".html": "interactive page (one file)"}

EXAMPLES = """examples:
  archc draw resnet50 --depth 2 -o resnet50.svg
  archc draw densenet121 --depth 3 -o densenet121.png
  archc draw specs/my_net.yaml -o my_net.html      # zoom, pan, expand groups, hover for shapes and cost
  archc draw resnet18 -o resnet18.mmd              # Mermaid, renders on GitHub
"""


def register(subparsers: Any) -> None:
    from archc.cli import _add_spec

    parser = subparsers.add_parser("draw", help="draw the network (svg, png, dot, Mermaid, interactive html)",
                                   description=__doc__, epilog=EXAMPLES,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_spec(parser)
    parser.add_argument("-o", "--output", help="file to write; its suffix picks the format: "
                        + ", ".join(FORMATS) + " (default: NAME.svg)")
    parser.add_argument("--depth", type=int, default=0,
                        help="show N levels of names; deeper groups become one box with their output shape and "
                             "total params (0: every op; html: the depth the page opens at)")
    parser.add_argument("--direction", choices=["TB", "LR"], default="TB",
                        help="Graphviz / Mermaid: top to bottom (default) or left to right")
    parser.add_argument("--all-edges", action="store_true",
                        help="draw every input of every dense concat (default: one edge from the previous concat)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    import archc
    from archc.cli import UsageError, _check_writable
    from archc.train.rundir import atomic_write, atomic_write_text  # no half-written drawing under its name
    from archc.viz import build_view, to_dot, to_html, to_mermaid
    from archc.viz.graphviz import GraphvizMissing, run_dot

    if args.depth < 0:
        raise UsageError("--depth must be 0 (everything) or a positive number of name levels")
    spec = archc.parse(args.spec, args.overrides)
    output = Path(args.output or f"{spec.name}.svg")
    suffix = output.suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(f"cannot tell the format of {output}: use one of "
                         + ", ".join(f"{s} ({what})" for s, what in FORMATS.items()))
    _check_writable(output, args.force)
    graph = archc.build_graph(spec, strict=False)
    view = build_view(graph, args.depth, all_edges=args.all_edges)
    status = 0
    if suffix == ".html":
        atomic_write_text(output, to_html(graph, args.depth, all_edges=args.all_edges))
    elif suffix in (".dot", ".gv"):
        atomic_write_text(output, to_dot(view, args.direction))
    elif suffix == ".mmd":
        atomic_write_text(output, to_mermaid(view, args.direction))
    else:
        dot_text = to_dot(view, args.direction)
        try:
            image = run_dot(dot_text, suffix[1:])
            atomic_write(output, lambda handle: handle.write(image))
        except GraphvizMissing as exc:
            fallback = output.with_suffix(".dot")
            _check_writable(fallback, args.force)
            atomic_write_text(fallback, dot_text)
            print(f"archc: {exc}", file=sys.stderr)
            print(f"wrote {fallback} instead; render it with `dot -T{suffix[1:]} {fallback} -o {output}` once Graphviz "
                  "is installed, or draw to .html / .mmd, which need no Graphviz", file=sys.stderr)
            status = 1
        except (RuntimeError, OSError) as exc:
            raise UsageError(str(exc)) from None
    if status == 0:
        print(f"wrote {output} ({len(view.nodes)} boxes, {len(view.edges)} edges"
              + (f", depth {args.depth}" if args.depth else "") + ")")
    if graph.diagnostics:
        for diagnostic in graph.diagnostics:
            print(diagnostic.format(), file=sys.stderr)
        count = len(graph.diagnostics)
        print(f"{count} error{'s' if count != 1 else ''}: the drawing shows the valid part, failing nodes in red",
              file=sys.stderr)
        return 2
    return status
