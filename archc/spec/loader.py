"""YAML text -> plain dicts and lists that remember where every key and value came from.

Positions live in side tables on the containers (``LMap.key_pos`` / ``LMap.value_pos``, ``LList.item_pos``), so the
tree stays ordinary ``dict`` / ``list`` data that merges, validates and serialises like any other, while every error
found later — even after templates and repeats are expanded — can point at the YAML that produced it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from archc.errors import Diagnostic, Position, SpecError

try:  # libyaml's composer is ~10x faster; positions are the same
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader

#: Limits that turn hostile or runaway input into located errors instead of hangs or MemoryErrors.
MAX_YAML_NODES = 1_000_000  # after alias expansion ("billion laughs")
MAX_YAML_DEPTH = 100
MAX_SOURCE_BYTES = 10_000_000


class LMap(dict):
    """A dict that knows its own position and those of its keys and values."""

    __slots__ = ("pos", "key_pos", "value_pos")

    def __init__(self, *args: Any, pos: Position | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.pos = pos
        self.key_pos: dict[Any, Position] = {}
        self.value_pos: dict[Any, Position] = {}

    def where(self, key: Any) -> Position | None:
        """Position of the value under ``key`` (falls back to the key, then to the mapping)."""
        return self.value_pos.get(key) or self.key_pos.get(key) or self.pos

    def where_key(self, key: Any) -> Position | None:
        return self.key_pos.get(key) or self.pos


class LList(list):
    """A list that knows its own position and those of its items."""

    __slots__ = ("pos", "item_pos")

    def __init__(self, *args: Any, pos: Position | None = None):
        super().__init__(*args)
        self.pos = pos
        self.item_pos: list[Position | None] = []

    def where(self, index: int) -> Position | None:
        if 0 <= index < len(self.item_pos) and self.item_pos[index] is not None:
            return self.item_pos[index]
        return self.pos


def position_of(container: Any, key: Any) -> Position | None:
    """Position of ``container[key]`` if the container is located, else None."""
    if isinstance(container, (LMap, LList)):
        return container.where(key)
    return None


class _Converter:
    def __init__(self, file: str, lines: list[str]):
        self.file = file
        self.lines = lines
        self.count = 0
        self.constructor = yaml.SafeLoader("")  # only its scalar constructors are used

    def pos(self, node: yaml.Node) -> Position:
        mark = node.start_mark
        text = self.lines[mark.line] if mark.line < len(self.lines) else ""
        return Position(self.file, mark.line + 1, mark.column + 1, text)

    def convert(self, node: yaml.Node, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_YAML_NODES:
            raise SpecError(Diagnostic(f"the YAML expands to more than {MAX_YAML_NODES:,} nodes", self.pos(node),
                                       hint="aliases (*name) that repeat large anchors multiply; write it out or use repeat:"))
        if depth > MAX_YAML_DEPTH:
            raise SpecError(Diagnostic(f"the YAML nests deeper than {MAX_YAML_DEPTH} levels", self.pos(node)))
        if isinstance(node, yaml.ScalarNode):
            try:
                return self.constructor.construct_object(node, deep=True)
            except yaml.YAMLError as exc:
                raise SpecError(Diagnostic(f"cannot read this value: {exc}", self.pos(node))) from None
        if isinstance(node, yaml.SequenceNode):
            out = LList(pos=self.pos(node))
            for item in node.value:
                out.append(self.convert(item, depth + 1))
                out.item_pos.append(self.pos(item))
            return out
        if isinstance(node, yaml.MappingNode):
            out = LMap(pos=self.pos(node))
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise SpecError(Diagnostic("YAML merge keys (<<) are not supported", self.pos(key_node),
                                               hint="use extends: or a template from blocks:"))
                key = self.convert(key_node, depth + 1)
                if isinstance(key, (LMap, LList)):
                    raise SpecError(Diagnostic("a mapping key must be a plain value", self.pos(key_node)))
                if key in out:
                    raise SpecError(Diagnostic(f"duplicate key '{key}'", self.pos(key_node),
                                               hint=f"'{key}' is first set on line {out.key_pos[key].line}"))
                out[key] = self.convert(value_node, depth + 1)
                out.key_pos[key] = self.pos(key_node)
                out.value_pos[key] = self.pos(value_node)
            return out
        raise SpecError(Diagnostic(f"unsupported YAML node {type(node).__name__}", self.pos(node)))  # pragma: no cover


def load_text(text: str, file: str = "<string>") -> Any:
    """Parse YAML ``text`` safely (no tags that construct objects) into located dicts/lists.

    Raises SpecError (never a yaml or Python error) for syntax errors, duplicate keys and resource limits.
    """
    if len(text) > MAX_SOURCE_BYTES:
        raise SpecError(Diagnostic(f"the spec is larger than {MAX_SOURCE_BYTES:,} characters", Position(file, 1, 1)))
    lines = text.splitlines()
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = None
        if mark is not None:
            line_text = lines[mark.line] if mark.line < len(lines) else ""
            pos = Position(file, mark.line + 1, mark.column + 1, line_text)
        message = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise SpecError(Diagnostic(f"invalid YAML: {message}", pos)) from None
    except yaml.YAMLError as exc:
        raise SpecError(Diagnostic(f"invalid YAML: {exc}", Position(file, 1, 1))) from None
    except RecursionError:
        raise SpecError(Diagnostic(f"the YAML nests deeper than {MAX_YAML_DEPTH} levels",
                                   Position(file, 1, 1))) from None
    if node is None:
        return None
    try:
        return _Converter(file, lines).convert(node, 0)
    except RecursionError:
        raise SpecError(Diagnostic(f"the YAML nests deeper than {MAX_YAML_DEPTH} levels",
                                   Position(file, 1, 1))) from None


def load_file(path: str | Path) -> Any:
    """Read and parse a spec file; a missing or unreadable file is a SpecError too."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(Diagnostic(f"no such file: {path}")) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(Diagnostic(f"cannot read {path}: {exc}")) from None
    return load_text(text, str(path))
