"""Tests for the safe ``${...}`` expression evaluator (archc.spec.expr)."""

from __future__ import annotations

import pickle
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archc.spec.expr import ExprError, _weight, evaluate, has_expression, substitute  # _weight: white-box test

ENV: dict[str, Any] = {
    "planes": 64,
    "ratio": 0.25,
    "name": "conv",
    "xs": [1, 2, 3, 4],
    "pair": (3, 5),
    "flag": True,
    "nothing": None,
    "params": {"num_classes": 10, "width": 1.5, "stage": {"depth": 3}},
    "min": 7,  # an env name that shadows a function name: min(...) still calls the function
}


def ev(expr: str, env: dict[str, Any] | None = None) -> Any:
    return evaluate(expr, ENV if env is None else env)


def error_of(expr: str, env: dict[str, Any] | None = None) -> ExprError:
    with pytest.raises(ExprError) as info:
        ev(expr, env)
    return info.value


def sub_error_of(value: str) -> ExprError:
    with pytest.raises(ExprError) as info:
        substitute(value, ENV)
    return info.value


# ----------------------------------------------------------------------------------------------------------------------
# Features
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        # literals
        ("42", 42),
        ("1.5", 1.5),
        ("'abc'", "abc"),
        ('"abc"', "abc"),
        ("True", True),
        ("False", False),
        ("None", None),
        ("true", True),
        ("false", False),
        ("none", None),
        ("[1, 2, 3]", [1, 2, 3]),
        ("(1, 2)", [1, 2]),  # tuples become lists
        ("[]", []),
        ("[[1, 2], [3]]", [[1, 2], [3]]),
        ("1_000", 1000),
        # names and mappings
        ("planes", 64),
        ("xs", [1, 2, 3, 4]),
        ("params.num_classes", 10),
        ("params.stage.depth", 3),
        ("params['width']", 1.5),
        ("params['stage']['depth']", 3),
        ("'num_classes' in params", True),
        # arithmetic (Python semantics)
        ("planes * 2 + 1", 129),
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("7 / 2", 3.5),
        ("7 // 2", 3),
        ("-7 // 2", -4),
        ("7 % 3", 1),
        ("-7 % 3", 2),
        ("2 ** 10", 1024),
        ("2 ** -1", 0.5),
        ("2 ** 0.5 * 2 ** 0.5 > 1.99", True),
        ("-planes", -64),
        ("+ratio", 0.25),
        ("- -3", 3),
        ("True + 1", 2),
        ("planes * ratio", 16.0),
        ("2 ** 256 - 2 ** 256", 0),
        # sequences
        ("'ab' + 'cd'", "abcd"),
        ("'ab' * 3", "ababab"),
        ("3 * 'ab'", "ababab"),
        ("[0] * 3", [0, 0, 0]),
        ("[1] + [2]", [1, 2]),
        ("xs + pair", [1, 2, 3, 4, 3, 5]),
        ("[[1, 2]] * 2", [[1, 2], [1, 2]]),
        ("[0] * -1", []),
        ("'a' * True", "a"),
        # comparisons
        ("1 < 2", True),
        ("2 <= 2", True),
        ("3 > 4", False),
        ("3 >= 4", False),
        ("1 == 1.0", True),
        ("1 != 2", True),
        ("1 < 2 < 3", True),
        ("1 < 3 < 2", False),
        ("1 == 'a'", False),  # equality never raises, even across types
        ("nothing == None", True),
        ("'a' < 'b'", True),
        ("[1, 2] < [1, 3]", True),
        ("xs == [1, 2, 3, 4]", True),
        ("3 in xs", True),
        ("9 not in xs", True),
        ("'on' in name", True),
        ("'x' not in name", True),
        # boolean logic, returning the deciding operand as Python does
        ("true and false", False),
        ("true or false", True),
        ("not flag", False),
        ("not []", True),
        ("0 or 5", 5),
        ("3 and 4", 4),
        ("false and undefined_name", False),  # short-circuit: the right side is never looked up
        ("true or undefined_name", True),
        ("1 if flag else 2", 1),
        ("1 if nothing else 2", 2),
        ("1 if true else undefined_name", 1),
        # indexing and slicing
        ("xs[0]", 1),
        ("xs[-1]", 4),
        ("pair[1]", 5),
        ("name[0]", "c"),
        ("xs[1:3]", [2, 3]),
        ("xs[::-1]", [4, 3, 2, 1]),
        ("xs[:]", [1, 2, 3, 4]),
        ("xs[::2]", [1, 3]),
        ("pair[:1]", [3]),
        ("name[1:]", "onv"),
        ("xs[10:]", []),
        ("[[1, 2], [3, 4]][1][0]", 3),
        # functions
        ("len(xs)", 4),
        ("len(name)", 4),
        ("len(params)", 3),
        ("len(pair)", 2),
        ("min(xs)", 1),
        ("max(xs)", 4),
        ("min(3, 1.5, 2)", 1.5),
        ("max(3, 8)", 8),
        ("max('a', 'b')", "b"),
        ("min(pair)", 3),
        ("min(2, 5) + min", 9),  # 'min' alone is the env value, min(...) the function
        ("sum(xs)", 10),
        ("sum([0.5, 0.25], 1)", 1.75),
        ("sum([])", 0),
        ("int(3.9)", 3),
        ("int(-3.9)", -3),
        ("int('12')", 12),
        ("int(' 7 ')", 7),
        ("int(True)", 1),
        ("float(2)", 2.0),
        ("float('1.5')", 1.5),
        ("round(2.567, 2)", 2.57),
        ("round(2.4)", 2),
        ("round(2.5)", 2),  # banker's rounding, as Python
        ("round(1234, -2)", 1200),
        ("floor(2.7)", 2),
        ("floor(-2.5)", -3),
        ("ceil(2.1)", 3),
        ("abs(-3)", 3),
        ("abs(-1.5)", 1.5),
        ("divisible(v=64, divisor=8)", 64),
        ("max(xs[1:3]) * len(name)", 12),
        # whitespace: leading blanks and YAML line wrapping
        ("  planes", 64),
        ("planes +\n  1", 65),
        ("\tplanes", 64),
    ],
)
def test_evaluate(expr: str, expected: Any) -> None:
    result = ev(expr)
    assert result == expected
    assert type(result) is type(expected)


