"""Safe evaluation of the ``${...}`` expressions that YAML specs may contain.

An expression is parsed with :func:`ast.parse` and interpreted by walking a whitelist of node types; the text is
never handed to ``eval``/``exec``/``compile``. Specs are untrusted input, so besides refusing anything outside the
whitelist the evaluator bounds every operation that could hang or exhaust memory (huge powers, huge repetitions,
deep nesting). Every failure surfaces as :class:`ExprError`, which carries a column so the spec loader can point a
caret at the offending part of the expression.
"""

from __future__ import annotations

import ast
import functools
import inspect
import math
import warnings
from collections import ChainMap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from archc.errors import did_you_mean

__all__ = ["ExprError", "evaluate", "has_expression", "substitute"]

# Resource limits. A spec must never hang the compiler or exhaust memory, whatever its expressions say.
_MAX_TEXT = 2000  # characters in one expression
_MAX_DEPTH = 50  # nesting of expression nodes and of brackets
_MAX_EXPONENT = 256  # absolute value of the right-hand side of **
_MAX_INT = 2**256  # absolute value of any integer an operation produces
_MAX_LENGTH = 100_000  # items (or characters) in a sequence built by + or *
_MAX_WEIGHT = 1_000_000  # items counted through nested lists, so [[0] * 10**5] * 10**5 cannot be built
_MAX_TEXT_OUT = 1_000_000  # characters produced by interpolating one string

# YAML users write these spellings; they are reserved so they always mean the constants.
_LOWERCASE_CONSTANTS: dict[str, Any] = {"true": True, "false": False, "none": None}

# Prefix of the message used by the last-resort safety net; the tests assert it never fires.
_INTERNAL = "internal error while evaluating expression"


class ExprError(Exception):
    """A ``${...}`` expression could not be parsed or evaluated.

    ``message`` says what is wrong, ``hint`` (if any) suggests a fix, and ``column`` is the 0-based offset of the
    problem inside the expression text (inside the whole string when raised by :func:`substitute`), if known.
    """

    def __init__(self, message: str, hint: str | None = None, column: int | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.column = column

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep hint and column when the error crosses a process boundary (pickle calls cls(*args)).
        return (type(self), (self.message, self.hint, self.column))


# --------------------------------------------------------------------------------------------------------------------
# Helpers shared by the parser checks, the evaluator and the functions callable from expressions
# --------------------------------------------------------------------------------------------------------------------


def _type_name(value: Any) -> str:
    """A short, user-facing name for the type of ``value``."""
    if value is None:
        return "None"
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, list):  # the loader's located lists are list subclasses: never name those
        return "list"
    return type(value).__name__


def _is_number(value: Any) -> bool:
    """True for int, float and bool (bool is an int, as in Python); complex and others are excluded."""
    return isinstance(value, (int, float))


def _number_text(value: Any) -> str:
    """str() of a number for a message; huge ints from env would hit Python's int-to-str digit limit."""
    if isinstance(value, int) and value.bit_length() > 1000:
        return "a very large number"
    return _short(str(value))


def _short(text: str, limit: int = 40) -> str:
    """Trim text quoted in an error message so one message stays one readable line."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_number(value: Any) -> Any:
    """Reject numbers that are too large, not finite or complex; everything else passes through."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if -_MAX_INT <= value <= _MAX_INT:
            return value
        raise ExprError("integer result is too large (the limit is 2**256)")
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        raise ExprError("result is not a finite number (overflow or nan)")
    if isinstance(value, complex):
        raise ExprError("result is a complex number, which an expression cannot produce")
    return value


def _need_number(function: str, argument: str, value: Any) -> None:
    """Raise unless ``value`` is a number; used to give functions readable argument errors."""
    if not _is_number(value):
        raise ExprError(f"{function}() argument '{argument}' must be a number, not {_type_name(value)}")


# --------------------------------------------------------------------------------------------------------------------
# The functions an expression may call
# --------------------------------------------------------------------------------------------------------------------


def _fn_len(value: Any) -> int:
    if isinstance(value, (str, list, tuple, Mapping)):
        return len(value)
    raise ExprError(f"len() needs a string, list or mapping, not {_type_name(value)}")


def _extreme(name: str, pick: Callable[[Any], Any], values: tuple[Any, ...]) -> Any:
    """Shared body of min() and max(): one list argument, or several values."""
    if not values:
        raise ExprError(f"{name}() needs at least one argument")
    items: Any = values
    if len(values) == 1:
        items = values[0]
        if not isinstance(items, (list, tuple)):
            raise ExprError(f"{name}() of a single {_type_name(items)} is not defined; pass a list or several values")
        if not items:
            raise ExprError(f"{name}() of an empty list")
    # Check the kinds up front so mixing e.g. str and int gives a clear message instead of Python's TypeError.
    # The set of types is collected at C speed; the per-item loop only runs to name the culprit.
    kinds = {_kind(t) for t in set(map(type, items))}
    if len(kinds) > 1 or None in kinds:
        first = items[0]
        culprit = next((item for item in items if _kind(type(item)) != _kind(type(first))), first)
        raise ExprError(f"{name}() cannot compare {_type_name(first)} and {_type_name(culprit)}")
    try:
        return pick(items)
    except TypeError:
        raise ExprError(f"{name}() cannot compare the items of these lists") from None


def _kind(kind: type) -> str | None:
    """The group of mutually orderable types a type belongs to (None: not orderable by min/max)."""
    if issubclass(kind, (int, float)):
        return "number"
    if issubclass(kind, str):
        return "str"
    if issubclass(kind, (list, tuple)):
        return "list"
    return None


def _fn_min(*values: Any) -> Any:
    return _extreme("min", min, values)


