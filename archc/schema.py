"""``archc schema``: a JSON Schema (draft 2020-12) of the spec format, for editors.

Built from the same pydantic models that validate specs — the top level (``archc.spec.model``), every registered op
and every registered connection — so an op added from Python appears in the schema too. Point VS Code's YAML
extension at it (``# yaml-language-server: $schema=archc.schema.json`` on a spec's first line) for completion and
checking as you type.

What a static schema cannot know: the names of a spec's own templates (``blocks:``), so an item with an unknown key
that is not a known op, connection or keyword is accepted as a template call (``archc validate`` checks it); and the
values of ``${...}`` expressions, accepted wherever a number, a boolean or a fixed word is expected.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic.json_schema import models_json_schema

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

#: a whole-string expression: ``${...}`` or ``$name``
EXPRESSION = {"type": "string", "pattern": r"^\$(\{[\s\S]*\}|[A-Za-z_][A-Za-z0-9_]*)$",
              "description": "an expression, e.g. ${planes * 4} or $planes"}
_EXPR_REF = {"$ref": "#/$defs/expression"}
_ITEMS_REF = {"$ref": "#/$defs/items"}
_RESERVED = ("name", "when", "from", "repeat", "as", "body")


def _allow_expressions(node: Any) -> Any:
    """Where a schema expects a number, a boolean or a fixed word, accept an expression string as well."""
    if isinstance(node, list):
        return [_allow_expressions(item) for item in node]
    if not isinstance(node, dict) or "$ref" in node:
        return node
    node = {key: _allow_expressions(value) if key in ("items", "prefixItems", "additionalProperties") else value
            for key, value in node.items()}
    if "properties" in node:
        node["properties"] = {key: _allow_expressions(value) for key, value in node["properties"].items()}
    if "anyOf" in node:
        members = [_allow_expressions(member) for member in node["anyOf"]]
        scalar = any(_is_scalar(member) or member.get("anyOf") for member in node["anyOf"])
        node["anyOf"] = [m for member in members for m in (member["anyOf"] if set(member) == {"anyOf"} else [member])
                         if m != _EXPR_REF] + ([_EXPR_REF] if scalar else [])
        return node
    if _is_scalar(node):
        annotations = {key: node.pop(key) for key in ("title", "default", "description") if key in node}
        return {"anyOf": [node, _EXPR_REF], **annotations}
    return node


def _is_scalar(node: dict[str, Any]) -> bool:
    return node.get("type") in ("integer", "number", "boolean") or "enum" in node or "const" in node


def _lists_of_items(definition: dict[str, Any]) -> dict[str, Any]:
    """A connection's ``body`` / ``after`` hold spec items: point them at the item schema."""
    properties = definition.get("properties", {})
    if "body" in properties:
        properties["body"] = {**_ITEMS_REF, "description": "items, in order"}
    if "after" in properties:
        properties["after"] = {"anyOf": [_ITEMS_REF, {"type": "string"}, {"type": "null"}],
                               "description": "items applied to the sum"}
    return definition


def _op_item(key: str, ref: str, summary: str) -> dict[str, Any]:
    return {"type": "object", "description": summary,
            "properties": {"name": {"$ref": "#/$defs/name"}, "when": {"$ref": "#/$defs/when"},
                           "from": {"$ref": "#/$defs/from"},
                           key: {"anyOf": [{"$ref": ref}, {"type": "null"}], "description": summary}},
            "required": [key], "additionalProperties": False}


