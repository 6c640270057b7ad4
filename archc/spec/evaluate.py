"""Evaluating the ``${...}`` expressions inside an item's values, with located errors (:mod:`archc.spec.expr` does
the expressions themselves)."""

from __future__ import annotations

import re
from typing import Any

from archc.errors import Position
from archc.spec.context import ItemError
from archc.spec.expr import ExprError, substitute
from archc.spec.loader import LList, LMap, position_of
from archc.spec.names import Scope
from archc.spec.validation import join_path


class _Unknown:
    """Stands for in_channels / in_shape after an upstream error."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = _Unknown()
#: stands for a parameter whose value was refused (an expression in params:); its uses stay silent
REFUSED = _Unknown()
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def contains_expression(value: Any) -> bool:
    if isinstance(value, str):
        return "$" in value
    if isinstance(value, dict):
        return any(contains_expression(item) for item in value.values())
    if isinstance(value, list):
        return any(contains_expression(item) for item in value)
    return False


def expression_position(position: Position | None, text: Any, column: int | None) -> Position | None:
    """Move the caret from the start of a YAML scalar to ``column`` inside the expression text, when the scalar is
    written on one line as is (plain or quoted without escapes); otherwise keep the scalar's position."""
    if position is None or column is None or not isinstance(text, str) or not position.line_text:
        return position
    line, start = position.line_text, position.col - 1
    if line[start:start + 1] in ("'", '"') and line.startswith(text, start + 1):
        start += 1
    elif not line.startswith(text, start):
        return position
    return Position(position.file, position.line, start + column + 1, position.line_text)


class Evaluator:
    """Substitutes expressions in item values; remembers which containers hold none (most of a network's)."""

    def __init__(self, refused: frozenset[str] = frozenset()) -> None:
        self._expression_free: dict[int, tuple[Any, bool]] = {}
        self.refused = refused  # parameters reported as wrong already: an expression reading one fails silently

    def has_expressions(self, value: Any) -> bool:
        """Whether a mapping or list holds any ``$`` string (remembered on located containers: the same YAML is
        expanded many times)."""
        if isinstance(value, (LMap, LList)):
            if value.exprs is None:
                value.exprs = contains_expression(value)
            return value.exprs
        hit = self._expression_free.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        found = contains_expression(value)
        self._expression_free[id(value)] = (value, found)
        return found

    def evaluate(self, value: Any, scope: Scope, position: Position | None, path: str,
                 skip: frozenset[str] = frozenset(), top: bool = True) -> Any:
        """Substitute expressions in a value (deeply for mappings / lists, except under ``body`` / ``after`` and, at
        the top, the keys in ``skip``)."""
        if isinstance(value, str):
            return self._string(value, scope, position, path) if "$" in value else value
        if isinstance(value, (dict, list)) and not self.has_expressions(value):
            return value
        if isinstance(value, dict):
            return self._mapping(value, scope, position, path, skip, top)
        if isinstance(value, list):
            out = LList(pos=getattr(value, "pos", None))
            if isinstance(value, LList):
                out.item_pos = value.item_pos
            for index, item in enumerate(value):
                out.append(self.evaluate(item, scope, position_of(value, index) or position, join_path(path, index),
                                         skip, top=False))
            return out
        return value

    def _string(self, value: str, scope: Scope, position: Position | None, path: str) -> Any:
        try:
            result = substitute(value, scope.env)
        except ExprError as exc:
            error = ItemError(exc.message, expression_position(position, value, exc.column), path, exc.hint)
            error.maybe_cascade = "in_" in value
            error.reported = self._reads_refused(value)
            raise error from None
        if result is REFUSED or self._reads_refused(value) and REFUSED in _flat(result):
            error = ItemError("a parameter it reads is wrong", position, path)
            error.reported = True
            raise error
        if result is UNKNOWN:
            error = ItemError("the input shape is unknown after an earlier error", position, path)
            error.maybe_cascade = True
            raise error
        return result

    def _reads_refused(self, text: str) -> bool:
        return bool(self.refused) and any(word in self.refused for word in _WORD.findall(text))

    def _mapping(self, value: dict, scope: Scope, position: Position | None, path: str, skip: frozenset[str],
                 top: bool) -> LMap:
        out = LMap(pos=getattr(value, "pos", None))
        if isinstance(value, LMap):
            out.key_pos, out.value_pos = value.key_pos, value.value_pos
        for key, item in value.items():
            if (top and key in skip) or (not top and key in ("body", "after")):
                out[key] = item
            else:
                out[key] = self.evaluate(item, scope, position_of(value, key) or position, join_path(path, key),
                                         skip, top=False)
        return out


def _flat(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in _flat(item)]
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _flat(item)]
    return [value]
