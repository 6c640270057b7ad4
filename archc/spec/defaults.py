"""``defaults:`` checked like items, once, where it is written: an unknown op or argument is one error at the line
of the typo with a "did you mean", and the entries that are wrong are not applied to the nodes (which would report
the same mistake once per node, at the node)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from archc.errors import DiagnosticSink, did_you_mean
from archc.ops.registry import OPS
from archc.spec.evaluate import contains_expression
from archc.spec.loader import LMap, position_of
from archc.spec.validation import diagnostics_from_validation, field_names


def checked_defaults(defaults: Any, sink: DiagnosticSink) -> tuple[dict[str, Any], set[str]]:
    """The usable entries of ``defaults:`` (op -> arguments) and the ops whose entry was wrong; every problem is
    recorded in ``sink``. A node of such an op then keeps quiet about a missing argument: the entry meant to give it
    (``kernal: 3``) is what was reported."""
    out: dict[str, Any] = {}
    broken: set[str] = set()
    for op, args in (defaults or {}).items():
        if op not in OPS:
            where = defaults.key_pos.get(op) if isinstance(defaults, LMap) else None
            sink.error(f"unknown op '{op}'", where, f"defaults.{op}",
                       did_you_mean(op, OPS) or f"known ops: {', '.join(sorted(OPS))}")
            continue
        out[op] = _checked_arguments(op, args, position_of(defaults, op), sink)
        if out[op] is not args:
            broken.add(op)
    return out, broken


def _checked_arguments(op: str, args: Any, position: Any, sink: DiagnosticSink) -> Any:
    """The arguments without the ones that are wrong. Values with expressions are checked per node, where their
    variables have values; their names are checked here."""
    cls = OPS.get(op)
    fixed = {key: value for key, value in args.items() if not contains_expression(value)}
    known = field_names(cls)
    fixed.update({key: None for key in args if key not in known and key not in fixed})  # unknown: reported
    try:
        cls.model_validate(fixed)
    except ValidationError as exc:
        sink.diagnostics.extend(diagnostics_from_validation(exc, args, f"defaults.{op}", cls, position,
                                                            ignore=frozenset({"missing"})))
        wrong = {error["loc"][0] for error in exc.errors(include_url=False) if error["type"] != "missing" and
                 error["loc"]}
        if wrong:
            kept = LMap(pos=getattr(args, "pos", None))
            if isinstance(args, LMap):
                kept.key_pos, kept.value_pos = args.key_pos, args.value_pos
            kept.update({key: value for key, value in args.items() if key not in wrong})
            return kept
    return args
