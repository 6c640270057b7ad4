"""YAML text -> plain dicts and lists that remember where every key and value came from.

Positions live in side tables on the containers (``LMap.key_pos`` / ``LMap.value_pos``, ``LList.item_pos``), so the
tree stays ordinary ``dict`` / ``list`` data that merges, validates and serialises like any other, while every error
found later — even after templates and repeats are expanded — can point at the YAML that produced it.

The tree is built straight from libyaml's parse events (no intermediate node graph): it is about twice as fast as
composing nodes first, and an alias (``*name``) becomes a reference to the value its anchor built, while its
expanded size is counted, so an alias bomb is refused before anything large exists.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from archc.errors import Diagnostic, Position, SpecError

try:  # libyaml's parser; the pure-Python one gives the same events
    _Parser: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Parser = yaml.SafeLoader

_STR = "tag:yaml.org,2002:str"
_FLOAT = "tag:yaml.org,2002:float"
_MERGE = "tag:yaml.org,2002:merge"
_FLOAT_1_2 = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)[eE][-+]?[0-9]+$")
#: scalars of these tags are immutable values; each distinct text is constructed once per file
_SHARED_TAGS = frozenset(f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null"))

#: Limits that turn hostile or runaway input into located errors instead of hangs or MemoryErrors.
MAX_YAML_NODES = 1_000_000  # after alias expansion ("billion laughs")
MAX_YAML_DEPTH = 100
MAX_SOURCE_BYTES = 10_000_000

_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # what YAML counts as a line break


class LMap(dict):
    """A dict that knows its own position and those of its keys and values.

    ``exprs`` records whether any string inside holds a ``$`` (set by the loader, else None: not known yet), so
    expansion can skip substitution in the many items that have no expressions.
    """

    __slots__ = ("pos", "key_pos", "value_pos", "exprs")

    def __init__(self, *args: Any, pos: Position | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.pos = pos
        self.key_pos: dict[Any, Position] = {}
        self.value_pos: dict[Any, Position] = {}
        self.exprs: bool | None = None

    def where(self, key: Any) -> Position | None:
        """Position of the value under ``key`` (falls back to the key, then to the mapping)."""
        return self.value_pos.get(key) or self.key_pos.get(key) or self.pos

    def where_key(self, key: Any) -> Position | None:
        return self.key_pos.get(key) or self.pos


class LList(list):
    """A list that knows its own position and those of its items."""

    __slots__ = ("pos", "item_pos", "exprs")

    def __init__(self, *args: Any, pos: Position | None = None):
        super().__init__(*args)
        self.pos = pos
        self.item_pos: list[Position | None] = []
        self.exprs: bool | None = None  # as LMap.exprs

    def where(self, index: int) -> Position | None:
        if 0 <= index < len(self.item_pos) and self.item_pos[index] is not None:
            return self.item_pos[index]
        return self.pos


def position_of(container: Any, key: Any) -> Position | None:
    """Position of ``container[key]`` if the container is located, else None."""
    if isinstance(container, (LMap, LList)):
        return container.where(key)
    return None


_IN_PROGRESS = object()  # an anchor whose value is still being built


class _Builder:
    """Builds located containers from parse events. One instance per document."""

    def __init__(self, file: str, lines: list[str]):
        self.file = file
        self.lines = lines
        self.count = 0  # nodes so far, aliases counted at their expanded size
        self.problems: list[Diagnostic] = []
        self.resolver = yaml.resolver.Resolver()
        self.constructor = yaml.SafeLoader("")  # only its scalar constructors are used
        self.tags: dict[tuple[str, Any], str] = {}
        self.scalars: dict[tuple[str, str], Any] = {}
        self.anchors: dict[str, Any] = {}

    def pos(self, mark: Any) -> Position:
        line = mark.line
        # Position is a frozen dataclass; filling its __dict__ directly makes the same object, 3x faster
        position = object.__new__(Position)
        position.__dict__.update(file=self.file, line=line + 1, col=mark.column + 1,
                                 line_text=self.lines[line] if line < len(self.lines) else "")
        return position

    def fail(self, message: str, mark: Any, hint: str | None = None) -> SpecError:
        return SpecError(Diagnostic(message, self.pos(mark), hint=hint))

    def tag(self, event: ScalarEvent) -> str:
        tag = event.tag
        if tag is not None and tag != "!":
            return tag
        key = (event.value, event.implicit)
        tag = self.tags.get(key)
        if tag is None:
            tag = self.resolver.resolve(yaml.ScalarNode, event.value, event.implicit)
            if tag == _STR and event.implicit[0] and _FLOAT_1_2.match(event.value):
                tag = _FLOAT  # YAML 1.2 reads 1e-5 as a number; YAML 1.1 (PyYAML) as the string "1e-5"
            self.tags[key] = tag
        return tag

    def scalar(self, event: ScalarEvent, tag: str) -> Any:
        key = (tag, event.value)
        shared = tag in _SHARED_TAGS
        if shared and key in self.scalars:
            return self.scalars[key]
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            value = self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise self.fail(f"cannot read this value: {problem}", event.start_mark) from None
        except (ValueError, ArithmeticError, LookupError, TypeError):  # PyYAML's own constructors, e.g. on `!!int`
            raise self.fail(f"cannot read {event.value!r} as {tag.rsplit(':', 1)[-1]}", event.start_mark) from None
        if shared:
            self.scalars[key] = value
        return value

    def grow(self, size: int, mark: Any) -> None:
        self.count += size
        if self.count > MAX_YAML_NODES:
            raise self.fail(f"the YAML expands to more than {MAX_YAML_NODES:,} nodes", mark,
                            "aliases (*name) that repeat large anchors multiply; write it out or use repeat:")

    def build(self, parser: Any) -> Any:
        """The document's value (None for an empty document)."""
        get_event = parser.get_event
        # a frame: [container, is_mapping, pending key, its position, nodes before it, anchor, holds a '$']
        stack: list[list[Any]] = []
        root: Any = None
        documents = 0
        while True:
            event = get_event()
            kind = event.__class__
            if kind is ScalarEvent:
                tag = self.tag(event)
                value: Any = self.scalar(event, tag) if tag != _MERGE else event.value
                position = self.pos(event.start_mark)
                self.grow(1, event.start_mark)
                if event.anchor:
                    self.anchors[event.anchor] = (value, 1)
                is_merge_key = tag == _MERGE
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                if len(stack) >= MAX_YAML_DEPTH:
                    raise self.fail(f"the YAML nests deeper than {MAX_YAML_DEPTH} levels", event.start_mark)
                position = self.pos(event.start_mark)
                container = LMap(pos=position) if kind is MappingStartEvent else LList(pos=position)
                if event.anchor:
                    self.anchors[event.anchor] = _IN_PROGRESS
                stack.append([container, kind is MappingStartEvent, _IN_PROGRESS, None, self.count, event.anchor,
                              False])
                self.grow(1, event.start_mark)
                continue
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                value, _, _, _, start, anchor, exprs = stack.pop()
                value.exprs = exprs
                position = value.pos
                if anchor:
                    self.anchors[anchor] = (value, self.count - start)
                is_merge_key = False
            elif kind is AliasEvent:
                entry = self.anchors.get(event.anchor)
                if entry is None:
                    raise self.fail(f"the alias *{event.anchor} names no anchor before it", event.start_mark,
                                    f"define it first with &{event.anchor}")
                if entry is _IN_PROGRESS:
                    raise self.fail("an alias (*name) refers to the anchor that contains it", event.start_mark,
                                    "a spec is a tree; use repeat: or a template from blocks:")
                value, size = entry
                self.grow(size, event.start_mark)
                position = self.pos(event.start_mark)
                is_merge_key = False
            elif kind is DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise self.fail("the file holds more than one YAML document (---)", event.start_mark,
                                    "a spec is one document; remove the second ---")
                continue
            elif kind is StreamEndEvent:
                return root
            else:  # stream start, document end
                continue
            if not stack:
                root = value
                continue
            frame = stack[-1]
            container = frame[0]
            if not frame[1]:  # a sequence item
                container.append(value)
                container.item_pos.append(position)
            elif frame[2] is _IN_PROGRESS:  # a mapping key
                if is_merge_key:
                    raise self.fail("YAML merge keys (<<) are not supported", event.start_mark,
                                    "use extends: or a template from blocks:")
                if isinstance(value, (LMap, LList)):
                    raise self.fail("a mapping key must be a plain value", event.start_mark)
                frame[2], frame[3] = value, position
                continue
            else:  # a mapping value
                key, key_position = frame[2], frame[3]
                frame[2] = _IN_PROGRESS
                if key in container:  # reported with every other duplicate once the whole file is read
                    first = container.key_pos[key]
                    self.problems.append(Diagnostic(f"duplicate key '{key}'", key_position,
                                                    hint=f"'{key}' is first set at line {first.line}, "
                                                    f"column {first.col}"))
                    continue
                container[key] = value
                container.key_pos[key] = key_position
                container.value_pos[key] = position
            if not frame[6] and (value.__class__ is str and "$" in value or getattr(value, "exprs", False)):
                frame[6] = True


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a stage builds many small objects (and no cycles): its collections
    would walk all of them again and again, over half of the time of a large spec. On the way out the new objects
    are moved to the oldest generation (freeze + unfreeze) instead of being scanned once more right away."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()
            gc.unfreeze()
            gc.enable()


