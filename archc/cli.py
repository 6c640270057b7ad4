"""The ``archc`` command line: a thin layer that maps arguments to archc calls and prints the results.

Spec mistakes print located diagnostics and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from archc.errors import BackendError, SpecError
from archc.train.errors import TrainError

EPILOG = """examples:
  archc validate specs/resnet50.yaml
  archc summary densenet121 --set num_classes=10
  archc compile specs/densenet121.yaml --backend torch -o densenet121.pt2
  archc render resnet18 --set layers=[1,1,1,1]
  archc list
"""


class UsageError(Exception):
    """A mistake on the command line (not in a spec): message to stderr, exit status 2."""


def _add_spec(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="a spec file, or the name of a zoo spec (see `archc list`)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a parameter (repeatable); VALUE is read as YAML: --set layers=[2,2,2,2]")
    _add_allow_path(parser)


def _add_allow_path(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow-path", dest="allow_paths", action="append", default=[], metavar="DIR",
                        help="let extends: read specs below DIR too; by default only the spec's folder and the zoo")


def _count(text: str) -> int:
    """A positive whole number; 1e9 and 2_000_000_000 are accepted too."""
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got '{text}'") from None
    if not value >= 1 or value != int(value) or value > 2**63:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got '{text}'")
    return int(value)


def add_limit_options(parser: Any, dests: tuple[str, str] = ("max_params", "max_activation_bytes")) -> None:
    """--max-params / --max-activation-bytes: the limits checked before lowering (docs/limits.md)."""
    from archc.passes.limits import MAX_ACTIVATION_BYTES, MAX_PARAMS

    parser.add_argument("--max-params", dest=dests[0], type=_count, metavar="N",
                        help=f"refuse networks with more parameters and buffers (default {MAX_PARAMS:.0e})")
    parser.add_argument("--max-activation-bytes", dest=dests[1], type=_count, metavar="N",
                        help=f"refuse networks whose float32 activations of one batch take more bytes "
                        f"(default {MAX_ACTIVATION_BYTES // 2**30} GiB)")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every command; given the command line, only the command module it names is imported (a
    command pays at start-up for its own imports only: docs/optimize.md)."""
    parser = argparse.ArgumentParser(prog="archc", formatter_class=argparse.RawDescriptionHelpFormatter,
                                     description="Compile YAML network specs to PyTorch and Keras models.",
                                     epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"archc {_version()}")
    parser.add_argument("--allow-path", dest="allow_paths_global", action="append", default=[], metavar="DIR",
                        help="let extends: read specs below DIR too (repeatable; also after the command)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str, example: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, description=help_text, epilog=f"example:\n  {example}",
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    p = command("validate", "check a spec and report every problem with its position",
                "archc validate specs/my_net.yaml")
    _add_spec(p)
    p.add_argument("--json", action="store_true", help="print the result (and every problem) as JSON on stdout")
    p = command("summary", "print shapes, parameters and MACs per node, and exact totals",
                "archc summary resnet50 --depth 2 --batch-size 32")
    _add_spec(p)
    p.add_argument("--depth", type=int, default=0, help="group rows by the first N levels of their names (0: all)")
    p.add_argument("--batch-size", type=int, default=1, help="batch size for the activation-memory estimate")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p = command("render", "print the fully expanded spec (one item per node; itself a valid spec)",
                "archc render resnet18 > resnet18_flat.yaml")
    _add_spec(p)
    p.add_argument("--resolved", action="store_true",
                   help="print the spec after extends and --set only, before templates and repeats are expanded")
    p = command("list", "list the zoo specs, or with --ops every op (built-in and from plugins)",
                "archc list\n  archc list --ops")
    p.add_argument("--json", action="store_true", help="print the zoo (or the ops) as JSON")
    p.add_argument("--ops", action="store_true", help="list the ops instead: built-in and installed plugins' ones")
    command("schema", "print the JSON Schema of the spec format (for editor completion)",
            "archc schema > archc.schema.json")
    p = command("compile", "validate, summarize and write a runnable model file",
                "archc compile specs/densenet121.yaml --backend torch -o densenet121.pt2")
    _add_spec(p)
    p.add_argument("--backend", help="torch (a torch.export .pt2 program), keras (.keras) or onnx (.onnx); "
                   "default: the one the suffix of -o names, else torch")
    p.add_argument("-o", "--output", help="model file to write (default: NAME.pt2 / .keras / .onnx in this folder)")
    p.add_argument("--emit-source", metavar="FILE.py", help="torch: also write a standalone PyTorch module file")
    p.add_argument("--seed", type=int, default=0, help="seed for the initial weights")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.add_argument("--optimize", action="store_true",
                   help="write the inference model with BatchNorm folded and activations fused (docs/optimize.md)")
    add_limit_options(p)
    for module in _command_modules(_named_command(argv)):
        module.register(sub)
    return parser


#: Further subcommands live in their own modules under archc/commands/; each defines ``register(subparsers)``
#: which adds its parser and sets ``func`` (a function of the parsed args returning the exit status).
COMMAND_MODULES = ["diff", "draw", "eval", "export", "gradflow", "predict", "runs", "sweep", "train",
                   "weights"]


def _named_command(argv: list[str] | None) -> str | None:
    """The command word of ``argv`` (None: no command line given, or none found)."""
    if argv is None:
        return None
    words = iter(argv)
    for word in words:
        if word == "--allow-path":
            next(words, None)  # its DIR
        elif not word.startswith("-"):
            return word
    return None


def _command_modules(command: str | None = None) -> list[Any]:
    """The modules of the further commands: all of them, or only ``command``'s (none for a core command)."""
    import importlib

    if command in COMMANDS:
        return []
    modules = []
    for name in [command] if command in COMMAND_MODULES else COMMAND_MODULES:
        try:
            modules.append(importlib.import_module(f"archc.commands.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"archc.commands.{name}":
                raise
    return modules


def _version() -> str:
    from archc import __version__

    return __version__


def _check_writable(path: Path, force: bool) -> None:
    if path.is_dir():
        raise UsageError(f"{path} is a folder; name the file to write")
    if path.exists() and not force:
        raise UsageError(f"{path} exists; pass --force to overwrite it")
    if not path.parent.exists():
        raise UsageError(f"folder {path.parent} does not exist")
    if not path.parent.is_dir():
        raise UsageError(f"{path.parent} is a file, not a folder")


def cmd_validate(args: argparse.Namespace) -> int:
    from archc.api import draft_graph  # build_graph's IR without networkx: validate only reads it

    if not args.json:
        graph = draft_graph(args.spec, overrides=args.overrides)
        print(f"{graph.graph['name']}: ok ({len(graph) - 1} nodes)")
        return 0
    try:
        graph = draft_graph(args.spec, overrides=args.overrides)
    except SpecError as exc:
        print(json.dumps({"ok": False, "errors": [_diagnostic_json(d) for d in exc.diagnostics]}, indent=1))
        return 2
    print(json.dumps({"ok": True, "name": graph.graph["name"], "nodes": len(graph) - 1, "errors": []}, indent=1))
    return 0


def _diagnostic_json(diagnostic: Any) -> dict[str, Any]:
    where = diagnostic.position
    return {"file": where.file if where else None, "line": where.line if where else None,
            "col": where.col if where else None, "path": diagnostic.path, "message": diagnostic.message,
            "hint": diagnostic.hint}


def cmd_summary(args: argparse.Namespace) -> int:
    import archc
    from archc.api import draft_graph
    from archc.report import print_summary

    graph = draft_graph(args.spec, overrides=args.overrides)
    summary = archc.summarize(graph, batch_size=args.batch_size, depth=args.depth)
    if args.json:
        data = {"name": summary.name, **summary.totals(),
                "rows": [{"name": r.name, "op": r.op, "shape": r.shape, "params": r.params, "macs": r.macs}
                         for r in summary.rows]}
        print(json.dumps(data, indent=1))
    else:
        print_summary(summary)
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    import yaml

    import archc
    from archc.api import draft_graph
    from archc.render import render_graph

    if args.resolved:
        data = archc.parse(args.spec, args.overrides).to_data()
    else:
        data = render_graph(draft_graph(args.spec, overrides=args.overrides))
    print(yaml.safe_dump(data, sort_keys=False, width=120), end="")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from archc.report import op_rows, print_ops, print_zoo, zoo_rows

    if args.ops:
        if args.json:
            print(json.dumps(op_rows(), indent=1))
        else:
            print_ops()
        return 0
    if args.json:
        print(json.dumps(zoo_rows(), indent=1))
    else:
        print_zoo()
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from archc.schema import spec_json_schema

    print(json.dumps(spec_json_schema(), indent=1))
    return 0


def compile_backend(backend: str | None, output: str | None) -> str:
    """The backend of ``archc compile``: --backend, else the one the suffix of -o names, else torch.

    A suffix that is not the backend's (``-o x.onnx --backend torch``) is an error before anything is written.
    """
    from archc.api import BACKEND_SUFFIXES

    suffix = Path(output).suffix if output else ""
    if backend is None:
        if not output:
            return "torch"
        if suffix not in BACKEND_SUFFIXES:
            known = ", ".join(f"{s} ({b})" for s, b in BACKEND_SUFFIXES.items())
            raise UsageError(f"-o {output}: cannot tell the backend from the suffix '{suffix}'; use {known} "
                             "or pass --backend")
        return BACKEND_SUFFIXES[suffix]
    expected = {b: s for s, b in BACKEND_SUFFIXES.items()}.get(backend)
    if output and expected and suffix != expected:
        raise UsageError(f"-o {output}: the {backend} backend writes {expected} files, not '{suffix or 'no suffix'}'"
                         f" (drop --backend to let the suffix choose, or name the file *{expected})")
    return backend


def _limits(args: argparse.Namespace) -> Any:
    from archc.passes.limits import Limits

    return Limits.of(args.max_params, args.max_activation_bytes)


def cmd_compile(args: argparse.Namespace) -> int:
    import archc
    from archc.api import backend_module, lower
    from archc.report import print_summary
    from archc.train.rundir import atomic_path

    backend_name = compile_backend(args.backend, args.output)
    graph = archc.build_graph(args.spec, overrides=args.overrides)
    print_summary(archc.summarize(graph), rows=False)
    backend = backend_module(backend_name)
    output = Path(args.output or f"{graph.graph['name']}{backend.DEFAULT_SUFFIX}")
    _check_writable(output, args.force)
    if args.emit_source:  # refused before the model file is written
        if not hasattr(backend, "emit_source"):
            raise UsageError(f"--emit-source: the {backend_name} backend has no source to emit (only torch has)")
        _check_writable(Path(args.emit_source), args.force)
        if Path(args.emit_source).resolve() == output.resolve():
            raise UsageError(f"--emit-source and -o both name {output}")
        if args.optimize:
            raise UsageError("--emit-source writes the spec's own module; it cannot carry --optimize's folding")
    model = lower(graph, backend_name, args.seed, _limits(args))
    if args.optimize:
        from archc.api import optimize_for_export

        model = optimize_for_export(model, backend_name)
    with atomic_path(output) as tmp:  # a failed or interrupted save leaves no half-written model file
        backend.save(model, graph, tmp)
    print(f"wrote {output}")
    if args.emit_source:
        with atomic_path(Path(args.emit_source)) as tmp:
            tmp.write_text(backend.emit_source(graph), encoding="utf-8")
        print(f"wrote {args.emit_source}")
    return 0


COMMANDS = {"validate": cmd_validate, "summary": cmd_summary, "render": cmd_render, "list": cmd_list,
            "schema": cmd_schema, "compile": cmd_compile}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(sys.argv[1:] if argv is None else list(argv))
    args = parser.parse_args(argv)
    from archc.spec.resolve import allowed_paths  # after parsing: --help and usage errors need no spec machinery

    try:
        func = getattr(args, "func", None) or COMMANDS[args.command]
        with allowed_paths([*args.allow_paths_global, *getattr(args, "allow_paths", [])]):
            return func(args) or 0
    except SpecError as exc:
        print(exc.format(), file=sys.stderr)
        count = len(exc.diagnostics)
        print(f"{count} error{'s' if count != 1 else ''}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"archc: error: {exc}", file=sys.stderr)
        return 2
    except BackendError as exc:
        print(f"archc: error: {exc}", file=sys.stderr)
        return 2
    except TrainError as exc:  # a training setup that cannot work (every command that reads runs raises it)
        print(f"archc: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a read-only folder, a full disk, a file where a folder should be: one line, no trace
        print(f"archc: error: {describe_os_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # a TrainingInterrupted says where its checkpoint is
        print(f"archc: {exc or 'interrupted'}", file=sys.stderr)
        return 130


def describe_os_error(exc: OSError) -> str:
    """``PATH: cause`` for an OSError, naming both paths of a rename."""
    cause = exc.strerror or str(exc) or type(exc).__name__
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    return f"{' -> '.join(paths)}: {cause}" if paths else cause


def run(argv: Any = None) -> None:
    sys.exit(main(argv))


if __name__ == "__main__":
    run()