def _fn_max(*values: Any) -> Any:
    return _extreme("max", max, values)


def _fn_sum(values: Any, start: Any = 0) -> Any:
    # Numbers only: summing lists or strings would allow quadratic blow-ups that bypass the length limits.
    if not isinstance(values, (list, tuple)):
        raise ExprError(f"sum() needs a list of numbers, not {_type_name(values)}")
    _need_number("sum", "start", start)
    # Check the element types at C speed; summing 10**5 numbers then costs about a millisecond.
    for kind in set(map(type, values)):
        if not issubclass(kind, (int, float)):
            raise ExprError(f"sum() can only add numbers, not {_type_name(next(v for v in values if type(v) is kind))}")
    return sum(values, start)


def _fn_int(value: Any) -> int:
    if isinstance(value, float) and not math.isfinite(value):
        raise ExprError(f"int() cannot convert {value} to an integer")
    if _is_number(value):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            raise ExprError(f"int() cannot convert {_short(repr(value))} to an integer") from None
    raise ExprError(f"int() cannot convert {_type_name(value)} to an integer")


def _fn_float(value: Any) -> float:
    if _is_number(value):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise ExprError(f"float() cannot convert {_short(repr(value))} to a number") from None
    raise ExprError(f"float() cannot convert {_type_name(value)} to a number")


def _fn_round(value: Any, ndigits: Any = None) -> Any:
    _need_number("round", "value", value)
    if ndigits is None:
        return round(value)
    if not isinstance(ndigits, int):
        raise ExprError(f"round() argument 'ndigits' must be an integer, not {_type_name(ndigits)}")
    # round(int, -n) computes 10**n, so an unbounded ndigits would be a way to burn CPU.
    if not -1000 <= ndigits <= 1000:
        raise ExprError("round() argument 'ndigits' must be between -1000 and 1000")
    return round(value, ndigits)


def _fn_floor(value: Any) -> int:
    _need_number("floor", "value", value)
    return math.floor(value)


def _fn_ceil(value: Any) -> int:
    _need_number("ceil", "value", value)
    return math.ceil(value)


def _fn_abs(value: Any) -> Any:
    _need_number("abs", "value", value)
    return abs(value)


def divisible(v: float, divisor: int = 8, min_value: int | None = None, round_limit: float = 0.9) -> int:
    """timm's make_divisible: ``v`` rounded to a multiple of ``divisor``, at least ``min_value`` (default
    ``divisor``), and never below ``round_limit * v``. The one rounding of widths: the expression function
    ``divisible()`` and the ``se`` connection both use it."""
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < round_limit * v:
        new_v += divisor
    return new_v


def _fn_divisible(v: Any, divisor: Any = 8, min_value: Any = None, round_limit: Any = 0.9) -> Any:
    _need_number("divisible", "v", v)
    _need_number("divisible", "divisor", divisor)
    if min_value is not None:
        _need_number("divisible", "min_value", min_value)
    _need_number("divisible", "round_limit", round_limit)
    return divisible(v, divisor, min_value, round_limit)


def _fn_log(value: Any, base: Any = math.e) -> float:
    _need_number("log", "value", value)
    _need_number("log", "base", base)
    if value <= 0 or base <= 0 or base == 1:
        raise ExprError("log() needs a positive value and a positive base other than 1")
    return math.log(value, base)


def _fn_exp(value: Any) -> float:
    _need_number("exp", "value", value)
    return math.exp(value)


def _fn_sqrt(value: Any) -> float:
    _need_number("sqrt", "value", value)
    if value < 0:
        raise ExprError("sqrt() of a negative number")
    return math.sqrt(value)


def _fn_range(*bounds: Any) -> list[int]:
    if not 1 <= len(bounds) <= 3:
        raise ExprError("range() takes 1 to 3 integers: range(stop), range(start, stop), range(start, stop, step)")
    for value in bounds:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ExprError(f"range() arguments must be integers, not {_type_name(value)}")
    if len(bounds) == 3 and bounds[2] == 0:
        raise ExprError("range() step cannot be zero")
    numbers = range(*bounds)
    _check_length(len(numbers), "items")
    return list(numbers)


@dataclass(frozen=True)
class _Function:
    impl: Callable[..., Any]
    usage: str
    signature: inspect.Signature


def _function(impl: Callable[..., Any], usage: str) -> _Function:
    return _Function(impl, usage, inspect.signature(impl))


_FUNCTIONS: dict[str, _Function] = {
    "len": _function(_fn_len, "len(value)"),
    "min": _function(_fn_min, "min(list) or min(a, b, ...)"),
    "max": _function(_fn_max, "max(list) or max(a, b, ...)"),
    "sum": _function(_fn_sum, "sum(list, start=0)"),
    "int": _function(_fn_int, "int(value)"),
    "float": _function(_fn_float, "float(value)"),
    "round": _function(_fn_round, "round(value, ndigits=None)"),
    "floor": _function(_fn_floor, "floor(value)"),
    "ceil": _function(_fn_ceil, "ceil(value)"),
    "abs": _function(_fn_abs, "abs(value)"),
    "divisible": _function(_fn_divisible, "divisible(v, divisor=8, min_value=None, round_limit=0.9)"),
    "log": _function(_fn_log, "log(value, base=e)"),
    "exp": _function(_fn_exp, "exp(value)"),
    "sqrt": _function(_fn_sqrt, "sqrt(value)"),
    "range": _function(_fn_range, "range(stop), range(start, stop) or range(start, stop, step)"),
}
_FUNCTION_LIST = ", ".join(_FUNCTIONS)