def _item_defs(ops: dict[str, Any], connections: dict[str, Any], refs: dict[str, str]) -> dict[str, Any]:
    kinds = [*ops, *connections]
    alternatives: list[dict[str, Any]] = [
        {"type": "string", "description": "an op or template name without arguments (relu, flatten, ...)",
         "examples": sorted(ops)},
    ]
    for name in [*ops, *connections]:
        alternatives.append({"$ref": f"#/$defs/item.{name}"})
    alternatives.append({"$ref": "#/$defs/item.body"})
    alternatives.append({"$ref": "#/$defs/item.template"})
    defs: dict[str, Any] = {
        "expression": EXPRESSION,
        "name": {"anyOf": [{"type": "string"}, {"type": "integer"}],
                 "description": "the node's name (opens a namespace on bodies, blocks and connections); "
                                "may hold ${...}"},
        "when": {"anyOf": [{"type": "boolean"}, _EXPR_REF], "description": "keep the item only where true"},
        "from": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}],
                 "description": "the input(s): names of earlier nodes or blocks (default: the previous item)"},
        "items": {"type": "array", "items": {"$ref": "#/$defs/item"}},
        "item": {"anyOf": alternatives},
        "item.body": {
            "type": "object", "description": "a group of items, optionally repeated",
            "properties": {"name": {"$ref": "#/$defs/name"}, "when": {"$ref": "#/$defs/when"},
                           "from": {"$ref": "#/$defs/from"},
                           "repeat": {"anyOf": [{"type": "integer", "minimum": 0}, _EXPR_REF],
                                      "description": "how many times; iterations are named 0, 1, ... unless name: "
                                                     "says otherwise"},
                           "as": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$",
                                  "description": "the loop variable"},
                           "body": {"anyOf": [_ITEMS_REF, {"$ref": "#/$defs/item"}]}},
            "required": ["body"], "additionalProperties": False},
        "item.template": {
            "type": "object", "description": "a use of a template from blocks:, with its arguments",
            "properties": {"name": {"$ref": "#/$defs/name"}, "when": {"$ref": "#/$defs/when"},
                           "from": {"$ref": "#/$defs/from"}},
            "propertyNames": {"not": {"enum": [*kinds, "repeat", "as", "body"]}},
            "additionalProperties": {"anyOf": [{"type": "object"}, {"type": "null"}]},
            "minProperties": 1},
    }
    for name, cls in {**ops, **connections}.items():
        summary = getattr(cls, "summary", "") or (cls.__doc__ or "").strip().split("\n")[0]
        defs[f"item.{name}"] = _op_item(name, refs[name], summary)
    return defs


def _top_level(defs: dict[str, Any], ops: dict[str, Any], refs: dict[str, str]) -> dict[str, Any]:
    spec = copy.deepcopy(defs["SpecModel"])
    properties = spec["properties"]
    properties["network"] = {**_ITEMS_REF, "minItems": 1, "description": "the network, item by item"}
    properties["params"] = {"type": "object", "description": "parameters the expressions read; --set overrides them"}
    properties["defaults"] = {
        "type": "object", "description": "default arguments per op, e.g. conv: {init: kaiming_normal}",
        "properties": {name: {"type": "object",
                              "properties": copy.deepcopy(defs[refs[name].split("/")[-1]].get("properties", {})),
                              "additionalProperties": False} for name in ops},
        "additionalProperties": False}
    one = {"type": "string"}
    properties["extends"] = {"anyOf": [one, {"type": "array", "items": one, "minItems": 1}],
                             "description": "a zoo spec name or a path relative to this file, or a list of them "
                                            "(merged in order, each over the ones before)"}
    block = defs["BlockSpec"]
    block["properties"]["body"] = {**_ITEMS_REF, "minItems": 1}
    block["properties"]["params"] = {"type": "object",
                                     "description": "parameters with defaults; the word required for none"}
    # a spec that extends another may leave out anything its base has, and null deletes an inherited key
    spec["required"] = ["archc"]
    spec["if"] = {"not": {"required": ["extends"]}}
    spec["then"] = {"required": ["archc", "name", "input", "network"]}
    for key in ("description", "params", "defaults", "blocks"):
        properties[key] = {"anyOf": [properties[key], {"type": "null"}]}
    spec["properties"] = properties
    return spec


def spec_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of archc specs: top level, items, every registered op and connection."""
    from archc.ops.registry import OPS, load_builtin_ops
    from archc.spec.context import CONNECTIONS
    from archc.spec.model import SpecModel

    load_builtin_ops()
    ops, connections = dict(sorted(OPS.items())), dict(sorted(CONNECTIONS.items()))
    models = [SpecModel, *ops.values(), *connections.values()]
    keys, generated = models_json_schema([(model, "validation") for model in models],
                                         ref_template="#/$defs/{model}")
    defs: dict[str, Any] = generated.get("$defs", {})
    refs = {name: keys[(cls, "validation")]["$ref"] for name, cls in {**ops, **connections}.items()}
    top_level_models = {"SpecModel", "InputSpec", "BlockSpec"}
    for def_name in list(defs):
        if def_name not in top_level_models:
            defs[def_name] = _lists_of_items(_allow_expressions(defs[def_name]))
    for name, cls in ops.items():
        definition = defs[refs[name].split("/")[-1]]
        definition["description"] = cls.summary or definition.get("description", "")
    top = _top_level(defs, ops, refs)
    del defs["SpecModel"]
    defs.update(_item_defs(ops, connections, refs))
    return {"$schema": SCHEMA_DIALECT, "$id": "urn:archc:spec:1", "title": "archc spec",
            "description": "A neural-network architecture for archc; the format is described in docs/spec-format.md",
            **{key: value for key, value in top.items() if key not in ("title",)}, "$defs": defs}
