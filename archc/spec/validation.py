"""Turn pydantic ValidationErrors into located diagnostics in plain English, with "did you mean" hints.

Pydantic reports a mistake in its own words ("Input should be greater than 0") and, for a field that accepts several
types (``kernel: 3`` or ``kernel: [3, 5]``), once per accepted type. Here each mistake becomes one message that says
what was expected, read from the field's annotation ("expected a positive integer or a list of 2 positive integers,
got [3, 3, 3]"), located at the YAML value that caused it.
"""

from __future__ import annotations

import re
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, ValidationError

from archc.errors import Diagnostic, Position, did_you_mean
from archc.spec.loader import LList, LMap
from archc.spec.model import HINT


def join_path(base: str, part: Any) -> str:
    if isinstance(part, int):
        return f"{base}[{part}]"
    return f"{base}.{part}" if base else str(part)


def locate(tree: Any, loc: tuple[Any, ...], fallback: Position | None) -> tuple[Position | None, bool]:
    """Follow ``loc`` into a located tree; returns the deepest position found and whether it was the key."""
    position = fallback
    node = tree
    for index, part in enumerate(loc):
        if isinstance(node, LMap) and part in node:
            position = node.where(part) if index < len(loc) - 1 or not isinstance(node[part], (LMap, LList)) \
                else node[part].pos or node.where(part)
            node = node[part]
        elif isinstance(node, LList) and isinstance(part, int) and 0 <= part < len(node):
            position = node.where(part)
            node = node[part]
        else:
            if isinstance(node, LMap) and part in node.key_pos:
                position = node.key_pos[part]
            break
    return position, False


# ---- describing what a field accepts ---------------------------------------------------------------------------------

def _unwrap(annotation: Any, metadata: list[Any]) -> tuple[Any, list[Any]]:
    """Strip ``Annotated[...]`` layers, collecting their constraints (Gt, Le, MinLen, ...)."""
    metadata = list(metadata)
    while get_origin(annotation) is Annotated:
        inner, *extra = get_args(annotation)
        annotation = inner
        metadata.extend(extra)
    return annotation, metadata


def _is_union(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType)


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _describe_number(kind: str, metadata: list[Any], plural: bool) -> str:
    bounds: dict[str, Any] = {}
    for item in metadata:
        for name in ("gt", "ge", "lt", "le"):
            if isinstance(item, getattr(annotated_types, name.capitalize())):
                bounds[name] = getattr(item, name)
    noun = "integer" if kind == "int" else "number"
    article = "" if plural else ("an " if noun == "integer" else "a ")
    nouns = noun + ("s" if plural else "")
    if bounds == {"gt": 0}:
        return f"{'' if plural else 'a '}positive {nouns}"
    if bounds == {"ge": 0}:
        return f"{'' if plural else 'a '}non-negative {nouns}"
    if set(bounds) == {"ge", "le"}:
        return f"{article}{nouns} from {_number(bounds['ge'])} to {_number(bounds['le'])}"
    words = {"gt": "greater than", "ge": "at least", "lt": "less than", "le": "at most"}
    parts = [f"{words[name]} {_number(value)}" for name, value in bounds.items()]
    return f"{article}{nouns}" + (f" {' and '.join(parts)}" if parts else "")


def _join_or(parts: list[str]) -> str:
    unique = list(dict.fromkeys(parts))
    return unique[0] if len(unique) == 1 else ", ".join(unique[:-1]) + " or " + unique[-1]