# --------------------------------------------------------------------------------------------------------------------
# Parsing and static checks (cached: the same expression text recurs across many layers of a spec)
# --------------------------------------------------------------------------------------------------------------------

_OPERATOR_SYMBOLS: dict[type, str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
    ast.MatMult: "@",
    ast.USub: "-",
    ast.UAdd: "+",
    ast.Not: "not",
    ast.Invert: "~",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
    ast.NotIn: "not",
    ast.Is: "is",
    ast.IsNot: "is",
}
_ALLOWED_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)
_ALLOWED_UNARY = (ast.USub, ast.UAdd, ast.Not)
_ALLOWED_COMPARE = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn)

_FORBIDDEN_NODES: dict[type, str] = {
    ast.Lambda: "lambda",
    ast.SetComp: "a set comprehension",
    ast.DictComp: "a dict comprehension",
    ast.GeneratorExp: "a generator expression",
    ast.Dict: "a dict literal",
    ast.Set: "a set literal",
    ast.JoinedStr: "an f-string",
    ast.FormattedValue: "an f-string",
    ast.NamedExpr: "an assignment expression (:=)",
    ast.Starred: "a starred expression (*x)",
    ast.Await: "'await'",
    ast.Yield: "'yield'",
    ast.YieldFrom: "'yield from'",
    ast.Slice: "multi-dimensional indexing",
}


@dataclass(frozen=True)
class _Compiled:
    """A parsed, validated expression plus what is needed to turn AST offsets into text columns."""

    tree: ast.expr
    encoded: bytes  # the parsed text as UTF-8: AST offsets are byte offsets into it
    lead: int  # characters of leading whitespace removed before parsing
    is_ascii: bool

    def column(self, byte_offset: int) -> int:
        """Character column in the original expression text for a byte offset in the parsed text."""
        if self.is_ascii:
            return self.lead + byte_offset
        return self.lead + len(self.encoded[:byte_offset].decode("utf-8", "ignore"))

    def operator_column(self, before: ast.AST, after: ast.AST, symbol: str) -> int:
        """Column of the operator written between two operands (falls back to the end of the first one)."""
        start, end = before.end_col_offset or 0, after.col_offset  # type: ignore[attr-defined]
        found = self.encoded.find(symbol.encode(), start, end)
        return self.column(found if found >= 0 else start)

    def segment(self, node: ast.AST) -> str:
        """The source text of a node, for quoting in messages."""
        raw = self.encoded[node.col_offset : node.end_col_offset]  # type: ignore[attr-defined]
        return _short(raw.decode("utf-8", "replace"))


def _scan_string(text: str, start: int) -> int:
    """Index just past the string literal opening at ``start`` (len(text) when it is never closed)."""
    quote = text[start]
    delimiter = quote * 3 if text.startswith(quote * 3, start) else quote
    i = start + len(delimiter)
    n = len(text)
    while i < n:
        if text[i] == "\\":
            i += 2  # an escaped character can be a quote; skip it
        elif text.startswith(delimiter, i):
            return i + len(delimiter)
        else:
            i += 1
    return n


def _check_bracket_depth(text: str, lead: int) -> None:
    """Reject deeply nested brackets before parsing.

    Parentheses leave no AST node, so ``((((1))))`` would pass the AST depth check; bounding the raw nesting also
    keeps CPython's parser well away from its own recursion limits.
    """
    depth = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "'" or ch == '"':
            i = _scan_string(text, i)
            continue
        if ch in "([{":
            depth += 1
            if depth > _MAX_DEPTH:
                raise ExprError(f"expression is nested too deeply (more than {_MAX_DEPTH} levels)", column=lead + i)
        elif ch in ")]}":
            depth -= 1
        i += 1


def _not_allowed(what: str, column: int, hint: str | None = None) -> NoReturn:
    raise ExprError(f"{what} is not allowed in an expression", hint=hint, column=column)


def _children(node: ast.expr) -> list[ast.expr]:
    """The sub-expressions of a node that the evaluator will visit, in source order."""
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
        # A slice is only legal right inside [...]; check its parts, not the Slice node itself.
        parts = [node.slice.lower, node.slice.upper, node.slice.step]
        return [node.value, *(p for p in parts if p is not None)]
    if isinstance(node, ast.Call):
        return [*node.args, *(k.value for k in node.keywords)]
    if isinstance(node, ast.ListComp):  # the loop targets are checked by _validate_comprehension
        return [*(part for gen in node.generators for part in (gen.iter, *gen.ifs)), node.elt]
    children: list[ast.expr] = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.expr):
            children.append(child)
        elif isinstance(child, ast.keyword):
            children.append(child.value)
    return children