def test_lists_are_fresh_and_env_values_are_returned_as_is() -> None:
    assert ev("xs") is ENV["xs"]
    assert ev("[1, 2]") is not ev("[1, 2]")


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        # divisible(v, divisor=8, min_value=None, round_limit=0.9) is timm's make_divisible:
        #   min_value = min_value or divisor
        #   new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
        #   if new_v < round_limit * v: new_v += divisor
        # v=4.0: int(4.0 + 4.0) = 8; 8 // 8 * 8 = 8; max(8, 8) = 8; 8 < 3.6? no -> 8
        ("divisible(64 / 16)", 8),
        # v=16.0: int(16.0 + 4.0) = 20; 20 // 8 * 8 = 16; max(8, 16) = 16; 16 < 14.4? no -> 16
        ("divisible(256 / 16)", 16),
        # v=128.0: int(132.0) = 132; 132 // 8 * 8 = 128; max(8, 128) = 128; 128 < 115.2? no -> 128
        ("divisible(2048 / 16)", 128),
        # v=1.5: int(1.5 + 4.0) = 5; 5 // 8 * 8 = 0; max(8, 0) = 8; 8 < 1.35? no -> 8
        ("divisible(24 / 16, 8)", 8),
        # v=100: int(104.0) = 104; 104 // 8 * 8 = 104; max(8, 104) = 104; 104 < 90? no -> 104
        ("divisible(100, 8)", 104),
        # v=10: int(14.0) = 14; 14 // 8 * 8 = 8; max(8, 8) = 8; 8 < 9.0? yes -> 8 + 8 = 16
        ("divisible(10, 8)", 16),
        # v=20, divisor=16: int(28.0) = 28; 28 // 16 * 16 = 16; max(16, 16) = 16; 16 < 18? yes -> 32
        ("divisible(20, 16)", 32),
        # v=3, min_value=1: int(7.0) = 7; 7 // 8 * 8 = 0; max(1, 0) = 1; 1 < 2.7? yes -> 1 + 8 = 9
        ("divisible(3, 8, 1)", 9),
        # same with keywords and round_limit=0: int(7.0) // 8 * 8 = 0; max(1, 0) = 1; 1 < 0? no -> 1
        ("divisible(3, min_value=1, round_limit=0)", 1),
        # v=37, divisor=4: int(39.0) = 39; 39 // 4 * 4 = 36; max(4, 36) = 36; 36 < 33.3? no -> 36
        ("divisible(37, 4)", 36),
        # v=planes*ratio=16.0, divisor=3: int(17.5) = 17; 17 // 3 * 3 = 15; max(3, 15) = 15; 15 < 14.4? no -> 15
        ("divisible(planes * ratio, 3)", 15),
    ],
)
def test_divisible_matches_make_divisible(expr: str, expected: int) -> None:
    assert ev(expr) == expected


