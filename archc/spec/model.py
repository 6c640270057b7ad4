"""Pydantic models of the spec's top level. Items of ``network`` / ``body`` lists are validated during expansion,
once their ``${expressions}`` have values (each op and connection has its own model in its registry)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FORMAT_VERSION = 1
REQUIRED = "required"  # the marker for a template parameter without default
#: a ValueError message may carry a hint after this marker; archc.spec.validation shows it as the diagnostic's hint
HINT = "\nhint: "


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputSpec(_Strict):
    """The network input, logical layout without batch: [C, H, W] or [features]."""

    shape: list[Any] = Field(min_length=1, max_length=3)
    name: str = "input"

    @model_validator(mode="before")
    @classmethod
    def _a_mapping(cls, data: Any) -> Any:
        if isinstance(data, list):  # `input: [3, 32, 32]`: the shape without its key
            raise ValueError(f"expected a mapping with a shape: key, got a list{HINT}write input: {{shape: "
                             f"[{', '.join(str(item) for item in data)}]}}")
        return data

    @field_validator("shape", mode="before")
    @classmethod
    def _no_batch(cls, shape: Any) -> Any:
        if isinstance(shape, list) and len(shape) == 4:  # people copy NCHW shapes from torch
            rest = ", ".join(str(item) for item in shape[1:])
            raise ValueError(f"expected the shape of one sample, [C, H, W] or [features], without the batch "
                             f"dimension; got {len(shape)} items{HINT}drop the batch size {shape[0]}: shape: [{rest}]")
        return shape


class BlockSpec(_Strict):
    """A parameterised template: ``params`` (use the string ``required`` for no default) and a ``body``; ``input``
    names the template's input inside its body, for items that read it again (an Inception module's branches)."""

    params: dict[str, Any] = Field(default_factory=dict)
    input: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_.\-]*$",
                              description="a name for the template's input: from: reads it inside the body only")
    body: list[Any] = Field(min_length=1)
    description: str = ""


class SpecModel(_Strict):
    """A whole spec after ``extends`` is resolved."""

    archc: Literal[1]
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
    description: str = ""
    input: InputSpec
    params: dict[str, Any] = Field(default_factory=dict)
    defaults: dict[str, dict[str, Any]] = Field(default_factory=dict)
    blocks: dict[str, BlockSpec] = Field(default_factory=dict)
    network: list[Any] = Field(min_length=1)
    #: nodes or named blocks the model returns, in order (backbone features, auxiliary classifiers)
    outputs: list[str] | None = Field(None, min_length=1)