def _validate(compiled: _Compiled) -> None:
    """Check the whole tree against the whitelist before evaluating anything.

    Checking up front (rather than while evaluating) also rejects forbidden syntax in branches that short-circuit
    evaluation would skip, so a spec cannot hide e.g. a lambda behind ``false and ...``. The walk is iterative and
    pre-order, so the outermost, leftmost problem is the one reported.
    """
    stack: list[tuple[ast.expr, int]] = [(compiled.tree, 1)]
    while stack:
        node, depth = stack.pop()
        column = compiled.column(node.col_offset)
        if depth > _MAX_DEPTH:
            raise ExprError(f"expression is nested too deeply (more than {_MAX_DEPTH} levels)", column=column)
        kind = type(node)
        if kind is ast.Constant:
            _validate_constant(node, column)  # type: ignore[arg-type]
        elif kind is ast.Name:
            if node.id.startswith("__"):  # type: ignore[attr-defined]
                _not_allowed("a name starting with '__'", column)
        elif kind is ast.Attribute:
            attr = node.attr  # type: ignore[attr-defined]
            if attr.startswith("__"):
                attr_column = compiled.column(node.end_col_offset - len(attr.encode()))  # type: ignore[operator]
                _not_allowed("an attribute starting with '__'", attr_column)
        elif kind is ast.BinOp:
            op = type(node.op)  # type: ignore[attr-defined]
            if not issubclass(op, _ALLOWED_BINOPS):
                symbol = _OPERATOR_SYMBOLS.get(op, op.__name__)
                column = compiled.operator_column(node.left, node.right, symbol)  # type: ignore[attr-defined]
                _not_allowed(f"the '{symbol}' operator", column)
        elif kind is ast.UnaryOp:
            op = type(node.op)  # type: ignore[attr-defined]
            if not issubclass(op, _ALLOWED_UNARY):
                _not_allowed(f"the '{_OPERATOR_SYMBOLS.get(op, op.__name__)}' operator", column)
        elif kind is ast.Compare:
            previous: ast.expr = node.left  # type: ignore[attr-defined]
            for op_node, comparator in zip(node.ops, node.comparators):  # type: ignore[attr-defined]
                if not isinstance(op_node, _ALLOWED_COMPARE):
                    symbol = "is not" if isinstance(op_node, ast.IsNot) else "is"
                    hint = f"use '{'!=' if symbol == 'is not' else '=='}' instead"
                    _not_allowed(f"'{symbol}'", compiled.operator_column(previous, comparator, "is"), hint)
                previous = comparator
        elif kind is ast.Call:
            _validate_call(compiled, node, column)  # type: ignore[arg-type]
        elif kind is ast.ListComp:
            _validate_comprehension(compiled, node)  # type: ignore[arg-type]
        elif kind not in (ast.List, ast.Tuple, ast.BoolOp, ast.IfExp, ast.Subscript, ast.ListComp):
            _not_allowed(_FORBIDDEN_NODES.get(kind, f"'{kind.__name__}'"), column)
        stack.extend((child, depth + 1) for child in reversed(_children(node)))


def _validate_constant(node: ast.Constant, column: int) -> None:
    value = node.value
    if isinstance(value, complex):
        _not_allowed("a complex number", column)
    if isinstance(value, bytes):
        _not_allowed("a bytes literal", column)
    if value is Ellipsis:
        _not_allowed("'...'", column)
    if isinstance(value, int) and not isinstance(value, bool) and value > _MAX_INT:
        raise ExprError("integer literal is too large (the limit is 2**256)", column=column)
    if isinstance(value, float) and not math.isfinite(value):
        raise ExprError("float literal is too large (it overflows to infinity)", column=column)


def _validate_comprehension(compiled: _Compiled, node: ast.ListComp) -> None:
    """``[f(i) for i in items if cond]``: each loop variable a plain name (no unpacking, no async)."""
    for generator in node.generators:
        target = generator.target
        if not isinstance(target, ast.Name):
            _not_allowed("unpacking in a comprehension", compiled.column(target.col_offset),
                         hint="loop over one name: [pair[0] for pair in pairs]")
        if target.id.startswith("__") or target.id in _LOWERCASE_CONSTANTS:
            _not_allowed(f"the loop variable '{target.id}'", compiled.column(target.col_offset))
        if generator.is_async:
            _not_allowed("'async for'", compiled.column(target.col_offset))


def _validate_call(compiled: _Compiled, node: ast.Call, column: int) -> None:
    func = node.func
    if not isinstance(func, ast.Name):
        _not_allowed(f"calling '{compiled.segment(func)}'", column, hint=f"only {_FUNCTION_LIST} can be called")
    if func.id not in _FUNCTIONS:
        hint = did_you_mean(func.id, _FUNCTIONS) or f"only {_FUNCTION_LIST} can be called"
        _not_allowed(f"calling '{func.id}'", column, hint=hint)
    seen: set[str] = set()
    for keyword in node.keywords:
        if keyword.arg is None:
            _not_allowed("'**' in a call", compiled.column(keyword.col_offset))
        if keyword.arg in seen:
            raise ExprError(
                f"{func.id}() got argument '{keyword.arg}' more than once", column=compiled.column(keyword.col_offset)
            )
        seen.add(keyword.arg)


@functools.lru_cache(maxsize=4096)
def _compile(expr: str) -> _Compiled:
    """Parse and validate one expression text. Cached; failures raise and are simply not cached."""
    if len(expr) > _MAX_TEXT:
        raise ExprError(f"expression is too long ({len(expr)} characters, the limit is {_MAX_TEXT})")
    # YAML block scalars may wrap an expression over lines; eval-mode parsing rejects newlines, so turn them into
    # spaces (same length, so columns stay right) and drop leading blanks, which the parser treats as an indent.
    text = expr.replace("\n", " ").replace("\r", " ")
    stripped = text.lstrip(" \t\f")
    lead = len(text) - len(stripped)
    if not stripped.strip():
        raise ExprError("empty expression", column=0)
    _check_bracket_depth(stripped, lead)
    try:
        with warnings.catch_warnings():
            # Invalid escape sequences etc. warn at parse time; the spec author cannot act on a Python warning.
            warnings.simplefilter("ignore")
            tree = ast.parse(stripped, mode="eval")
    except SyntaxError as error:
        # offset is 1-based; 0/None means "at the end of the text" (e.g. '1 +').
        offset = error.offset or 0
        column = lead + offset - 1 if offset > 0 else len(expr)
        raise ExprError(f"invalid expression: {error.msg}", column=min(max(column, 0), len(expr))) from None
    except (ValueError, RecursionError, MemoryError) as error:
        raise ExprError(f"invalid expression: {error}") from None
    encoded = stripped.encode("utf-8", "surrogatepass")
    compiled = _Compiled(tree.body, encoded, lead, stripped.isascii())
    _validate(compiled)
    return compiled


