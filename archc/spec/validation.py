"""Turn pydantic ValidationErrors into located diagnostics with "did you mean" hints."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from archc.errors import Diagnostic, Position, did_you_mean
from archc.spec.loader import LList, LMap


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


_TYPE_TAGS = {"int", "str", "float", "bool", "list", "none", "tuple", "dict"}


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and ("[" in part or part in _TYPE_TAGS)


def _field_names(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def _describe_input(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def diagnostics_from_validation(exc: ValidationError, tree: Any, base_path: str, model: type[BaseModel],
                                fallback: Position | None) -> list[Diagnostic]:
    """One diagnostic per pydantic error, located in ``tree`` (the raw mapping that was validated)."""
    out: list[Diagnostic] = []
    seen: set[tuple[Any, ...]] = set()
    for error in exc.errors(include_url=False):
        loc = tuple(part for part in error["loc"] if not (isinstance(part, str) and part.startswith("function-")))
        # union members add their type name to loc ("int", "tuple[...]", "literal[...]"); keep the field path only
        loc = tuple(part for part in loc if not _is_union_tag(part)) or loc
        kind = error["type"]
        if (loc, kind) in seen:
            continue
        seen.add((loc, kind))
        path = base_path
        for part in loc:
            path = join_path(path, part)
        position, _ = locate(tree, loc, fallback)
        hint = None
        if kind == "extra_forbidden":
            key = loc[-1] if loc else "?"
            if isinstance(tree, LMap) and len(loc) == 1 and key in tree.key_pos:
                position = tree.key_pos[key]
            known = _field_names(model) if len(loc) == 1 else []
            hint = did_you_mean(str(key), known) if known else None
            if hint is None and known:
                hint = f"known keys: {', '.join(known)}"
            message = f"unknown key '{key}'"
            path = base_path
            for part in loc[:-1]:
                path = join_path(path, part)
        elif kind == "missing":
            message = f"missing required key '{loc[-1]}'" if loc else "missing value"
            path = base_path
            for part in loc[:-1]:
                path = join_path(path, part)
        else:
            message = error["msg"]
            if message.startswith("Value error, "):
                message = message[len("Value error, "):]
            message = message[0].lower() + message[1:] if message else message
            if "input" in error and not isinstance(error["input"], (dict, list)):
                message += f", got {_describe_input(error['input'])}"
        out.append(Diagnostic(message, position, path, hint))
    # union validation repeats one mistake once per member; keep the first per path
    unique: dict[str, Diagnostic] = {}
    for diagnostic in out:
        unique.setdefault(diagnostic.path, diagnostic)
    return list(unique.values())