# ----------------------------------------------------------------------------------------------------------------------
# Errors: message, hint and column
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "message", "hint", "column"),
    [
        ("plane", "unknown name 'plane'", "did you mean 'planes'?", 0),
        ("1 + plane", "unknown name 'plane'", "did you mean 'planes'?", 4),
        ("lenn(xs)", "calling 'lenn' is not allowed in an expression", "did you mean 'len'?", 0),
        ("zzzz", "unknown name 'zzzz'", None, 0),
        ("params.num_clases", "unknown key 'num_clases' in 'params'", "did you mean 'num_classes'?", 7),
        ("params.stage.dept", "unknown key 'dept' in 'params.stage'", "did you mean 'depth'?", 13),
        ("params['widht']", "unknown key 'widht' in 'params'", "did you mean 'width'?", 7),
        (
            "xs.append",
            "attribute access ('.append') on list is not allowed in an expression",
            "'.key' only works on mappings such as params",
            3,
        ),
        (
            "planes.real",
            "attribute access ('.real') on int is not allowed in an expression",
            "'.key' only works on mappings such as params",
            7,
        ),
        ("max", "'max' is a function; call it as max(list) or max(a, b, ...)", None, 0),
    ],
)
def test_lookup_errors(expr: str, message: str, hint: str | None, column: int) -> None:
    error = error_of(expr)
    assert (error.message, error.hint, error.column) == (message, hint, column)
    assert str(error) == message


ONLY = "only len, min, max, sum, int, float, round, floor, ceil, abs, divisible, log, exp, sqrt, range can be called"


@pytest.mark.parametrize(
    ("expr", "message", "column"),
    [
        ("lambda: 1", "lambda is not allowed in an expression", 0),
        ("1 + (lambda x: x)(2)", "calling 'lambda x: x' is not allowed in an expression", 4),
        ("{x for x in xs}", "a set comprehension is not allowed in an expression", 0),
        ("{x for x in xs}", "a set comprehension is not allowed in an expression", 0),
        ("{x: 1 for x in xs}", "a dict comprehension is not allowed in an expression", 0),
        ("sum(x for x in xs)", "a generator expression is not allowed in an expression", 3),
        ("{'a': 1}", "a dict literal is not allowed in an expression", 0),
        ("{1, 2}", "a set literal is not allowed in an expression", 0),
        ("f'{planes}'", "an f-string is not allowed in an expression", 0),
        ("(y := 1)", "an assignment expression (:=) is not allowed in an expression", 1),
        ("[*xs]", "a starred expression (*x) is not allowed in an expression", 1),
        ("max(*xs)", "a starred expression (*x) is not allowed in an expression", 4),
        ("len(**params)", "'**' in a call is not allowed in an expression", 4),
        ("__import__", "a name starting with '__' is not allowed in an expression", 0),
        ("params.__class__", "an attribute starting with '__' is not allowed in an expression", 7),
        ("planes | 1", "the '|' operator is not allowed in an expression", 7),
        ("planes << 100000", "the '<<' operator is not allowed in an expression", 7),
        ("1 & 1", "the '&' operator is not allowed in an expression", 2),
        ("1 ^ 1", "the '^' operator is not allowed in an expression", 2),
        ("~1", "the '~' operator is not allowed in an expression", 0),
        ("b'x'", "a bytes literal is not allowed in an expression", 0),
        ("1j", "a complex number is not allowed in an expression", 0),
        ("...", "'...' is not allowed in an expression", 0),
        ("xs[1:2, 0]", "multi-dimensional indexing is not allowed in an expression", 3),
        ("true and (lambda: 1)", "lambda is not allowed in an expression", 10),  # checked even where never evaluated
    ],
)
def test_forbidden_syntax(expr: str, message: str, column: int) -> None:
    error = error_of(expr)
    assert (error.message, error.column) == (message, column)


@pytest.mark.parametrize(
    ("expr", "message", "hint"),
    [
        ("planes(1)", "calling 'planes' is not allowed in an expression", ONLY),
        ("params.get('x')", "calling 'params.get' is not allowed in an expression", ONLY),
        ("eval('1')", "calling 'eval' is not allowed in an expression", ONLY),
        ("__import__('os')", "calling '__import__' is not allowed in an expression", ONLY),
        ("1 is None", "'is' is not allowed in an expression", "use '==' instead"),
        ("1 is not None", "'is not' is not allowed in an expression", "use '!=' instead"),
    ],
)
def test_forbidden_calls_and_identity(expr: str, message: str, hint: str) -> None:
    error = error_of(expr)
    assert (error.message, error.hint) == (message, hint)


@pytest.mark.parametrize(
    ("expr", "message", "column"),
    [
        ("1 / 0", "division by zero", 2),
        ("1 // 0", "division by zero", 2),
        ("1 % 0", "division by zero", 2),
        ("1.5 / 0.0", "division by zero", 4),
        ("0 ** -1", "division by zero", 2),
        ("planes / (flag - 1)", "division by zero", 7),
        ("divisible(8, 0)", "divisible(): division by zero", 0),
    ],
)
def test_division_by_zero(expr: str, message: str, column: int) -> None:
    error = error_of(expr)
    assert (error.message, error.column) == (message, column)