# --------------------------------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------------------------------

_SCALAR_TYPES = frozenset({int, float, bool, type(None)})


def _weight(value: Any, cache: dict[int, tuple[Any, int]]) -> int:
    """Size of a value counted through nested lists (strings count their characters).

    Repetition shares references, so ``[[0] * 10**5] * 10**5`` is cheap to build but prints, compares and sums like
    10**10 items; weights catch that. ``cache`` maps id -> (list, weight) for lists already measured (the list is kept
    so its id stays valid) and is filled in here. Each distinct list is visited once, a list that contains itself
    counts as infinitely large, and the walk stops once the limit is passed, so even hostile environment values cost
    time proportional to their number of distinct lists and items.
    """
    if isinstance(value, str):
        return len(value) + 1
    if not isinstance(value, (list, tuple)):
        return 1
    visiting: set[int] = set()
    # Iterative post-order walk: (item, False) asks to expand item, (item, True) to add up its finished children.
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        item, expanded = stack.pop()
        key = id(item)
        cached = cache.get(key)
        if cached is not None and cached[0] is item:
            continue
        if not expanded:
            if _SCALAR_TYPES.issuperset(map(type, item)):
                cache[key] = (item, len(item) + 1)  # flat list: measured at C speed
                continue
            if key in visiting:  # reached again while its own children are pending: a cycle
                return _MAX_WEIGHT + 1
            visiting.add(key)
            stack.append((item, True))
            pushed: set[int] = set()
            for child in item:
                if isinstance(child, (list, tuple)) and id(child) not in pushed:
                    pushed.add(id(child))
                    stack.append((child, False))
            continue
        total = 1
        for child in item:
            if isinstance(child, str):
                total += len(child) + 1
            elif isinstance(child, (list, tuple)):
                total += cache[id(child)][1]
            else:
                total += 1
            if total > _MAX_WEIGHT:
                return total
        visiting.discard(key)
        cache[key] = (item, total)
    return cache[id(value)][1]


def _check_weight(weight: int) -> None:
    if weight > _MAX_WEIGHT:
        raise ExprError(
            f"result would be too large (at least {weight} items counting nested lists, the limit is {_MAX_WEIGHT})"
        )


