"""The validation / shape / cost cache: what one node's arguments and input shapes make of it.

Most layers of a network repeat the same arguments on the same shapes, and op models are frozen with shape and
cost rules that are functions of them, so each distinct (op, arguments) is validated once and each distinct
(op, arguments, input shapes) is shaped and costed once.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from pydantic import ValidationError

from archc.errors import DiagnosticSink, Position
from archc.ops.registry import OpSpec, Shape, ShapeError
from archc.spec.validation import diagnostics_from_validation, join_path

_NO_COST = {"params": 0, "buffers": 0, "macs": 0}  # read-only: nodes get copies


class Checked(NamedTuple):
    """A node's validated attributes, output shape, cost and error message (None where the node is fine)."""

    attrs: OpSpec | None
    shape: Shape | None
    cost: dict[str, int]
    error: str | None


def freeze(value: Any) -> Any:
    """A hashable key for validated arguments; types are part of it (``1``, ``1.0`` and ``true`` differ)."""
    if isinstance(value, dict):
        return (dict, *[(key, freeze(item)) if isinstance(item, (dict, list)) else (key, type(item), item)
                        for key, item in value.items()])
    if isinstance(value, list):
        return (list, *[freeze(item) for item in value])
    return (type(value), value)


def _key(args: Any) -> Any:
    try:
        key: Any = freeze(args)
        hash(key)
    except TypeError:
        return None
    return key


class NodeCache:
    """Checks nodes and remembers the results; problems go to ``sink`` as located diagnostics."""

    def __init__(self, sink: DiagnosticSink):
        self.sink = sink
        self._attrs: dict[tuple[str, Any], OpSpec] = {}
        self._shapes: dict[tuple[str, Any, tuple[Shape, ...]], tuple[Shape, dict[str, int]]] = {}

    def check(self, op: str, cls: type[OpSpec], args: Any, in_shapes: list[Shape | None], position: Position | None,
              path: str, raw: Any, quiet_missing: bool = False) -> Checked:
        """Validate ``args``, check the number of inputs, infer the shape and count the cost of one node.
        ``quiet_missing``: a missing argument is not reported (it follows from a wrong ``defaults:`` entry)."""
        key = _key(args)
        attrs = self.validate(op, cls, args, key, position, path, raw, quiet_missing)
        if isinstance(attrs, str):
            return Checked(None, None, _NO_COST, attrs)
        message = self._arity_error(op, cls, len(in_shapes), position, path)
        if message is not None:
            return Checked(None, None, _NO_COST, message)
        if None in in_shapes:
            return Checked(attrs, None, _NO_COST, None)
        return self._shape_and_cost(op, attrs, key, in_shapes, position, path)  # type: ignore[arg-type]

    def validate(self, op: str, cls: type[OpSpec], args: Any, key: Any, position: Position | None, path: str,
                 raw: Any, quiet_missing: bool = False) -> OpSpec | str:
        """The validated attributes, or the message of the first problem (all are reported)."""
        attrs = self._attrs.get((op, key)) if key is not None else None
        if attrs is not None:
            return attrs
        try:
            attrs = cls.model_validate(args)
        except ValidationError as exc:
            diagnostics = diagnostics_from_validation(exc, raw if raw is not None else args, join_path(path, op),
                                                      cls, position, frozenset({"missing"} if quiet_missing else ()))
            self.sink.diagnostics.extend(diagnostics)
            if not diagnostics and quiet_missing:
                return f"the defaults: entry of {op} is wrong"
            return diagnostics[0].message if diagnostics else "invalid arguments"
        if key is not None:
            self._attrs[(op, key)] = attrs
        return attrs

    def _arity_error(self, op: str, cls: type[OpSpec], count: int, position: Position | None, path: str) -> str | None:
        arity = cls.arity
        if (arity is None and count >= 2) or count == arity:
            return None
        wanted = "two or more inputs" if arity is None else f"{arity} input{'s' if arity != 1 else ''}"
        message = f"{op} takes {wanted}, got {count}"
        self.sink.error(message, position, path, "list its inputs with from: [a, b]" if arity != 1 else
                        "from: names exactly one node here")
        return message

    def _shape_and_cost(self, op: str, attrs: OpSpec, key: Any, in_shapes: list[Shape], position: Position | None,
                        path: str) -> Checked:
        shape_key = (op, key, tuple(in_shapes)) if key is not None else None
        hit = self._shapes.get(shape_key) if shape_key is not None else None  # type: ignore[arg-type]
        if hit is not None:
            return Checked(attrs, hit[0], hit[1], None)
        try:
            shape = tuple(attrs.infer_shape(in_shapes))
        except ShapeError as exc:
            self.sink.error(exc.message, position, path, exc.hint)
            return Checked(attrs, None, _NO_COST, exc.message)
        cost = {"params": attrs.count_params(in_shapes, shape), "buffers": attrs.count_buffers(in_shapes, shape),
                "macs": attrs.count_macs(in_shapes, shape)}
        if shape_key is not None:
            self._shapes[shape_key] = (shape, cost)  # type: ignore[index]
        return Checked(attrs, shape, cost, None)