@pytest.mark.parametrize(
    ("expr", "message", "column"),
    [
        ("'a' - 1", "cannot subtract int from str", 4),
        ("'a' + 1", "cannot add int to str", 4),
        ("xs + 1", "cannot add int to list", 3),
        ("xs * xs", "cannot multiply list by list", 3),
        ("[1] * 2.0", "cannot multiply list by float", 4),
        ("'a' / 2", "cannot divide str by int", 4),
        ("'a' // 2", "cannot divide str by int", 4),
        ("'%d' % 5", "cannot compute str % int", 5),  # no printf formatting
        ("'a' ** 2", "cannot raise str to the power of int", 4),
        ("-'a'", "cannot apply unary '-' to str", 0),
        ("+xs", "cannot apply unary '+' to list", 0),
        ("'a' < 1", "cannot compare str and int with '<'", 4),
        ("1 <= nothing", "cannot compare int and None with '<='", 2),
        ("[1] > ['a']", "cannot compare list and list with '>'", 4),
        ("1 in name", "'in' a string needs a string on the left, not int", 2),
        ("1 in planes", "cannot test membership in int", 2),
        ("xs in params", "cannot look for list in a mapping", 3),
        ("planes[0]", "cannot index into int", 0),
        ("xs[7]", "list index 7 out of range (length 4)", 3),
        ("xs[-5]", "list index -5 out of range (length 4)", 3),
        ("pair[2]", "tuple index 2 out of range (length 2)", 5),
        ("name[10]", "string index 10 out of range (length 4)", 5),
        ("xs['a']", "list indices must be integers, not str", 3),
        ("xs[1.0]", "list indices must be integers, not float", 3),
        ("xs[10 ** 30]", "list index 1000000000000000000000000000000 out of range (length 4)", 3),
        ("params[[1]]", "list cannot be a mapping key", 7),
        ("params[1]", "unknown key 1 in 'params'", 7),
        ("planes[1:]", "cannot slice int", 0),
        ("xs[::0]", "slice step cannot be zero", 5),
        ("xs[0.5:]", "slice indices must be integers or None, not float", 3),
        ("len(1, 2)", "len(): too many positional arguments", 0),
        ("len()", "len(): missing a required argument: 'value'", 0),
        ("round(1.5, digits=1)", "round(): got an unexpected keyword argument 'digits'", 0),
        ("divisible(v=1, v=2)", "divisible() got argument 'v' more than once", 15),
        ("divisible(8, 8, v=1)", "divisible(): multiple values for argument 'v'", 0),
        ("len(planes)", "len() needs a string, list or mapping, not int", 0),
        ("min()", "min() needs at least one argument", 0),
        ("min([])", "min() of an empty list", 0),
        ("max(3)", "max() of a single int is not defined; pass a list or several values", 0),
        ("max(1, 'a')", "max() cannot compare int and str", 0),
        ("max([1], ['a'])", "max() cannot compare the items of these lists", 0),
        ("sum(3)", "sum() needs a list of numbers, not int", 0),
        ("sum(['a'])", "sum() can only add numbers, not str", 0),
        ("sum(xs, 'a')", "sum() argument 'start' must be a number, not str", 0),
        ("int('abc')", "int() cannot convert 'abc' to an integer", 0),
        ("int(xs)", "int() cannot convert list to an integer", 0),
        ("float('x')", "float() cannot convert 'x' to a number", 0),
        ("float(nothing)", "float() cannot convert None to a number", 0),
        ("round('a')", "round() argument 'value' must be a number, not str", 0),
        ("round(1.5, 0.5)", "round() argument 'ndigits' must be an integer, not float", 0),
        ("round(5, -10 ** 9)", "round() argument 'ndigits' must be between -1000 and 1000", 0),
        ("floor('a')", "floor() argument 'value' must be a number, not str", 0),
        ("ceil(xs)", "ceil() argument 'value' must be a number, not list", 0),
        ("abs(name)", "abs() argument 'value' must be a number, not str", 0),
        ("divisible('a')", "divisible() argument 'v' must be a number, not str", 0),
        ("divisible(8, min_value='a')", "divisible() argument 'min_value' must be a number, not str", 0),
        ("1 + len(planes)", "len() needs a string, list or mapping, not int", 4),
    ],
)
def test_type_errors(expr: str, message: str, column: int) -> None:
    error = error_of(expr)
    assert (error.message, error.column) == (message, column)


def test_wrong_arity_hint_shows_usage() -> None:
    assert error_of("divisible()").hint == "usage: divisible(v, divisor=8, min_value=None, round_limit=0.9)"
    assert error_of("len(1, 2)").hint == "usage: len(value)"