def _position_at(text: str, offset: int, file: str, lines: list[str]) -> Position:
    """Position of a character offset (line breaks as YAML counts them)."""
    line = len(_LINE_BREAK.findall(text, 0, offset))
    start = 0
    for match in _LINE_BREAK.finditer(text, 0, offset):
        start = match.end()
    line_text = lines[line] if line < len(lines) else ""
    return Position(file, line + 1, offset - start + 1, line_text)


def load_text(text: str, file: str = "<string>") -> Any:
    """Parse YAML ``text`` safely (no tags that construct objects) into located dicts/lists.

    Raises SpecError (never a yaml or Python error) for syntax errors, duplicate keys and resource limits.
    """
    if len(text) > MAX_SOURCE_BYTES:
        raise SpecError(Diagnostic(f"the spec is larger than {MAX_SOURCE_BYTES:,} characters", Position(file, 1, 1)))
    lines = _LINE_BREAK.split(text)
    builder = _Builder(file, lines)
    with paused_gc():
        try:
            tree = builder.build(_Parser(text))
        except yaml.MarkedYAMLError as exc:
            problem, context = _located(exc.problem_mark, file, lines), _located(exc.context_mark, file, lines)
            tabbed = _tab_indent(problem)
            if tabbed is not None:  # libyaml's words ("cannot start any token") hide the cause
                raise SpecError(Diagnostic("invalid YAML: a tab indents this line; YAML indents with spaces only",
                                           tabbed, hint="replace the tab with spaces")) from None
            diagnostic = Diagnostic(f"invalid YAML: {exc.problem or exc.context}", problem or context)
            if exc.context and problem and context and (problem.line, problem.col) != (context.line, context.col):
                diagnostic.notes.append(Diagnostic(exc.context, context, severity="note"))  # "while parsing ..."
            raise SpecError(diagnostic) from None
        except yaml.reader.ReaderError as exc:
            pos = _position_at(text, min(exc.position, len(text)), file, lines)
            character = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or " ")
            raise SpecError(Diagnostic(f"invalid YAML: the character U+{character:04X} is not allowed in YAML", pos,
                                       hint="remove control characters; tabs are fine only inside values")) from None
        except yaml.YAMLError as exc:
            raise SpecError(Diagnostic(f"invalid YAML: {exc}", Position(file, 1, 1))) from None
    if builder.problems:
        raise SpecError(builder.problems)
    return tree


