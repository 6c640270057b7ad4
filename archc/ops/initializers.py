"""Initialisers with arguments, for conv and linear weights: ``init: {normal: {std: 0.01}}``.

A spec writes ``{kind: {arguments}}`` (``normal``, ``uniform``, ``trunc_normal``, ``constant``); the validated value is
one of the models below, whose ``kind`` field keeps it readable after ``model_dump``. The arguments and their meaning
are torch's ``nn.init`` functions', and both backends draw from those distributions.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class _Init(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Normal(_Init):
    """N(mean, std²): torch's ``nn.init.normal_`` (torchvision's classifiers: std 0.01)."""

    kind: Literal["normal"] = "normal"
    mean: float = 0.0
    std: float = Field(1.0, gt=0)


class Uniform(_Init):
    """U(a, b): torch's ``nn.init.uniform_`` (a the lower, b the upper bound)."""

    kind: Literal["uniform"] = "uniform"
    a: float = 0.0
    b: float = 1.0

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if not self.a < self.b:
            raise ValueError(f"needs a < b, got a = {self.a}, b = {self.b}")
        return self


class TruncNormal(_Init):
    """N(mean, std²) cut to [a, b] (absolute bounds): torch's ``nn.init.trunc_normal_`` (ConvNeXt: std 0.02)."""

    kind: Literal["trunc_normal"] = "trunc_normal"
    mean: float = 0.0
    std: float = Field(1.0, gt=0)
    a: float = -2.0
    b: float = 2.0

    @model_validator(mode="after")
    def _ordered(self) -> TruncNormal:
        if not self.a < self.b:
            raise ValueError(f"needs a < b, got a = {self.a}, b = {self.b}")
        return self


class Constant(_Init):
    """Every element ``value``: torch's ``nn.init.constant_``."""

    kind: Literal["constant"] = "constant"
    value: float


KINDS: dict[str, type[_Init]] = {"normal": Normal, "uniform": Uniform, "trunc_normal": TruncNormal,
                                 "constant": Constant}
InitArgs = Normal | Uniform | TruncNormal | Constant
USAGE = ("{normal: {mean, std}}, {uniform: {a, b}}, {trunc_normal: {mean, std, a, b}} or {constant: {value}}")


def parse_init(value: Any) -> Any:
    """``{normal: {std: 0.01}}`` -> Normal(std=0.01); names and validated models pass through."""
    if not isinstance(value, dict) or "kind" in value:
        return value
    if len(value) != 1 or next(iter(value)) not in KINDS:
        keys = ", ".join(map(str, value)) or "nothing"
        raise ValueError(f"an initialiser with arguments is one of {USAGE}; got {keys}")
    (kind, arguments), = value.items()
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise ValueError(f"{kind} takes its arguments as a mapping, e.g. {{{kind}: {{...}}}}, got {arguments!r}")
    cls = KINDS[kind]
    try:
        return cls.model_validate(arguments)
    except ValidationError as exc:  # one readable line: the nested location would point at `init` as unknown
        known = ", ".join(name for name in cls.model_fields if name != "kind")
        problems = "; ".join(_problem(error) for error in exc.errors())
        raise ValueError(f"{kind}: {problems} (arguments: {known})") from None


def _problem(error: Any) -> str:
    where = ".".join(map(str, error.get("loc", ()))) or "arguments"
    if error.get("type") == "extra_forbidden":
        return f"unknown argument '{where}'"
    return f"{where}: {error.get('msg', 'invalid')}".removeprefix("arguments: Value error, ")


def json_schema(names: list[str], numbers: bool = False) -> dict[str, Any]:
    """The JSON schema of an ``init`` value as a spec writes it: a scheme name (or a number, where ``numbers``: a
    bias constant) or ``{kind: {arguments}}``."""
    written: list[dict[str, Any]] = [{"type": "number"}] if numbers else []
    for kind, cls in KINDS.items():
        arguments = {name: {"type": "number"} for name in cls.model_fields if name != "kind"}
        written.append({"type": "object", "required": [kind], "additionalProperties": False,
                        "properties": {kind: {"type": "object", "properties": arguments,
                                              "additionalProperties": False}}})
    return {"anyOf": [{"enum": names}, *written], "description": f"a scheme name, or {USAGE}"}