class _Evaluator:
    """Interprets one validated tree over one environment."""

    def __init__(self, compiled: _Compiled, env: Mapping[str, Any]):
        self.compiled = compiled
        self.env = env
        # Weights of lists built during this evaluation, keyed by id; the list is stored too so the id stays valid.
        self.weights: dict[int, tuple[Any, int]] = {}

    # -- plumbing ---------------------------------------------------------------------------------------------------

    def eval(self, node: ast.expr) -> Any:
        try:
            return _HANDLERS[type(node)](self, node)
        except ExprError as error:
            # Errors raised by helpers do not know where they are; the innermost node they came from does.
            if error.column is None:
                error.column = self.compiled.column(node.col_offset)
            raise

    def weight(self, value: Any) -> int:
        # The shared cache means a big env list used many times in one expression is measured once.
        return _weight(value, self.weights)

    def built(self, result: list[Any], weight: int) -> list[Any]:
        """Check the size of a newly built list and remember its weight."""
        _check_weight(weight)
        self.weights[id(result)] = (result, weight)
        return result

    def truthy(self, value: Any) -> bool:
        try:
            return bool(value)
        except Exception as error:  # an environment object with a broken __bool__/__len__
            raise ExprError(f"cannot use {_type_name(value)} as a condition: {error}") from None

    # -- leaves -----------------------------------------------------------------------------------------------------

    def constant(self, node: ast.Constant) -> Any:
        return node.value

    def name(self, node: ast.Name) -> Any:
        ident = node.id
        if ident in _LOWERCASE_CONSTANTS:
            return _LOWERCASE_CONSTANTS[ident]
        if ident in self.env:
            return self.env[ident]
        if ident in _FUNCTIONS:
            raise ExprError(f"'{ident}' is a function; call it as {_FUNCTIONS[ident].usage}")
        raise ExprError(f"unknown name '{ident}'", hint=did_you_mean(ident, [*self.env, *_FUNCTIONS]))

    def sequence(self, node: ast.List | ast.Tuple) -> list[Any]:
        # Tuples become lists: YAML has one sequence type, and the backends expect lists.
        items = [self.eval(element) for element in node.elts]
        return self.built(items, 1 + sum(self.weight(item) for item in items))

    # -- operators --------------------------------------------------------------------------------------------------

    def binop(self, node: ast.BinOp) -> Any:
        left = self.eval(node.left)
        right = self.eval(node.right)
        op = type(node.op)
        column = self.compiled.operator_column(node.left, node.right, _OPERATOR_SYMBOLS[op])
        try:
            return _check_number(_BINOPS[op](self, left, right))
        except ZeroDivisionError:
            raise ExprError("division by zero", column=column) from None
        except OverflowError:
            raise ExprError("numeric overflow: the result is too large", column=column) from None
        except ExprError as error:
            if error.column is None:
                error.column = column
            raise

    def add(self, left: Any, right: Any) -> Any:
        if _is_number(left) and _is_number(right):
            return left + right
        if isinstance(left, str) and isinstance(right, str):
            _check_length(len(left) + len(right), "characters")
            return left + right
        if isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
            _check_length(len(left) + len(right), "items")
            return self.built([*left, *right], self.weight(left) + self.weight(right) - 1)
        raise ExprError(f"cannot add {_type_name(right)} to {_type_name(left)}")

    def sub(self, left: Any, right: Any) -> Any:
        if _is_number(left) and _is_number(right):
            return left - right
        raise ExprError(f"cannot subtract {_type_name(right)} from {_type_name(left)}")

    def mult(self, left: Any, right: Any) -> Any:
        if _is_number(left) and _is_number(right):
            return left * right
        if isinstance(left, (str, list, tuple)) and isinstance(right, int):
            return self.repeat(left, right)
        if isinstance(right, (str, list, tuple)) and isinstance(left, int):
            return self.repeat(right, left)
        raise ExprError(f"cannot multiply {_type_name(left)} by {_type_name(right)}")

    def repeat(self, sequence: str | list[Any] | tuple[Any, ...], times: int) -> Any:
        # Sizes are checked before the repetition runs, so 'a' * 10**9 fails instead of allocating.
        times = max(int(times), 0)
        if isinstance(sequence, str):
            _check_length(len(sequence) * times, "characters")
            return sequence * times
        _check_length(len(sequence) * times, "items")
        weight = 1 + (self.weight(sequence) - 1) * times
        _check_weight(weight)  # before list(sequence) * times allocates anything
        return self.built(list(sequence) * times, weight)

    def div(self, left: Any, right: Any) -> Any:
        if _is_number(left) and _is_number(right):
            return left / right
        raise ExprError(f"cannot divide {_type_name(left)} by {_type_name(right)}")

    def floordiv(self, left: Any, right: Any) -> Any:
        if _is_number(left) and _is_number(right):
            return left // right
        raise ExprError(f"cannot divide {_type_name(left)} by {_type_name(right)}")

    def mod(self, left: Any, right: Any) -> Any:
        # Numbers only: str % args is printf formatting, and '%999999999d' % 1 would exhaust memory.
        if _is_number(left) and _is_number(right):
            return left % right
        raise ExprError(f"cannot compute {_type_name(left)} % {_type_name(right)}")

    def pow(self, left: Any, right: Any) -> Any:
        if not (_is_number(left) and _is_number(right)):
            raise ExprError(f"cannot raise {_type_name(left)} to the power of {_type_name(right)}")
        if abs(right) > _MAX_EXPONENT:
            raise ExprError(f"exponent {_number_text(right)} is too large (the limit is {_MAX_EXPONENT})")
        if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            # log2 of the result is at least this; refuse before computing a number we would reject anyway.
            if (abs(left).bit_length() - 1) * right > 256:
                raise ExprError("integer result is too large (the limit is 2**256)")
        return left**right

    def unaryop(self, node: ast.UnaryOp) -> Any:
        operand = self.eval(node.operand)
        if isinstance(node.op, ast.Not):
            return not self.truthy(operand)
        if not _is_number(operand):
            symbol = _OPERATOR_SYMBOLS[type(node.op)]
            raise ExprError(f"cannot apply unary '{symbol}' to {_type_name(operand)}")
        return _check_number(-operand if isinstance(node.op, ast.USub) else +operand)

    def boolop(self, node: ast.BoolOp) -> Any:
        # Short-circuit and return the deciding operand, exactly like Python.
        is_and = isinstance(node.op, ast.And)
        for operand in node.values[:-1]:
            value = self.eval(operand)
            if self.truthy(value) != is_and:
                return value
        return self.eval(node.values[-1])

    def compare(self, node: ast.Compare) -> bool:
        left = self.eval(node.left)
        previous: ast.expr = node.left
        for op, comparator in zip(node.ops, node.comparators):
            right = self.eval(comparator)
            symbol = _OPERATOR_SYMBOLS[type(op)]
            try:
                outcome = self.compare_pair(op, left, right)
            except ExprError as error:
                if error.column is None:
                    error.column = self.compiled.operator_column(previous, comparator, symbol)
                raise
            if not outcome:  # chained comparisons stop at the first false link, as in Python
                return False
            left, previous = right, comparator
        return True

    def compare_pair(self, op: ast.cmpop, left: Any, right: Any) -> bool:
        if isinstance(op, (ast.Eq, ast.NotEq)):
            try:
                equal = self.truthy(left == right)
            except (TypeError, ValueError, RecursionError):
                raise ExprError(f"cannot compare {_type_name(left)} and {_type_name(right)}") from None
            return equal if isinstance(op, ast.Eq) else not equal
        if isinstance(op, (ast.In, ast.NotIn)):
            found = self.contains(right, left)
            return found if isinstance(op, ast.In) else not found
        symbol = _OPERATOR_SYMBOLS[type(op)]
        orderable = (
            (_is_number(left) and _is_number(right))
            or (isinstance(left, str) and isinstance(right, str))
            or (isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)))
        )
        if not orderable:
            raise ExprError(f"cannot compare {_type_name(left)} and {_type_name(right)} with '{symbol}'")
        if isinstance(left, (list, tuple)) and type(left) is not type(right):
            left, right = list(left), list(right)  # list vs tuple: compare as the single sequence kind specs have
        try:
            return bool(_ORDERINGS[type(op)](left, right))
        except (TypeError, ValueError, RecursionError):
            raise ExprError(f"cannot compare {_type_name(left)} and {_type_name(right)} with '{symbol}'") from None

    def contains(self, container: Any, item: Any) -> bool:
        if isinstance(container, str):
            if not isinstance(item, str):
                raise ExprError(f"'in' a string needs a string on the left, not {_type_name(item)}")
            return item in container
        if isinstance(container, (list, tuple, Mapping)):
            try:
                return item in container
            except (TypeError, ValueError, RecursionError):
                raise ExprError(f"cannot look for {_type_name(item)} in a {_type_name(container)}") from None
        raise ExprError(f"cannot test membership in {_type_name(container)}")

    def ifexp(self, node: ast.IfExp) -> Any:
        return self.eval(node.body) if self.truthy(self.eval(node.test)) else self.eval(node.orelse)

    # -- access -----------------------------------------------------------------------------------------------------

    def subscript(self, node: ast.Subscript) -> Any:
        container = self.eval(node.value)
        if isinstance(node.slice, ast.Slice):
            return self.slice(container, node.slice)
        index = self.eval(node.slice)
        if isinstance(container, Mapping):
            return self.lookup(container, index, node.value, node.slice)
        if isinstance(container, (list, tuple, str)):
            # Point at the index, which is what the author has to fix.
            column = self.compiled.column(node.slice.col_offset)
            kind = "string" if isinstance(container, str) else _type_name(container)
            if not isinstance(index, int):
                raise ExprError(f"{kind} indices must be integers, not {_type_name(index)}", column=column)
            length = len(container)
            if not -length <= index < length:
                message = f"{kind} index {_number_text(index)} out of range (length {length})"
                raise ExprError(message, column=column)
            return container[index]
        raise ExprError(f"cannot index into {_type_name(container)}")

    def slice(self, container: Any, node: ast.Slice) -> Any:
        if not isinstance(container, (list, tuple, str)):
            raise ExprError(f"cannot slice {_type_name(container)}")
        bounds = []
        for part in (node.lower, node.upper, node.step):
            value = None if part is None else self.eval(part)
            if value is not None and not isinstance(value, int):
                raise ExprError(
                    f"slice indices must be integers or None, not {_type_name(value)}",
                    column=self.compiled.column(part.col_offset),  # type: ignore[union-attr]
                )
            bounds.append(value)
        if bounds[2] == 0:
            raise ExprError("slice step cannot be zero", column=self.compiled.column(node.step.col_offset))  # type: ignore[union-attr]
        result = container[bounds[0] : bounds[1] : bounds[2]]
        return list(result) if isinstance(result, tuple) else result

    def lookup(self, mapping: Mapping[Any, Any], key: Any, owner: ast.expr, where: ast.expr) -> Any:
        column = self.compiled.column(where.col_offset)
        try:
            if key in mapping:
                return mapping[key]
        except TypeError:
            raise ExprError(f"{_type_name(key)} cannot be a mapping key", column=column) from None
        raise ExprError(
            f"unknown key {_short(repr(key))} in '{self.compiled.segment(owner)}'",
            hint=did_you_mean(key, mapping) if isinstance(key, str) and len(key) <= 100 else None,
            column=column,
        )

    def attribute(self, node: ast.Attribute) -> Any:
        value = self.eval(node.value)
        column = self.compiled.column(node.end_col_offset - len(node.attr.encode()))  # type: ignore[operator]
        if not isinstance(value, Mapping):
            raise ExprError(
                f"attribute access ('.{node.attr}') on {_type_name(value)} is not allowed in an expression",
                hint="'.key' only works on mappings such as params",
                column=column,
            )
        if node.attr in value:
            return value[node.attr]
        raise ExprError(
            f"unknown key '{node.attr}' in '{self.compiled.segment(node.value)}'",
            hint=did_you_mean(node.attr, value),
            column=column,
        )

    def comprehension(self, node: ast.ListComp) -> list[Any]:
        """``[elt for x in items if cond ...]``, the loop variables seen only inside it; at most _MAX_LENGTH steps in
        all, so nested loops cannot run for long."""
        result: list[Any] = []
        steps = [0]
        outer = self.env
        try:
            self._loop(node, 0, outer, result, steps)
        finally:
            self.env = outer
        return self.built(result, 1 + sum(self.weight(item) for item in result))

    def _loop(self, node: ast.ListComp, index: int, env: Mapping[str, Any], result: list[Any],
              steps: list[int]) -> None:
        if index == len(node.generators):
            self.env = env
            result.append(self.eval(node.elt))
            return
        generator = node.generators[index]
        self.env = env
        items = self.eval(generator.iter)
        if not isinstance(items, (list, tuple, str)):
            column = self.compiled.column(generator.iter.col_offset)
            raise ExprError(f"cannot loop over {_type_name(items)}", column=column)
        for item in items:
            steps[0] += 1
            _check_length(steps[0], "loop steps")
            inner = ChainMap({generator.target.id: item}, env)  # type: ignore[attr-defined]
            self.env = inner
            if all(self.truthy(self.eval(condition)) for condition in generator.ifs):
                self._loop(node, index + 1, inner, result, steps)

    def call(self, node: ast.Call) -> Any:
        name = node.func.id  # type: ignore[attr-defined]  # _validate_call guarantees a whitelisted Name
        function = _FUNCTIONS[name]
        args = [self.eval(arg) for arg in node.args]
        kwargs = {keyword.arg: self.eval(keyword.value) for keyword in node.keywords}
        try:
            bound = function.signature.bind(*args, **kwargs)
        except TypeError as error:
            raise ExprError(f"{name}(): {error}", hint=f"usage: {function.usage}") from None
        try:
            return _check_number(function.impl(*bound.args, **bound.kwargs))
        except ZeroDivisionError:
            raise ExprError(f"{name}(): division by zero") from None
        except OverflowError:
            raise ExprError(f"{name}(): numeric overflow: the result is too large") from None