def _tab_indent(position: Position | None) -> Position | None:
    """The position of a tab in the indentation of the line of a syntax error, if there is one."""
    if position is None:
        return None
    text = position.line_text
    indent = text[:len(text) - len(text.lstrip(" \t-"))]
    if "\t" not in indent:
        return None
    return Position(position.file, position.line, indent.index("\t") + 1, text)


def _located(mark: Any, file: str, lines: list[str]) -> Position | None:
    if mark is None:
        return None
    return Position(file, mark.line + 1, mark.column + 1, lines[mark.line] if mark.line < len(lines) else "")


def display_path(path: Path) -> Path:
    """``path`` relative to the working directory when it lies below it (for shorter, stable messages)."""
    try:
        return path.relative_to(Path.cwd()) if path.is_absolute() else path
    except ValueError:
        return path


def load_file(path: str | Path) -> Any:
    """Read and parse a spec file; a missing, unreadable or non-UTF-8 file is a SpecError too."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:  # bounded: a device or a huge file must not be read whole
            data = handle.read(MAX_SOURCE_BYTES * 4 + 1)
    except FileNotFoundError:
        raise SpecError(Diagnostic(f"no such file: {path}")) from None
    except IsADirectoryError:
        raise SpecError(Diagnostic(f"{path} is a folder, not a spec file")) from None
    except OSError as exc:
        raise SpecError(Diagnostic(f"cannot read {path}: {exc.strerror or exc}")) from None
    if len(data) > MAX_SOURCE_BYTES * 4:  # more bytes than the characters allowed can take in UTF-8
        raise SpecError(Diagnostic(f"the spec is larger than {MAX_SOURCE_BYTES:,} characters",
                                   Position(str(path), 1, 1)))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        good = data[:exc.start].decode("utf-8")
        lines = _LINE_BREAK.split(good)
        position = Position(str(path), len(lines), len(lines[-1]) + 1, lines[-1])
        raise SpecError(Diagnostic(f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} cannot be decoded)",
                                   position, hint="save the spec as UTF-8")) from None
    if text.startswith("\ufeff"):
        text = text[1:]  # a byte-order mark is not part of the YAML
    return load_text(text, str(path))