@pytest.mark.parametrize(
    ("expr", "message", "column"),
    [
        ("1 +", "invalid expression: invalid syntax", 3),
        ("a b", "invalid expression: invalid syntax", 2),
        ("(1", "invalid expression: '(' was never closed", 0),
        ("  (1", "invalid expression: '(' was never closed", 2),
        ("planes = 1", "invalid expression: invalid syntax", 7),
        ("", "empty expression", 0),
        ("   ", "empty expression", 0),
    ],
)
def test_syntax_errors(expr: str, message: str, column: int | None) -> None:
    error = error_of(expr)
    assert (error.message, error.column) == (message, column)


def test_null_byte_is_a_syntax_error() -> None:
    assert error_of("1\x00").message.startswith("invalid expression: ")


def test_non_string_expression() -> None:
    with pytest.raises(ExprError, match="an expression must be a string, not int"):
        evaluate(3, ENV)  # type: ignore[arg-type]


def test_non_ascii_columns_count_characters() -> None:
    # 'é' is two bytes in UTF-8; the column must still count characters.
    assert error_of("'é' + plane").column == 6
    assert error_of("'é' - 1").column == 4


def test_expr_error_attributes_and_pickling() -> None:
    error = ExprError("boom", hint="try this", column=3)
    assert (error.message, error.hint, error.column, str(error)) == ("boom", "try this", 3, "boom")
    assert ExprError("plain").hint is None and ExprError("plain").column is None
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.message, copy.hint, copy.column) == ("boom", "try this", 3)


# ----------------------------------------------------------------------------------------------------------------------
# Resource limits: each must fail fast instead of hanging or exhausting memory
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("2**10**10", "exponent 10000000000 is too large (the limit is 256)"),
        ("9 ** 9 ** 9", "exponent 387420489 is too large (the limit is 256)"),
        ("2 ** -300", "exponent -300 is too large (the limit is 256)"),
        ("2 ** 257", "exponent 257 is too large (the limit is 256)"),
        ("4 ** 129", "integer result is too large (the limit is 2**256)"),
        ("(2 ** 128) ** 3", "integer result is too large (the limit is 2**256)"),
        ("2 ** 256 + 1", "integer result is too large (the limit is 2**256)"),
        ("2 ** 256 * 2", "integer result is too large (the limit is 2**256)"),
        ("-(2 ** 256) - 1", "integer result is too large (the limit is 2**256)"),
        ("1" + "0" * 80, "integer literal is too large (the limit is 2**256)"),
        ("int(1e300)", "integer result is too large (the limit is 2**256)"),
        ("sum([2 ** 256, 1])", "integer result is too large (the limit is 2**256)"),
        ("1e200 ** 2", "numeric overflow: the result is too large"),
        ("1e308 * 10", "result is not a finite number (overflow or nan)"),
        ("1e999", "float literal is too large (it overflows to infinity)"),
        ("float('inf')", "result is not a finite number (overflow or nan)"),
        ("float('nan')", "result is not a finite number (overflow or nan)"),
        ("(-8) ** 0.5", "result is a complex number, which an expression cannot produce"),
        ("'a' * 10**9", "result would be too long (1000000000 characters, the limit is 100000)"),
        ("'a' * 100001", "result would be too long (100001 characters, the limit is 100000)"),
        ("[0] * 10**9", "result would be too long (1000000000 items, the limit is 100000)"),
        ("10**9 * [0]", "result would be too long (1000000000 items, the limit is 100000)"),
        ("[0] * 2 ** 256", f"result would be too long ({str(2**256)[:37]}... items, the limit is 100000)"),
        ("'a' * 50001 + 'a' * 50000", "result would be too long (100001 characters, the limit is 100000)"),
        ("[0] * 50001 + [0] * 50000", "result would be too long (100001 items, the limit is 100000)"),
        # Shared references: cheap to build, but 10**10 items to print or compare.
        (
            "[[0] * 100000] * 100000",
            "result would be too large (at least 10000100001 items counting nested lists, the limit is 1000000)",
        ),
        (
            "[[0] * 100000] * 5 + [[0] * 100000] * 5",
            "result would be too large (at least 1000011 items counting nested lists, the limit is 1000000)",
        ),
        (
            "[['a' * 100000] * 100000]",
            "result would be too large (at least 10000100001 items counting nested lists, the limit is 1000000)",
        ),
        ("'x' * 10 ** 5 * 10 ** 5", "result would be too long (10000000000 characters, the limit is 100000)"),
        ("(" * 200 + "1" + ")" * 200, "expression is nested too deeply (more than 50 levels)"),
        ("[" * 200 + "]" * 200, "expression is nested too deeply (more than 50 levels)"),
        ("-" * 200 + "1", "expression is nested too deeply (more than 50 levels)"),
        ("not " * 200 + "1", "expression is nested too deeply (more than 50 levels)"),
        ("1" + " + 1" * 60, "expression is nested too deeply (more than 50 levels)"),
        ("params" + ".stage" * 60, "expression is nested too deeply (more than 50 levels)"),
        ("1" + " " * 4999, "expression is too long (5000 characters, the limit is 2000)"),
        ("1 +" * 1700, "expression is too long (5100 characters, the limit is 2000)"),
    ],
)
def test_resource_limits_fail_fast(expr: str, message: str) -> None:
    start = time.perf_counter()
    error = error_of(expr)
    assert time.perf_counter() - start < 2.0  # generous: this catches hangs, not slowness on a busy machine
    assert error.message == message


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("2 ** 256", 2**256),
        ("-(2 ** 256)", -(2**256)),
        ("2 ** -256", 2.0**-256),
        ("1" + "0" * 77, 10**77),
        ("len('a' * 100000)", 100000),
        ("len([0] * 100000)", 100000),
        ("len([[0] * 1000] * 999)", 999),  # 1 + 999 * (1000 + 1) = 1_000_000 items counting nested lists
        ("(" * 50 + "1" + ")" * 50, 1),
        ("-" * 49 + "1", -1),  # 49 unary minus + the literal: exactly 50 levels
        ("1" + " " * 1999, 1),  # exactly 2000 characters
    ],
)
def test_resource_limits_boundaries_are_allowed(expr: str, expected: Any) -> None:
    assert ev(expr) == expected


