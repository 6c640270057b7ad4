"""Pydantic errors become plain-English, located diagnostics: one per mistake, with did-you-mean hints."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt

import archc
from archc import SpecError
from archc.spec.validation import describe


@pytest.mark.parametrize(("annotation", "text"), [
    (PositiveInt, "a positive integer"),
    (NonNegativeInt, "a non-negative integer"),
    (int, "an integer"),
    (PositiveFloat, "a positive number"),
    (bool, "true or false"),
    (str, "a string"),
    (Literal["auto", "always"], "one of 'auto', 'always'"),
    (PositiveInt | tuple[PositiveInt, PositiveInt], "a positive integer or a list of 2 positive integers"),
    (Literal["identity", "zero_pad"] | dict, "'identity', 'zero_pad' or a mapping"),
    (PositiveInt | None, "a positive integer"),
    (list[int], "a list of integers"),
])
def test_describe(annotation, text):
    assert describe(annotation) == text


def test_describe_field_constraints():
    info = Field(0.1, gt=0, lt=1)
    assert describe(float, list(info.metadata)) == "a number greater than 0 and less than 1"
    info = Field(1, ge=1, le=10)
    assert describe(int, list(info.metadata)) == "an integer from 1 to 10"


def messages(network: str) -> list[tuple[str, str, str | None]]:
    with pytest.raises(SpecError) as info:
        archc.build_graph(f"archc: 1\nname: t\ninput: {{shape: [4, 8, 8]}}\nnetwork:\n  - {network}\n")
    return [(d.path, d.message, d.hint) for d in info.value.diagnostics]


@pytest.mark.parametrize(("item", "expected"), [
    ("{conv: {out: -64, kernel: 3}}", [("network[0].conv.out", "expected a positive integer, got -64", None)]),
    ("{conv: {out: 8, kernel: [3, -1]}}", [("network[0].conv.kernel[1]", "expected a positive integer, got -1",
                                            None)]),
    ("{conv: {out: 8, kernel: 3, bias_init: zeroes}}",
     [("network[0].conv.bias_init", "expected 'torch_default', 'zeros', a number or a mapping, got 'zeroes'",
       "did you mean 'zeros'?")]),
    ("{conv: {out: 8, kernel: 3, init: kaiming}}",
     [("network[0].conv.init", "expected 'torch_default', 'kaiming_normal', 'kaiming_normal_fan_out', "
       "'kaiming_uniform', 'xavier_uniform', 'xavier_normal', 'zeros' or a mapping, got 'kaiming'",
       "did you mean 'kaiming_normal'?")]),
    ("{conv: {out: 8}}", [("network[0].conv", "missing required key 'kernel'", None)]),
    ("{conv: {out: 8, kernal: 3}}", [("network[0].conv", "unknown key 'kernal'", "did you mean 'kernel'?")]),
    ("{conv: {out: 6, kernel: 3, groups: 4}}", [("network[0].conv", "out (6) must be divisible by groups (4)", None)]),
    ("{dropout: {p: 1}}", [("network[0].dropout.p", "expected a number at least 0 and less than 1, got 1", None)]),
    ("{conv: {out: true, kernel: 3, bias: 2}}",  # issue 10: a boolean is no count
     [("network[0].conv.out", "expected an integer, not the boolean true", None),
      ("network[0].conv.bias", "expected true or false, got 2", None)]),
    ("{residual: {body: [relu], shortcut: {body: [relu], usee: auto}}}",
     [("network[0].residual.shortcut", "unknown key 'usee'", "did you mean 'use'?")]),
    ("{residual: {body: []}}", [("network[0].residual.body", "expected at least 1 item, got 0", None)]),
    ("{se: {reduction: 0}}", [("network[0].se.reduction", "expected a positive number, got 0", None)]),
])
def test_messages(item, expected):
    assert messages(item) == expected


def test_top_level_problems_and_network_problems_in_one_run():
    with pytest.raises(SpecError) as info:
        archc.build_graph("archc: 1\nname: 2nd\ndescripton: x\ninput: {shape: [4], nam: x}\n"
                          "network: [{linear: {out: 0}}]\n")
    assert [(d.path, d.message) for d in info.value.diagnostics] == [
        ("name", "'2nd' is not a valid name"),
        ("", "unknown key 'descripton'"),
        ("input", "unknown key 'nam'"),
        ("network[0].linear.out", "expected a positive integer, got 0"),
    ]
    assert info.value.diagnostics[1].hint == "did you mean 'description'?"


def test_a_missing_network_stops_at_the_top_level():
    with pytest.raises(SpecError) as info:
        archc.build_graph("archc: 1\nname: t\ninput: {shape: [4]}\n")
    assert [d.message for d in info.value.diagnostics] == ["missing required key 'network'"]


def test_unsupported_format_version():
    with pytest.raises(SpecError, match="unsupported format version archc: 2"):
        archc.parse("archc: 2\nname: t\ninput: {shape: [4]}\nnetwork: [relu]\n")
