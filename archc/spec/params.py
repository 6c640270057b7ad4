"""A child spec's ``params:`` checked against its base: an entry that the base does not declare and that nothing in
the resolved spec reads is a typo of a base parameter (``widht: 32`` for ``width``), not a new knob."""

from __future__ import annotations

import re
from typing import Any

from archc.errors import Diagnostic, SpecError, did_you_mean
from archc.spec.loader import LMap

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_child_params(base: Any, child: Any, merged: Any, base_name: str) -> None:
    """Raise SpecError for each ``params:`` entry of ``child`` that ``base`` lacks and ``merged`` never reads."""
    child_params = child.get("params") if isinstance(child, dict) else None
    if not isinstance(child_params, dict):
        return
    declared = base.get("params") if isinstance(base, dict) else None
    declared = declared if isinstance(declared, dict) else {}
    new = [key for key in child_params if key not in declared]
    if not new:
        return
    read = _read_words(merged)
    problems = [_unread(key, child_params, declared, base_name) for key in new if key not in read]
    if problems:
        raise SpecError(problems)


def _unread(key: str, params: Any, declared: dict[str, Any], base_name: str) -> Diagnostic:
    position = params.key_pos.get(key) if isinstance(params, LMap) else None
    hint = did_you_mean(key, list(declared)) or (f"{base_name}'s parameters: {', '.join(declared)}" if declared
                                                 else f"{base_name} declares no parameters")
    return Diagnostic(f"parameter '{key}' is not a parameter of {base_name}, and nothing in the spec reads it",
                      position, f"params.{key}", hint)


def _read_words(tree: dict[str, Any]) -> set[str]:
    """Every name an expression of the spec may read: the words of its ``$`` strings (values and keys), outside
    ``params:`` itself."""
    words: set[str] = set()
    stack = [value for key, value in tree.items() if key != "params"]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if "$" in value:
                words.update(_WORD.findall(value))
        elif isinstance(value, dict):
            stack.extend(value.values())
            stack.extend(key for key in value if isinstance(key, str))
        elif isinstance(value, list):
            stack.extend(value)
    return words