def test_one_level_past_the_boundaries_fails() -> None:
    assert error_of("(" * 51 + "1" + ")" * 51).column == 50
    assert error_of("-" * 50 + "1").message == "expression is nested too deeply (more than 50 levels)"
    assert error_of("1" + " " * 2000).message == "expression is too long (2001 characters, the limit is 2000)"


def _naive_weight(value: Any) -> int:
    if isinstance(value, str):
        return len(value) + 1
    if isinstance(value, (list, tuple)):
        return 1 + sum(_naive_weight(item) for item in value)
    return 1


NESTED = st.recursive(
    st.one_of(st.integers(), st.text(max_size=3), st.none()),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(NESTED, st.integers(0, 3))
def test_weight_counts_nested_items_like_the_naive_recursion(value: Any, share: int) -> None:
    # Sharing one object several times must count it several times, as str() or == would visit it.
    value = [value] * share + [value]
    assert _weight(value, {}) == _naive_weight(value)


def test_huge_or_cyclic_env_values_are_bounded() -> None:
    cyclic: list[Any] = [1]
    cyclic.append(cyclic)
    env = {"cyclic": cyclic, "wide": [[0] * 100_000] * 100_000}
    start = time.perf_counter()
    assert "too large" in error_of("cyclic * 2", env).message
    assert "too large" in error_of("wide + []", env).message
    assert "too large" in error_of("[wide]", env).message
    with pytest.raises(ExprError, match="too large to put into a string"):
        substitute("x${wide}", env)
    assert time.perf_counter() - start < 5.0  # generous: this catches hangs, not slowness on a busy machine


# ----------------------------------------------------------------------------------------------------------------------
# substitute() and has_expression()
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [3, 1.5, None, True, [1, "${planes}"], {"a": "${planes}"}])
def test_substitute_leaves_non_strings_alone(value: Any) -> None:
    assert substitute(value, ENV) is value