def describe(annotation: Any, metadata: list[Any] | None = None, plural: bool = False) -> str:
    """Plain English for what an annotation accepts: ``PositiveInt`` -> "a positive integer"."""
    annotation, metadata = _unwrap(annotation, metadata or [])
    origin = get_origin(annotation)
    if _is_union(annotation):
        members = [m for m in get_args(annotation) if m is not type(None)] or [type(None)]
        parts = []
        for member in members:  # literals list their values: "'identity', 'zero_pad' or a mapping"
            is_literal = get_origin(_unwrap(member, [])[0]) is Literal
            parts.extend([repr(v) for v in get_args(member)] if is_literal else [describe(member, None, plural)])
        return _join_or(parts)
    if annotation is bool:
        return "true or false"
    if annotation in (int, float):
        return _describe_number(annotation.__name__, metadata, plural)
    if annotation is str:
        return "strings" if plural else "a string"
    if annotation is type(None):
        return "null"
    if origin is Literal:
        values = [repr(value) for value in get_args(annotation)]
        return values[0] if len(values) == 1 else "one of " + ", ".join(values)
    if origin is tuple or annotation is tuple:
        args = [a for a in get_args(annotation) if a is not Ellipsis]
        if len(set(map(repr, args))) == 1 and Ellipsis not in get_args(annotation):
            return f"{'lists' if plural else 'a list'} of {len(args)} {describe(args[0], None, True)}"
        return "lists" if plural else "a list"
    if origin is list or annotation is list:
        args = get_args(annotation)
        inner = "" if not args or args[0] is Any else f" of {describe(args[0], None, True)}"
        return ("lists" if plural else "a list") + inner
    if origin is dict or annotation is dict or (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return "mappings" if plural else "a mapping"
    return "values" if plural else "a value"


def _union_member(annotation: Any, tag: Any) -> Any:
    """The member of a union that pydantic names ``tag`` in an error location ('constrained-int', 'Projection')."""
    for member in get_args(annotation):
        plain, _ = _unwrap(member, [])
        origin = get_origin(plain) or plain
        name = getattr(origin, "__name__", str(origin)).lower()
        if isinstance(plain, type) and issubclass(plain, BaseModel) and tag == plain.__name__:
            return member
        if isinstance(tag, str) and (tag == name or tag.startswith(name + "[") or tag.endswith("-" + name)):
            return member
    return None


class _Field:
    """Where one pydantic error sits: its location with union tags removed, and the annotation found there."""

    def __init__(self, model: type[BaseModel], loc: tuple[Any, ...]):
        self.loc: tuple[Any, ...] = ()
        self.union_loc: tuple[Any, ...] | None = None  # location of the outermost union field on the way
        self.deep = False  # the error lies inside one union member (past its tag)
        self.parent: Any = model  # annotation of the mapping that holds the last part of loc
        self.annotation: Any = model
        self.metadata: list[Any] = []
        annotation: Any = model
        metadata: list[Any] = []
        known = True
        for part in loc:
            self.parent = annotation
            plain, metadata = _unwrap(annotation, metadata)
            if known and _is_union(plain) and len([m for m in get_args(plain) if m is not type(None)]) > 1:
                if self.union_loc is None:
                    self.union_loc = self.loc
                else:
                    self.deep = True
                annotation, metadata, known = _union_member(plain, part), [], True
                if annotation is None:
                    known = False
                continue
            if self.union_loc is not None:
                self.deep = True
            self.loc += (part,)
            annotation, metadata = self._step(plain, part) if known else (None, [])
            known = annotation is not None
        self.annotation = annotation if known else None
        self.metadata = metadata

    @staticmethod
    def _step(annotation: Any, part: Any) -> tuple[Any, list[Any]]:
        annotation, _ = _unwrap(annotation, [])
        if _is_union(annotation):  # Optional[X]: pydantic adds no tag
            members = [m for m in get_args(annotation) if m is not type(None)]
            annotation, _ = _unwrap(members[0], []) if len(members) == 1 else (annotation, [])
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for name, info in annotation.model_fields.items():
                if part in (name, info.alias):
                    return info.annotation, list(info.metadata)
            return None, []
        origin, args = get_origin(annotation), get_args(annotation)
        if origin in (list, tuple) and isinstance(part, int):
            items = [a for a in args if a is not Ellipsis]
            if not items:
                return Any, []
            return (items[part] if origin is tuple and len(items) > 1 and part < len(items) else items[0]), []
        if origin is dict and len(args) == 2:
            return args[1], []
        if annotation is Any:
            return Any, []
        return None, []


def field_names(model: Any) -> list[str]:
    """Keys a mapping of this annotation accepts (a model's fields, by their YAML names)."""
    model, _ = _unwrap(model, [])
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [info.alias or name for name, info in model.model_fields.items()]
    return []


# ---- messages ------------------------------------------------------------------------------------------------------

def _describe_input(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    text = repr(list(value) if isinstance(value, (list, tuple)) else value)
    return text if len(text) <= 60 else text[:57] + "..."


#: error types that mean "the value is not what the field accepts": answered with the field's description
_MISMATCH = {
    "int_type", "int_parsing", "int_from_float", "int_parsing_size", "float_type", "float_parsing", "bool_type",
    "bool_parsing", "string_type", "list_type", "tuple_type", "dict_type", "model_type", "model_attributes_type",
    "literal_error", "greater_than", "greater_than_equal", "less_than", "less_than_equal", "none_required",
    "finite_number", "is_instance_of", "enum", "arguments_type", "iterable_type",
}

NAME_PATTERN_HINT = "names are letters, digits, '_', '-' and '.', starting with a letter or '_'"


def _literal_values(annotation: Any) -> list[str]:
    annotation, _ = _unwrap(annotation, [])
    if _is_union(annotation):
        return [value for member in get_args(annotation) for value in _literal_values(member)]
    if get_origin(annotation) is Literal:
        return [str(value) for value in get_args(annotation)]
    return []


def _message(error: dict[str, Any], where: _Field) -> tuple[str, str | None]:
    kind, value = error["type"], error.get("input")
    ctx = error.get("ctx") or {}
    got = f", got {_describe_input(value)}" if "input" in error else ""
    hint = None
    if kind in _MISMATCH and where.annotation is not None and where.annotation is not Any:
        if isinstance(value, str):
            hint = did_you_mean(value, _literal_values(where.annotation))
        return f"expected {describe(where.annotation, where.metadata)}{got}", hint
    if kind == "too_short":
        count = ctx.get("min_length", 1)
        return f"expected at least {count} item{'s' if count != 1 else ''}, got {ctx.get('actual_length', 0)}", None
    if kind == "too_long":
        count = ctx.get("max_length", 0)
        return f"expected at most {count} item{'s' if count != 1 else ''}, got {ctx.get('actual_length', '?')}", None
    if kind == "string_pattern_mismatch":
        return f"{_describe_input(value)} is not a valid name", NAME_PATTERN_HINT
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            text, _, hint = message[len(prefix):].partition(HINT)
            return text, hint or None
    message = message[:1].lower() + message[1:]
    return message.replace("input should be", "expected") + got, None


_VALIDATED_MEMBER = re.compile(r"^function-\w+\[.*, (\w+)\]$")


def _plain_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """A location without validator wrappers; a union member with a validator (``function-after[check(), Model]``)
    keeps its tag as the model's name, as pydantic gives it for a member without one."""
    out: list[Any] = []
    for part in loc:
        if isinstance(part, str) and part.startswith("function-"):
            member = _VALIDATED_MEMBER.match(part)
            if member is None:
                continue
            part = member.group(1)
        out.append(part)
    return tuple(out)


def diagnostics_from_validation(exc: ValidationError, tree: Any, base_path: str, model: type[BaseModel],
                                fallback: Position | None, ignore: frozenset[str] = frozenset()) -> list[Diagnostic]:
    """One diagnostic per mistake, located in ``tree`` (the raw mapping that was validated); pydantic error types
    in ``ignore`` (``"missing"`` for partial arguments) are left out."""
    errors = [dict(error, loc=_plain_loc(error["loc"])) for error in exc.errors(include_url=False)
              if error["type"] not in ignore]
    fields = [_Field(model, error["loc"]) for error in errors]
    for error, where in zip(errors, fields):
        # a member's own validator failed (Projection's first: without use: always): the member took the value's
        # kind, so its message is the one to report, not "expected A or B"
        if error["type"] == "value_error" and where.union_loc is not None:
            where.deep = True
    # a union reports one error per accepted type; if some type matched the value's kind and failed deeper inside
    # (a list with a bad item, a mapping with a bad key), report those, else one "expected A or B" for the field
    deep_unions = {f.union_loc for f in fields if f.union_loc is not None and f.deep}
    out: list[Diagnostic] = []
    done_unions: set[tuple[Any, ...]] = set()
    for error, where in zip(errors, fields):
        if where.union_loc is not None and not where.deep:
            if where.union_loc in deep_unions or where.union_loc in done_unions:
                continue
            done_unions.add(where.union_loc)
            where = _Field(model, where.union_loc)  # describe the whole union
        out.append(_diagnostic(error, where, tree, base_path, fallback))
    # in the order of the file, as a reader meets them (pydantic's order is that of the model's fields)
    out.sort(key=lambda d: (d.position.line, d.position.col) if d.position else (0, 0))
    return _merge_typos(out)


def _diagnostic(error: dict[str, Any], where: _Field, tree: Any, base_path: str,
                fallback: Position | None) -> Diagnostic:
    loc = where.loc
    kind = error["type"]
    path = base_path
    if kind in ("extra_forbidden", "missing"):
        for part in loc[:-1]:
            path = join_path(path, part)
        key = loc[-1] if loc else "?"
        holder, _ = locate(tree, loc[:-1], fallback)
        container = _follow(tree, loc[:-1])
        if kind == "missing":
            position = container.pos if isinstance(container, LMap) and container.pos else holder
            return Diagnostic(f"missing required key '{key}'", position, path)
        position = container.key_pos.get(key, holder) if isinstance(container, LMap) else holder
        known = field_names(where.parent)
        hint = did_you_mean(str(key), known) if known else None
        if hint is None and known:
            hint = f"known keys: {', '.join(known)}" + _owners(str(key), where.parent)
        return Diagnostic(f"unknown key '{key}'", position, path, hint)
    for part in loc:
        path = join_path(path, part)
    position, _ = locate(tree, loc, fallback)
    message, hint = _message(error, where)
    return Diagnostic(message, position, path, hint)


def _owners(key: str, model: Any) -> str:
    """``; 'cosine' is an option of window_attention`` when another op takes the key (an option on the wrong op)."""
    from archc.ops.registry import OPS, OpSpec

    if not (isinstance(model, type) and issubclass(model, OpSpec)):
        return ""
    owners = sorted(name for name, op in OPS.items() if op is not model and key in op.model_fields)
    if not owners:
        return ""
    shown = ", ".join(owners[:3]) + (", ..." if len(owners) > 3 else "")
    return f"; '{key}' is an option of {shown}"


def _follow(tree: Any, loc: tuple[Any, ...]) -> Any:
    node = tree
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return None
    return node


def _merge_typos(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """``kernal: 3`` gives "unknown key 'kernal'" and "missing required key 'kernel'": report only the first, whose
    hint already names the fix. Exact repeats are dropped."""
    suggested = {(d.path, d.hint) for d in diagnostics if d.message.startswith("unknown key")}
    out, seen = [], set()
    for diagnostic in diagnostics:
        if diagnostic.message.startswith("missing required key '"):
            key = diagnostic.message.split("'")[1]
            if (diagnostic.path, f"did you mean '{key}'?") in suggested:
                continue
        marker = (diagnostic.path, diagnostic.message)
        if marker not in seen:
            seen.add(marker)
            out.append(diagnostic)
    return out
