"""Located diagnostics: every mistake in a spec is reported as ``file:line:col: error: path: message``."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
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


class BackendError(RuntimeError):
    """A valid network that a backend cannot produce or write in the asked format (an ONNX exporter limit, say):
    the command reports it in one line and exits with status 2."""


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


#: names people bring from torch, Keras and timm, mapped to archc's word for the same thing. A hint is given only
#: when the known words contain the target, so one table serves ops, init schemes and argument names alike.
ALIASES: dict[str, str] = {
    # torch.nn / keras.layers class and function names
    "conv2d": "conv", "convolution": "conv", "convolution2d": "conv", "dense": "linear", "fc": "linear",
    "fullyconnected": "linear", "batchnorm": "bn", "batchnorm2d": "bn", "batchnorm1d": "bn",
    "batchnormalization": "bn", "batch_norm": "bn", "batch_normalization": "bn", "norm": "bn",
    "maxpool2d": "maxpool", "max_pool": "maxpool", "maxpooling2d": "maxpool", "max_pooling2d": "maxpool",
    "avgpool2d": "avgpool", "avg_pool": "avgpool", "averagepooling2d": "avgpool", "average_pooling2d": "avgpool",
    "adaptiveavgpool2d": "global_avgpool", "globalaveragepooling2d": "global_avgpool",
    "global_average_pooling2d": "global_avgpool", "global_avg_pool": "global_avgpool",
    "globalmaxpooling2d": "global_maxpool", "global_max_pool": "global_maxpool",
    "leakyrelu": "leaky_relu", "swish": "silu", "concatenate": "concat", "cat": "concat", "multiply": "mul",
    "subtract": "sub", "zeropadding2d": "channel_pad", "layernorm": "layernorm", "layer_norm": "layernorm",
    "layernormalization": "layernorm", "layer_normalization": "layernorm", "groupnorm": "groupnorm",
    "group_norm": "groupnorm", "groupnormalization": "groupnorm", "hard_swish": "hardswish",
    "hard_sigmoid": "hardsigmoid", "droppath": "drop_path", "stochastic_depth": "drop_path",
    "stochasticdepth": "drop_path", "squeeze_excitation": "se", "squeezeexcitation": "se", "seblock": "se",
    "skip": "residual", "shortcut_add": "residual",
    # argument names
    "kernel_size": "kernel", "filters": "out", "out_channels": "out", "out_features": "out", "units": "out",
    "strides": "stride", "use_bias": "bias", "p": "rate", "num_features": "out",
    # init schemes (Keras initializer names)
    "he_normal": "kaiming_normal", "he_uniform": "kaiming_uniform", "glorot_normal": "xavier_normal",
    "glorot_uniform": "xavier_uniform", "zeros": "zeros", "ones": "ones",
}


def _distance(a: str, b: str) -> int:
    """Optimal string alignment distance (Damerau-Levenshtein with adjacent transpositions)."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


def _typo_budget(word: str) -> int:
    """How many edits still read as a typo of a word of this length (a different word is worse than no hint)."""
    return 1 if len(word) <= 4 else 2 if len(word) <= 9 else 3


def closest(word: object, known: Iterable[str]) -> str | None:
    """The known word that ``word`` is a misspelling, another case or a torch / Keras name of; None when none is.

    Rules, in order: a name from :data:`ALIASES`, compared without case, underscores or dashes (``BatchNorm2d`` ->
    ``bn``, ``Dense`` -> ``linear``, ``he_normal`` -> ``kaiming_normal``); the same word in another case (``ReLU`` ->
    ``relu``); a word cut
    short (``kaiming`` -> ``kaiming_normal``); a typo within a small edit distance (``stirde`` -> ``stride``).
    Nothing else: ``drop_path`` is not ``dropout``.
    """
    text = str(word)
    if len(text) > 100:
        return None
    words = sorted({k for k in known if isinstance(k, str)})
    if not words:
        return None
    lower = text.lower()
    squashed = lower.replace("-", "_")
    # the torch / Keras meaning wins over another case: Keras' `Dense` is archc's `linear`, not the `dense` block
    for key in (squashed, squashed.replace("_", "")):
        target = ALIASES.get(key)
        if target is not None and target in words and target != text:
            return target
    folded = {k.lower(): k for k in words}
    if lower in folded and folded[lower] != text:
        return folded[lower]
    prefixed = [k for k in words if len(text) >= 4 and k.lower().startswith(lower) and k != text]
    if prefixed:  # a word cut short: 'kaiming' -> 'kaiming_normal'
        return min(prefixed, key=len)
    best, best_distance = None, _typo_budget(text) + 1
    for candidate in words:
        if candidate == text or abs(len(candidate) - len(text)) >= best_distance:
            continue
        distance = _distance(lower, candidate.lower())
        if distance < best_distance:
            best, best_distance = candidate, distance
    return best


def did_you_mean(word: object, known: Iterable[str]) -> str | None:
    """A hint naming the known word ``word`` was meant to be (see :func:`closest`), or None."""
    match = closest(word, known)
    return f"did you mean '{match}'?" if match is not None else None


def is_allocation_failure(exc: BaseException) -> bool:
    """A framework could not allocate memory: MemoryError, torch's "can't allocate memory" / out-of-memory
    RuntimeError, TensorFlow's ResourceExhaustedError (matched by name: the core imports no framework)."""
    if isinstance(exc, MemoryError) or type(exc).__name__ in ("ResourceExhaustedError", "OutOfMemoryError"):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("allocate" in text or "out of memory" in text)


@contextmanager
def lowering_node(name: str, data: dict) -> Iterator[None]:
    """Lowering one node: an allocation failure becomes a SpecError at the node, not a traceback."""
    try:
        yield
    except Exception as exc:
        if not is_allocation_failure(exc):
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        first = re.sub(r"^\{\{[^}]*\}\}\s*", "", first)[:200]  # TensorFlow's "{{function_node ...}}" prefix
        raise SpecError(Diagnostic(f"cannot allocate the weights or output of '{name}' ({data.get('op')}): {first}",
                                   data.get("pos"), data.get("path", ""),
                                   "make the node smaller, or free memory on the machine")) from None
