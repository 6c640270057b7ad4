"""Pydantic models of the spec's top level. Items of ``network`` / ``body`` lists are validated during expansion,
once their ``${expressions}`` have values (each op and connection has its own model in its registry)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FORMAT_VERSION = 1
REQUIRED = "required"  # the marker for a template parameter without default


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputSpec(_Strict):
    """The network input, logical layout without batch: [C, H, W] or [features]."""

    shape: list[Any] = Field(min_length=1, max_length=3)
    name: str = "input"


class BlockSpec(_Strict):
    """A parameterised template: ``params`` (use the string ``required`` for no default) and a ``body``."""

    params: dict[str, Any] = Field(default_factory=dict)
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