@pytest.mark.parametrize("value", ["", "conv3x3", "{planes}", "planes * 2"])
def test_substitute_returns_strings_without_dollar_unchanged(value: str) -> None:
    assert substitute(value, ENV) is value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # whole-string expressions keep their type
        ("${planes}", 64),
        ("${ planes * 2 }", 128),
        ("${planes / 2}", 32.0),
        ("${[planes, planes * 2]}", [64, 128]),
        ("${true}", True),
        ("${none}", None),
        ("${'x' * 3}", "xxx"),
        ("${params}", ENV["params"]),
        ("${'}'}", "}"),
        ("${ '{' + '}' }", "{}"),
        ('${"}" * 2}', "}}"),
        ("${'''}'''}", "}"),
        ("${'\\'}'}", "'}"),
        # $name shorthand
        ("$planes", 64),
        ("$xs", [1, 2, 3, 4]),
        ("$flag", True),
        ("$true", True),
        # interpolation
        ("conv${planes}", "conv64"),
        ("${planes}x${planes}", "64x64"),
        ("${planes} ", "64 "),
        (" ${planes}", " 64"),
        ("stage_${params.stage.depth}_${name}", "stage_3_conv"),
        ("${flag}-${nothing}", "True-None"),
        ("r=${ratio}", "r=0.25"),
        ("${xs}!", "[1, 2, 3, 4]!"),
        ("a ${'}'} b", "a } b"),
        ("x${'{'}y", "x{y"),
        ("${ '${' }", "${"),
        # escapes and lone dollars
        ("$$", "$"),
        ("$$planes", "$planes"),
        ("$${planes}", "${planes}"),
        ("cost: $$5", "cost: $5"),
        ("$$$planes", "$$planes"),  # '$$' -> '$', then a lone '$' before text stays as is
        ("$$${planes}", "$64"),
        ("price $5", "price $5"),
        ("$", "$"),
        ("a$", "a$"),
        ("$1abc", "$1abc"),
        ("$planes.x", "$planes.x"),  # not a plain identifier: left alone
        ("x $planes", "x $planes"),  # the shorthand only applies to the whole string
    ],
)
def test_substitute(value: str, expected: Any) -> None:
    result = substitute(value, ENV)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("value", "message", "hint", "column"),
    [
        ("$plane", "unknown name 'plane'", "did you mean 'planes'?", 1),
        ("${plane}", "unknown name 'plane'", "did you mean 'planes'?", 2),
        ("${  plane}", "unknown name 'plane'", "did you mean 'planes'?", 4),
        ("ab ${plane}", "unknown name 'plane'", "did you mean 'planes'?", 5),
        ("${planes}/${1 / 0}", "division by zero", None, 14),
        (
            "${planes",
            "unterminated '${' (missing '}')",
            "close the expression with '}'; check for an unclosed quote or bracket inside it",
            0,
        ),
        (
            "ab ${planes",
            "unterminated '${' (missing '}')",
            "close the expression with '}'; check for an unclosed quote or bracket inside it",
            3,
        ),
        (
            "${'}",
            "unterminated '${' (missing '}')",
            "close the expression with '}'; check for an unclosed quote or bracket inside it",
            0,
        ),
        ("${}", "empty expression", None, 2),
        ("x${ }", "empty expression", None, 3),
        ("${1 +}", "invalid expression: invalid syntax", None, 5),
        ("$lambda", "invalid expression: invalid syntax", None, 7),
        ("${'a' * 100000}" * 11, "interpolated string would be too long (the limit is 1000000 characters)", None, 150),
    ],
)
def test_substitute_errors(value: str, message: str, hint: str | None, column: int) -> None:
    error = sub_error_of(value)
    assert (error.message, error.hint, error.column) == (message, hint, column)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("${planes}", True),
        ("conv${planes}", True),
        ("$planes", True),
        ("$_x1", True),
        ("${", True),
        ("$$${x}", True),
        ("$${planes}", False),
        ("$$planes", False),
        ("$$", False),
        ("x $planes", False),
        ("price $5", False),
        ("plain", False),
        ("", False),
        ("$", False),
        (5, False),
        (None, False),
        (["${planes}"], False),
    ],
)
def test_has_expression(value: Any, expected: bool) -> None:
    assert has_expression(value) is expected


def test_substitute_agrees_with_has_expression_on_plain_strings() -> None:
    for value in ["$$", "$${x}", "price $5", "plain"]:
        assert not has_expression(value)
        assert isinstance(substitute(value, ENV), str)


# ----------------------------------------------------------------------------------------------------------------------
# Fuzzing: only ExprError may escape, never the evaluator's internal-error safety net, and columns stay in range
# ----------------------------------------------------------------------------------------------------------------------

FUZZ_ENV: dict[str, Any] = {
    "planes": 64,
    "ratio": 0.25,
    "name": "conv",
    "xs": [1, 2, 3, 4],
    "pair": (3, 5),
    "flag": True,
    "nothing": None,
    "params": {"num_classes": 10, "width": 1.5, "stage": {"depth": 3}},
    "grid": [[0] * 1000] * 10,
    "big": 2**256,
}


def check_only_expr_error(function: Any, text: str) -> None:
    start = time.perf_counter()
    try:
        function(text, FUZZ_ENV)
    except ExprError as error:
        assert isinstance(error.message, str) and error.message
        assert "internal error" not in error.message, error.message
        assert error.column is None or 0 <= error.column <= len(text), (error.column, text)
    assert time.perf_counter() - start < 10.0, text  # generous: catches hangs, not slowness on a busy machine


FUZZ_SETTINGS = settings(max_examples=300, deadline=None)


@FUZZ_SETTINGS
@given(st.text(max_size=300))
def test_fuzz_evaluate_text(text: str) -> None:
    check_only_expr_error(evaluate, text)


@FUZZ_SETTINGS
@given(st.text(max_size=300))
def test_fuzz_substitute_text(text: str) -> None:
    check_only_expr_error(substitute, text)


@FUZZ_SETTINGS
@given(st.text(alphabet="${}'\"\\()[]+-*/% .,:_01239axsplne", max_size=80))
def test_fuzz_substitute_dollar_heavy_text(text: str) -> None:
    check_only_expr_error(substitute, text)


