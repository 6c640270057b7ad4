"""Located diagnostics: every mistake in a spec is reported as ``file:line:col: error: path: message``."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Position:
    """A place in a source file (1-based line and column) plus the text of that line for the caret."""

    file: str
    line: int
    col: int
    line_text: str = field(default="", compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass
class Diagnostic:
    """One problem in a spec. ``path`` is the spec path (``network[4].body[0].conv.kernel``).

    ``notes`` say how the compiler got there, innermost first: for an error inside a template, the place that called
    the template (and that call's caller, and so on), each a Diagnostic of severity ``note``.
    """

    message: str
    position: Position | None = None
    path: str = ""
    hint: str | None = None
    severity: str = "error"
    notes: list[Diagnostic] = field(default_factory=list)

    def format(self, source: bool = True) -> str:
        where = f"{self.position}: " if self.position else ""
        path = f"{self.path}: " if self.path else ""
        text = f"{where}{self.severity}: {path}{self.message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        if source and self.position and self.position.line_text:
            line = self.position.line_text.rstrip("\r\n").expandtabs(1)
            line = "".join(char if char.isprintable() else "?" for char in line)
            # the caret sits under the column; tabs count as one column, as YAML counts them
            caret = " " * (min(self.position.col, len(line) + 1) - 1) + "^"
            text += f"\n    {line}\n    {caret}"
        for note in self.notes:
            text += "\n" + note.format(source)
        return text

    def __str__(self) -> str:
        return self.format()


class SpecError(ValueError):
    """A spec is wrong. ``.diagnostics`` lists every problem found, each with its position and a hint."""

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic | str):
        if isinstance(diagnostics, str):
            diagnostics = [Diagnostic(diagnostics)]
        elif isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics: list[Diagnostic] = list(diagnostics)
        super().__init__(self.format())

    def format(self, source: bool = True) -> str:
        return "\n".join(d.format(source) for d in self.diagnostics)


class DiagnosticSink:
    """Collects diagnostics so a stage can report every problem at once instead of stopping at the first."""

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []

    def error(self, message: str, position: Position | None = None, path: str = "", hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(message, position, path, hint))

    def extend(self, error: SpecError) -> None:
        self.diagnostics.extend(error.diagnostics)

    def __bool__(self) -> bool:
        return bool(self.diagnostics)

    def raise_if_any(self) -> None:
        if self.diagnostics:
            raise SpecError(self.diagnostics)


def did_you_mean(word: str, known: list[str] | set[str] | tuple[str, ...]) -> str | None:
    """A hint naming the closest known word, or None."""
    import difflib

    close = difflib.get_close_matches(str(word), sorted(known), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None