def _check_length(length: int, unit: str) -> None:
    if length > _MAX_LENGTH:
        raise ExprError(f"result would be too long ({_number_text(length)} {unit}, the limit is {_MAX_LENGTH})")


_BINOPS: dict[type, Callable[[_Evaluator, Any, Any], Any]] = {
    ast.Add: _Evaluator.add,
    ast.Sub: _Evaluator.sub,
    ast.Mult: _Evaluator.mult,
    ast.Div: _Evaluator.div,
    ast.FloorDiv: _Evaluator.floordiv,
    ast.Mod: _Evaluator.mod,
    ast.Pow: _Evaluator.pow,
}

_ORDERINGS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
}

_HANDLERS: dict[type, Callable[[_Evaluator, Any], Any]] = {
    ast.Constant: _Evaluator.constant,
    ast.Name: _Evaluator.name,
    ast.List: _Evaluator.sequence,
    ast.Tuple: _Evaluator.sequence,
    ast.BinOp: _Evaluator.binop,
    ast.UnaryOp: _Evaluator.unaryop,
    ast.BoolOp: _Evaluator.boolop,
    ast.Compare: _Evaluator.compare,
    ast.IfExp: _Evaluator.ifexp,
    ast.Subscript: _Evaluator.subscript,
    ast.Attribute: _Evaluator.attribute,
    ast.Call: _Evaluator.call,
    ast.ListComp: _Evaluator.comprehension,
}


