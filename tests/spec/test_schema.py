"""`archc schema`: a JSON Schema (draft 2020-12) that every zoo spec satisfies and that flags typical mistakes."""

from __future__ import annotations

import copy

import pytest

from archc.ops.registry import OPS
from archc.schema import spec_json_schema
from archc.spec.context import CONNECTIONS
from archc.spec.loader import load_file, load_text
from archc.zoo import zoo_names, zoo_path

jsonschema = pytest.importorskip("jsonschema")

SCHEMA = spec_json_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def problems(data) -> list[str]:
    return [f"{error.json_path}: {error.message}" for error in VALIDATOR.iter_errors(data)]


def test_the_schema_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_every_op_and_connection_is_described():
    for name in [*OPS, *CONNECTIONS]:
        assert f"item.{name}" in SCHEMA["$defs"]
    assert set(SCHEMA["properties"]["defaults"]["anyOf"][0]["properties"]) == set(OPS)


@pytest.mark.parametrize("name", zoo_names())
def test_zoo_specs_validate(name):
    assert problems(load_file(zoo_path(name))) == []


SPEC = load_text("""\
archc: 1
name: small
input: {shape: [3, 32, 32]}
params: {width: 16}
defaults: {conv: {bias: false}}
blocks:
  unit:
    params: {out: required}
    body: [{conv: {out: $out, kernel: 3}}, bn, relu]
network:
  - {name: stem, unit: {out: $width}}
  - {repeat: 2, as: i, name: "s${i}", body: [{residual: {body: [unit], shortcut: identity}}]}
  - {name: gate, se: {reduction: 4}}
  - {name: pool, maxpool: {kernel: 2, stride: "${1 + 1}"}}
  - {conv: {out: 8, kernel: [1, "$width"], padding: [0, "${width // 2}"]}}
  - {name: both, concat: {}, from: [pool, stem]}
""")


def test_a_good_spec_with_expressions_validates():
    assert problems(SPEC) == []


def edit(path: list, value=None, delete: str | None = None):
    data = copy.deepcopy(dict(SPEC))
    holder = data
    for part in path[:-1]:
        holder = holder[part]
    if delete:
        del holder[path[-1]][delete]
    else:
        holder[path[-1]] = value
    return data


def test_a_typo_in_an_op_argument_is_flagged():
    data = edit(["network", 3, "maxpool"], {"kernal": 2})
    found = problems(data)
    assert found and any("kernal" in text for text in found)
    best = jsonschema.exceptions.best_match(VALIDATOR.iter_errors(data))
    assert "kernal" in best.message


def test_other_mistakes_are_flagged():
    assert problems(edit(["netwrk"], []))  # unknown top-level key
    assert problems(edit(["network", 0, "nmae"], "x"))  # a misspelt item keyword
    assert problems(edit(["network", 3, "maxpool", "kernel"], -2))  # a negative kernel
    assert problems(edit(["network", 3, "maxpool", "kernel"], "large"))  # a word where a number belongs
    assert problems(edit(["network", 2, "se", "rounding"], "ceil"))  # not one of the choices
    assert problems(edit(["defaults", "conv"], {"bais": False}))
    assert problems(edit(["network", 1, "repeat"], 1.5))


def test_a_spec_that_extends_another_needs_only_its_changes():
    assert problems(load_text("archc: 1\nextends: resnet50\nname: se_resnet50\nparams: {attention: se}\n")) == []
    assert problems(load_text("archc: 1\nname: incomplete\n"))  # no extends: input and network are required


SWIN_V2 = load_text("""\
archc: 1
name: tiny_swin_v2
input: {shape: [3, 16, 16]}
blocks:
  paths:
    input: x
    body: [{name: a, linear: {out: 8}}, {name: b, add: {}, from: [a, x]}]
network:
  - {name: patch, conv: {out: 8, kernel: 4, stride: 4}}
  - to_tokens
  - {name: attn, window_attention: {heads: 2, window: 2, cosine: true, position_bias: mlp}}
  - {name: block, paths: {}}
  - {name: merge, patch_merging: {norm: after}}
""")


def test_the_swin_v2_options_and_the_template_input_are_described_and_checked():
    assert problems(SWIN_V2) == []
    defs = SCHEMA["$defs"]
    for model, field in [("WindowAttention", "cosine"), ("WindowAttention", "position_bias"), ("PatchMerging", "norm"),
                         ("BlockSpec", "input"), ("archc__connections__gate__Gate", "input")]:
        assert defs[model]["properties"][field]["description"], (model, field)
    mistakes = {"position_bias": "mpl", "cosine": "yes", "cosin": True}
    for key, value in mistakes.items():
        data = copy.deepcopy(dict(SWIN_V2))
        data["network"][2]["window_attention"][key] = value
        assert problems(data), key
    data = copy.deepcopy(dict(SWIN_V2))
    data["network"][4]["patch_merging"]["norm"] = "afterwards"
    assert problems(data)
    data["network"][4]["patch_merging"] = {"norm": "after"}
    data["blocks"]["paths"]["inputs"] = "x"
    assert problems(data) and any("inputs" in text for text in problems(data))