TOKENS = [
    *["0", "1", "2", "7", "-1", "256", "10", "1.5", "0.0", "1e308", "1e-9", "2**256", "9" * 30],
    *["planes", "ratio", "name", "xs", "pair", "flag", "nothing", "params", "grid", "big", "true", "none", "zz"],
    *["+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", "<=", ">", ">=", "in", "not", "and", "or", "is"],
    *["if", "else", "(", ")", "[", "]", ",", ":", ".", ".num_classes", ".stage", ".depth", "=", "*", "|", "~"],
    *["'a'", "''", "'}'", '"x"', "'%d'", "lambda", "for", "{", "}", "__class__", "f'{1}'", "b''", "1j"],
    *["len", "min", "max", "sum", "int", "float", "round", "floor", "ceil", "abs", "divisible", "eval"],
]


@FUZZ_SETTINGS
@given(st.lists(st.sampled_from(TOKENS), max_size=30), st.booleans())
def test_fuzz_token_soup(tokens: list[str], spaced: bool) -> None:
    text = (" " if spaced else "").join(tokens)
    check_only_expr_error(evaluate, text)
    check_only_expr_error(substitute, "${" + text + "}")


ATOMS = st.sampled_from(
    [
        "0", "1", "2", "3", "-1", "256", "255", "1.5", "0.5", "-0.0", "1e300", "2**256", "'ab'", "''", "'x' * 99999",
        "[]", "[1, 2]", "[[1], [2, 3]]", "[0] * 100000", "planes", "ratio", "name", "xs", "pair", "flag", "nothing",
        "params", "params.stage", "params.num_classes", "grid", "big", "true", "false", "none", "zz",
    ]
)  # fmt: skip
BINARY = ["+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "and", "or"]
FUNCS = ["len", "min", "max", "sum", "int", "float", "round", "floor", "ceil", "abs", "divisible"]


def _extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(lambda a, op, b: f"({a} {op} {b})", inner, st.sampled_from(BINARY), inner),
        st.builds(lambda op, a: f"({op}{a})", st.sampled_from(["-", "+", "not "]), inner),
        st.builds(lambda f, args: f"{f}({', '.join(args)})", st.sampled_from(FUNCS), st.lists(inner, max_size=3)),
        st.builds(lambda args: f"[{', '.join(args)}]", st.lists(inner, max_size=3)),
        st.builds(lambda a, b: f"{a}[{b}]", inner, inner),
        st.builds(lambda a, b, c: f"{a}[{b}:{c}]", inner, inner, inner),
        st.builds(lambda a, b, c: f"({a} if {b} else {c})", inner, inner, inner),
        st.builds(lambda a, b: f"divisible({a}, divisor={b})", inner, inner),
    )


EXPRESSIONS = st.recursive(ATOMS, _extend, max_leaves=12)


@FUZZ_SETTINGS
@given(EXPRESSIONS)
def test_fuzz_well_formed_expressions(text: str) -> None:
    check_only_expr_error(evaluate, text)
    check_only_expr_error(substitute, f"pre ${{{text}}} post")


# ---- log, exp, sqrt, range and list comprehensions (RegNet derives its widths with them) --------------------------
def test_math_functions_and_range():
    assert evaluate("round(log(8, 2))", {}) == 3 and evaluate("exp(0)", {}) == 1.0 and evaluate("sqrt(16)", {}) == 4
    assert evaluate("range(3)", {}) == [0, 1, 2] and evaluate("range(4, 0, -2)", {}) == [4, 2]


def test_list_comprehensions_bind_their_variables_only_inside():
    env = {"xs": [1, 2, 3], "i": 10}
    assert evaluate("[i * x for x in xs if x != 2]", env) == [10, 30]
    assert evaluate("[[a, b] for a in range(2) for b in xs if b > a + 1]", env) == [[0, 2], [0, 3], [1, 3]]
    assert evaluate("[i for i in range(2)] + [i]", env) == [0, 1, 10]  # the outer i is back after the loop


@pytest.mark.parametrize(
    ("expr", "message", "column"),
    [
        ("[x for x in 3]", "cannot loop over int", 12),
        ("[p for (p, q) in xs]", "unpacking in a comprehension is not allowed in an expression", 7),
        ("range(10**6)", "result would be too long (1000000 items, the limit is 100000)", 0),
        ("[1 for a in range(1000) for b in range(1000)]", "result would be too long (100001 loop steps", 0),
        ("log(0)", "log() needs a positive value", 0),
        ("sqrt(-1)", "sqrt() of a negative number", 0),
        ("exp(1000)", "exp(): numeric overflow", 0),
        ("range(1.5)", "range() arguments must be integers, not float", 0),
    ],
)
def test_comprehension_and_function_errors(expr, message, column):
    with pytest.raises(ExprError) as caught:
        evaluate(expr, {"xs": [[1, 2]]})
    assert caught.value.message.startswith(message) and caught.value.column == column