# --------------------------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------------------------


def evaluate(expr: str, env: Mapping[str, Any]) -> Any:
    """Evaluate one expression (the text between ``${`` and ``}``) over ``env`` and return its typed value.

    Names are looked up in ``env``; ``a.b`` reads key ``b`` of mapping ``a``. Raises :class:`ExprError` only, with
    ``column`` relative to ``expr``.
    """
    if not isinstance(expr, str):
        raise ExprError(f"an expression must be a string, not {_type_name(expr)}")
    compiled = _compile(expr)
    try:
        return _Evaluator(compiled, env).eval(compiled.tree)
    except ExprError:
        raise
    except (TypeError, ValueError, ArithmeticError, LookupError, RecursionError, MemoryError) as error:
        # Safety net: the evaluator checks types itself, but a spec must never crash the compiler with a raw
        # Python exception (e.g. from an odd object in env). Tests assert this message never appears.
        raise ExprError(f"{_INTERNAL} ({type(error).__name__}: {error})") from None


def _evaluate_at(expr: str, env: Mapping[str, Any], offset: int) -> Any:
    """evaluate(), with error columns shifted to be relative to the enclosing string."""
    try:
        return evaluate(expr, env)
    except ExprError as error:
        if error.column is not None:
            error.column += offset
        raise


def _find_close(text: str, start: int) -> int:
    """Index of the '}' closing the '${' whose body starts at ``start``; braces nest, string literals are skipped."""
    depth = 0
    i = start
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "'" or ch == '"':
            i = _scan_string(text, i)
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    raise ExprError(
        "unterminated '${' (missing '}')",
        hint="close the expression with '}'; check for an unclosed quote or bracket inside it",
        column=start - 2,
    )


def _to_text(value: Any) -> str:
    """str() of an interpolated result, refusing values whose text would be enormous."""
    if isinstance(value, (list, tuple)) and _weight(value, {}) > _MAX_WEIGHT:
        raise ExprError(f"value is too large to put into a string (more than {_MAX_WEIGHT} items)")
    try:
        return str(value)
    except ValueError as error:  # e.g. an int from env with more digits than Python will print
        raise ExprError(f"cannot convert {_type_name(value)} to text: {error}") from None


def substitute(value: Any, env: Mapping[str, Any]) -> Any:
    """Resolve the expressions in one scalar value read from YAML.

    - non-strings, and strings without ``$``, are returned unchanged;
    - ``"${expr}"`` (the whole string) returns the typed result of ``expr``;
    - ``"$name"`` (the whole string, ``name`` a Python identifier) returns ``env["name"]``, typed;
    - otherwise each ``${expr}`` inside the text is replaced by ``str()`` of its result;
    - ``$$`` stands for a literal ``$``, and a ``$`` followed by anything else is kept as is.

    Raises :class:`ExprError` only, with ``column`` relative to the whole string ``value``.
    """
    if not isinstance(value, str) or "$" not in value:
        return value
    if value[0] == "$" and value[1:].isidentifier():
        return _evaluate_at(value[1:], env, 1)
    if value.startswith("${") and _find_close(value, 2) == len(value) - 1:
        return _evaluate_at(value[2:-1], env, 2)
    return _interpolate(value, env)


def _interpolate(value: str, env: Mapping[str, Any]) -> str:
    parts: list[str] = []
    size = 0
    i = 0
    while True:
        j = value.find("$", i)
        if j < 0:
            break
        after = value[j + 1 : j + 2]
        if after == "$":
            parts.append(value[i : j + 1])  # keep one '$' of the pair
            i = j + 2
        elif after == "{":
            parts.append(value[i:j])
            end = _find_close(value, j + 2)
            text = _to_text(_evaluate_at(value[j + 2 : end], env, j + 2))
            size += len(text)
            if size > _MAX_TEXT_OUT:
                raise ExprError(
                    f"interpolated string would be too long (the limit is {_MAX_TEXT_OUT} characters)", column=j
                )
            parts.append(text)
            i = end + 1
        else:
            parts.append(value[i : j + 1])  # a lone '$' is ordinary text
            i = j + 1
    parts.append(value[i:])
    return "".join(parts)


def has_expression(value: Any) -> bool:
    """True if ``value`` is a string containing an expression: a ``${`` (not escaped as ``$${``) or a whole-string
    ``$name``."""
    if not isinstance(value, str) or "$" not in value:
        return False
    if value[0] == "$" and value[1:].isidentifier():
        return True
    i = value.find("$")
    while i >= 0:
        after = value[i + 1 : i + 2]
        if after == "{":
            return True
        i = value.find("$", i + (2 if after == "$" else 1))
    return False
