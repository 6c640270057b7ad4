"""Expansion: templates, repeat / as / name, when, from: wiring, namespaces, auto names, connections, limits."""

from __future__ import annotations

import textwrap

import pytest

import archc
from archc import SpecError
from archc.spec import expand


def spec_text(network: str, blocks: str = "", params: str = "{}", shape: str = "[4, 8, 8]") -> str:
    text = f"archc: 1\nname: t\ninput: {{shape: {shape}}}\nparams: {params}\n"
    if blocks:
        text += "blocks:\n" + textwrap.indent(textwrap.dedent(blocks), "  ")
    return text + "network:\n" + textwrap.indent(textwrap.dedent(network), "  ")


def build(network: str, blocks: str = "", params: str = "{}", shape: str = "[4, 8, 8]") -> archc.Graph:
    return archc.build_graph(spec_text(network, blocks, params, shape))


def errors(network: str, blocks: str = "", params: str = "{}", shape: str = "[4, 8, 8]") -> list:
    with pytest.raises(SpecError) as info:
        build(network, blocks, params, shape)
    return info.value.diagnostics


def spec_error(text: str) -> str:
    """The located errors a whole spec's text gives, parsing and building it."""
    with pytest.raises(SpecError) as caught:
        archc.build_graph(archc.parse(text))
    return str(caught.value)


def nodes(graph: archc.Graph) -> list[tuple[str, str]]:
    return [(name, data["op"]) for name, data in graph.op_nodes()]


# ---- templates ----------------------------------------------------------------------------------------------------

UNIT = """\
unit:
  params: {out: required, kernel: 3, act: relu}
  body:
    - {name: conv, conv: {out: $out, kernel: $kernel}}
    - {name: act, $act: {}}
"""


def test_template_with_required_and_default_params():
    graph = build("- {name: a, unit: {out: 8}}\n- {name: b, unit: {out: 6, kernel: 1, act: sigmoid}}\n", UNIT)
    assert nodes(graph) == [("a.conv", "conv"), ("a.act", "relu"), ("b.conv", "conv"), ("b.act", "sigmoid")]
    assert graph.nodes["a.conv"]["attrs"].kernel == 3 and graph.nodes["b.conv"]["attrs"].kernel == 1
    assert graph.nodes["b.conv"]["shape"] == (6, 8, 8)


def test_template_missing_required_param():
    (diagnostic,) = errors("- {name: a, unit: {kernel: 1}}\n", UNIT)
    assert diagnostic.message == "block 'unit' needs parameter 'out'"
    assert diagnostic.hint == "pass it: unit: {out: ...}"


def test_template_unknown_param_is_reported_once_with_its_fix():
    (diagnostic,) = errors("- {name: a, unit: {ot: 8}}\n", UNIT)
    assert diagnostic.message == "block 'unit' has no parameter 'ot'"
    assert diagnostic.hint == "did you mean 'out'?"
    assert (diagnostic.position.line, diagnostic.position.col) == (12, 22)


def test_template_defaults_may_use_earlier_params_and_in_channels():
    blocks = """\
    grow:
      params: {factor: 2, out: "${in_channels * factor}"}
      body: [{conv: {out: $out, kernel: 1}}]
    """
    assert build("- grow\n- {grow: {factor: 3}}\n", blocks).nodes["conv_1"]["shape"] == (24, 8, 8)


def test_templates_are_hygienic():
    blocks = """\
    leak:
      body: [{conv: {out: "${i + 1}", kernel: 1}}]
    """
    (diagnostic,) = errors("- {repeat: 2, as: i, body: [leak]}\n", blocks)
    assert diagnostic.message == "unknown name 'i'"
    assert diagnostic.notes and "in block 'leak'" in diagnostic.notes[0].message


def test_errors_inside_templates_name_the_use():
    text = spec_text("- {name: first, unit: {out: 8}}\n- {name: second, unit: {out: -1}}\n", UNIT)
    with pytest.raises(SpecError) as info:
        archc.build_graph(text)
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.message == "expected a positive integer, got -1"
    assert diagnostic.position.line == 9 and diagnostic.path == "blocks.unit.body[0].conv.out"
    (note,) = diagnostic.notes
    assert note.severity == "note" and note.message == "in block 'unit' (second), used here"
    assert note.position.line == 13
    assert "note: in block 'unit' (second), used here" in info.value.format()


def test_template_recursion():
    blocks = """\
    a: {body: [relu, b]}
    b: {body: [a]}
    """
    (diagnostic,) = errors("- a\n", blocks)
    assert diagnostic.message == "block 'a' uses itself (a -> b -> a)"


def test_block_named_like_an_op():
    (diagnostic,) = errors("- relu\n", "conv: {body: [relu]}\n")
    assert "has the name of a built-in op" in diagnostic.message


# ---- repeat / as / name / when ------------------------------------------------------------------------------------

def test_repeat_names_iterations_by_index():
    graph = build("- name: stage\n  body:\n    - repeat: 2\n      body: [relu, {name: c, conv: {out: 4, kernel: 1}}]\n")
    assert nodes(graph) == [("stage.0.relu", "relu"), ("stage.0.c", "conv"), ("stage.1.relu", "relu"),
                            ("stage.1.c", "conv")]


def test_repeat_as_and_name_expression():
    graph = build("- repeat: 3\n  as: i\n  name: layer${i + 1}\n"
                  "  body: [{name: c, conv: {out: '${4 * (i + 1)}', kernel: 1}}]\n")
    assert [name for name, _ in graph.op_nodes()] == ["layer1.c", "layer2.c", "layer3.c"]
    assert graph.nodes["layer3.c"]["shape"] == (12, 8, 8)


def test_repeat_empty_name_adds_no_level():
    graph = build("- repeat: 2\n  as: i\n  name: ''\n  body: [{name: 'c${i}', conv: {out: 4, kernel: 1}}]\n")
    assert [name for name, _ in graph.op_nodes()] == ["c0", "c1"]


def test_empty_name_on_a_body_adds_no_level():
    graph = build("- {name: '', body: [{name: c, relu: {}}]}\n")
    assert [name for name, _ in graph.op_nodes()] == ["c"]


def test_a_repeat_name_names_each_iteration():
    (diagnostic,) = errors("- {name: stage, repeat: 2, body: [relu]}\n")
    assert diagnostic.message == "every iteration of this repeat is named 'stage'"
    assert "as: i, name: stage${i}" in diagnostic.hint


def test_op_keys_may_be_expressions():
    graph = build("- {name: act, $act: {}}\n- {'${act}': {}}\n", params="{act: gelu}")
    assert nodes(graph) == [("act", "gelu"), ("gelu", "gelu")]


def test_repeat_zero_and_bad_counts():
    assert nodes(build("- {repeat: 0, body: [relu]}\n- sigmoid\n")) == [("sigmoid", "sigmoid")]
    (diagnostic,) = errors("- {repeat: 2.5, body: [relu]}\n")
    assert diagnostic.message == "expected a count (an integer >= 0), got 2.5" and diagnostic.path.endswith("repeat")
    (diagnostic,) = errors("- {repeat: '${-1}', body: [relu]}\n")
    assert "got -1" in diagnostic.message


def test_repeat_limit(monkeypatch):
    monkeypatch.setattr(expand, "MAX_REPEAT", 10)
    (diagnostic,) = errors("- {repeat: 11, body: [relu]}\n")
    assert "more than the limit 10" in diagnostic.message


def test_when():
    graph = build("- {when: '${flag}', relu: {}}\n- {when: '${not flag}', sigmoid: {}}\n- {when: true, tanh: {}}\n",
                  params="{flag: false}")
    assert nodes(graph) == [("sigmoid", "sigmoid"), ("tanh", "tanh")]
    (diagnostic,) = errors("- {when: 1, relu: {}}\n")
    assert diagnostic.message == "expected true or false, got 1" and diagnostic.path == "network[0].when"


# ---- from: wiring -------------------------------------------------------------------------------------------------

def test_from_branches_and_merges():
    graph = build("""\
        - {name: stem, conv: {out: 8, kernel: 3}}
        - {name: left, conv: {out: 8, kernel: 1}}
        - {name: right, conv: {out: 4, kernel: 3}, from: stem}
        - {name: cat, concat: {}, from: [left, right]}
        - {name: sum, add: {}, from: [stem, left]}
        - {name: twice, mul: {}, from: [sum, sum]}
        """)
    assert graph.nodes["right"]["inputs"] == ["stem"]
    assert graph.nodes["cat"]["inputs"] == ["left", "right"] and graph.nodes["cat"]["shape"] == (12, 8, 8)
    assert graph.nodes["sum"]["shape"] == (8, 8, 8)
    assert graph.nodes["twice"]["inputs"] == ["sum", "sum"]
    assert graph.edges["left", "cat"]["port"] == 0 and graph.edges["right", "cat"]["port"] == 1


def test_from_names_blocks_and_the_input():
    graph = build("""\
        - name: branch
          body: [{name: c, conv: {out: 4, kernel: 1}}, relu]
        - {name: skip, identity: {}, from: input}
        - {name: merged, add: {}, from: [branch, skip]}
        """)
    assert graph.nodes["merged"]["inputs"] == ["branch.relu", "skip"]


def test_from_resolves_the_current_namespace_first():
    graph = build("""\
        - {name: x, conv: {out: 4, kernel: 1}}
        - name: inner
          body:
            - {name: x, conv: {out: 6, kernel: 1}}
            - {name: y, relu: {}, from: x}
        """)
    assert graph.nodes["inner.y"]["inputs"] == ["inner.x"]


def test_from_errors():
    first, second = errors("""\
        - {name: a, conv: {out: 4, kernel: 1}}
        - {name: b, concat: {}, from: [a, nope]}
        - {name: c, relu: {}, from: [a, a]}
        """)
    assert first.message == "unknown node 'nope'" and first.path == "network[1].from"
    assert (first.position.line, first.position.col) == (7, 37)
    assert second.message == "relu takes 1 input, got 2"
    (diagnostic,) = errors("- {concat: {}}\n")
    assert diagnostic.message == "concat takes two or more inputs, got 1"


# ---- names and namespaces -----------------------------------------------------------------------------------------

def test_only_name_opens_a_namespace():
    graph = build("""\
        - name: block
          body:
            - residual:
                body: [{name: conv, conv: {out: 4, kernel: 3}}]
            - se: {reduction: 2, divisor: 1}
        - residual: {body: [{name: conv2, conv: {out: 4, kernel: 3}}]}
        """)
    names = [name for name, _ in graph.op_nodes()]
    assert names[:2] == ["block.conv", "block.add"]
    assert "block.fc1" in names and "block.fc2" in names  # SE adds no level of its own
    assert "conv2" in names  # a residual at the top level adds none either


def test_auto_names_are_deterministic_and_unique():
    text = spec_text("- relu\n- relu\n- {name: b, body: [relu, relu]}\n- relu\n")
    first, second = archc.build_graph(text), archc.build_graph(text)
    names = [name for name, _ in first.op_nodes()]
    assert names == ["relu", "relu_1", "b.relu", "b.relu_1", "relu_2"]
    assert names == [name for name, _ in second.op_nodes()]
    assert all(data["auto_name"] for _, data in first.op_nodes())


def test_duplicate_names():
    (diagnostic,) = errors("- {name: a, relu: {}}\n- {name: a, sigmoid: {}}\n")
    assert diagnostic.message == "the name 'a' is used twice (first used at <string>:6:15)"
    (diagnostic,) = errors("- relu\n- {name: relu, relu: {}}\n")
    assert "taken by an earlier unnamed relu" in diagnostic.message


def test_invalid_names():
    (diagnostic,) = errors("- {name: 'a b', relu: {}}\n")
    assert diagnostic.message == "invalid name 'a b'"
    (diagnostic,) = errors("- {name: '', relu: {}}\n")
    assert diagnostic.message == "invalid name ''"


def test_item_key_typos():
    (diagnostic,) = errors("- {name: a, relu: {}, form: x}\n")
    assert diagnostic.message == "unknown key 'form'" and diagnostic.hint == "did you mean 'from'?"
    (diagnostic,) = errors("- {repet: 2, body: [relu]}\n")
    assert diagnostic.message == "unknown key 'repet'" and diagnostic.hint == "did you mean 'repeat'?"
    (diagnostic,) = errors("- {rleu: {}}\n")
    assert diagnostic.message == "unknown op, connection or block 'rleu'" and diagnostic.hint == "did you mean 'relu'?"


# ---- connections --------------------------------------------------------------------------------------------------

def test_residual_identity():
    graph = build("- residual: {body: [{conv: {out: 4, kernel: 3}}], after: relu}\n")
    assert nodes(graph) == [("conv", "conv"), ("add", "add"), ("relu", "relu")]
    assert graph.nodes["add"]["inputs"] == ["conv", "input"]


def test_residual_identity_with_a_changed_shape_is_an_error():
    (diagnostic,) = errors("- residual:\n    body: [{conv: {out: 8, kernel: 3, stride: 2}}]\n")
    assert diagnostic.message == ("cannot add [8, 4, 4] to [4, 8, 8]: the shortcut is identity but the body changes "
                                  "the shape")
    assert "projection shortcut" in diagnostic.hint
    assert (diagnostic.position.line, diagnostic.position.col) == (6, 5)


def test_residual_zero_pad():
    graph = build("- residual: {body: [{conv: {out: 8, kernel: 3, stride: 2}}], shortcut: zero_pad}\n")
    pad = graph.nodes["shortcut"]
    assert pad["op"] == "channel_pad" and pad["shape"] == (8, 4, 4) and pad["attrs"].stride == (2, 2)
    assert pad["attrs"].pad_before_after(4) == (2, 2) and pad["params"] == 0


PROJECTED = """\
- name: blocks
  body:
    - repeat: 2
      as: i
      body:
        - residual:
            body: [{name: conv, conv: {out: 8, kernel: 3, stride: "${2 if i == 0 else 1}"}}]
            shortcut:
              name: downsample
              use: USE
              body: [{name: "0", conv: {out: 8, kernel: 1, stride: "${2 if i == 0 else 1}"}}, {name: "1", bn: {}}]
"""


def test_residual_projection_auto_only_where_the_shape_changes():
    graph = build(PROJECTED.replace("USE", "auto"))
    names = [name for name, _ in graph.op_nodes()]
    assert "blocks.0.downsample.0" in names and "blocks.1.downsample.0" not in names
    assert graph.nodes["blocks.1.add"]["inputs"] == ["blocks.1.conv", "blocks.0.add"]


def test_residual_projection_always():
    names = [name for name, _ in build(PROJECTED.replace("USE", "always")).op_nodes()]
    assert "blocks.0.downsample.1" in names and "blocks.1.downsample.1" in names


def test_dense_block():
    graph = build("""\
        - name: block
          dense:
            repeat: 3
            as: l
            name: layer${l + 1}
            body: [{name: conv, conv: {out: 2, kernel: 3}}]
        """)
    assert graph.nodes["block.layer1.conv"]["inputs"] == ["input"]
    assert graph.nodes["block.layer2.conv"]["inputs"] == ["block.layer2.concat"]
    assert graph.nodes["block.layer2.concat"]["inputs"] == ["input", "block.layer1.conv"]
    assert graph.nodes["block.layer3.concat"]["shape"] == (8, 8, 8)
    assert graph.nodes[graph.output_node]["shape"] == (10, 8, 8)


def test_highway_fully_connected():
    graph = build("- highway: {body: [{linear: {out: 6}}, relu], gate: {bias: -2}}\n", shape="[6]")
    assert nodes(graph) == [("linear", "linear"), ("relu", "relu"), ("gate", "linear"), ("sigmoid", "sigmoid"),
                            ("sub", "sub"), ("mul", "mul"), ("add", "add")]
    assert graph.nodes["gate"]["attrs"].bias_init == -2
    assert graph.nodes["sub"]["inputs"] == ["relu", "input"] and graph.nodes["add"]["inputs"] == ["input", "mul"]


def test_highway_conv_with_projection():
    graph = build("- highway: {body: [{conv: {out: 8, kernel: 3}}]}\n")
    assert graph.nodes["proj"]["op"] == "conv" and graph.nodes["proj"]["attrs"].kernel == 1
    assert graph.nodes["proj"]["params"] == 4 * 8
    assert graph.nodes["gate"]["attrs"].kernel == 3 and graph.nodes["gate"]["attrs"].bias_init == -1
    assert graph.nodes["add"]["shape"] == (8, 8, 8)


def test_highway_body_must_keep_height_and_width():
    (diagnostic,) = errors("- highway: {body: [{conv: {out: 4, kernel: 3, stride: 2}}]}\n")
    assert "changes height/width" in diagnostic.message


@pytest.mark.parametrize(("channels", "reduction", "divisor", "rounding", "hidden"), [
    (64, 16, 8, "divisible", 8),  # 4 rounds up to the divisor
    (256, 16, 8, "divisible", 16),
    (96, 16, 8, "divisible", 8),  # 6 -> 8
    (100, 16, 8, "divisible", 8),  # 6.25 -> 8
    (2048, 16, 8, "divisible", 128),
    (100, 16, 8, "floor", 6),
    (10, 16, 8, "floor", 1),
])
def test_se_rounding(channels, reduction, divisor, rounding, hidden):
    graph = build(f"- se: {{reduction: {reduction}, divisor: {divisor}, rounding: {rounding}}}\n",
                  shape=f"[{channels}, 4, 4]")
    assert graph.nodes["fc1"]["shape"] == (hidden, 1, 1)
    assert graph.nodes["fc1"]["params"] == channels * hidden + hidden
    assert graph.nodes["mul"]["shape"] == (channels, 4, 4)


def test_se_explicit_channels():
    assert build("- se: {channels: 3}\n").nodes["fc1"]["shape"] == (3, 1, 1)


# ---- expressions and in_channels ----------------------------------------------------------------------------------

def test_in_channels_and_in_shape():
    graph = build("- {conv: {out: '${in_channels * 2}', kernel: 1}}\n- {conv: {out: '${in_shape[1]}', kernel: 1}}\n")
    assert graph.nodes["conv"]["shape"] == (8, 8, 8) and graph.nodes["conv_1"]["shape"] == (8, 8, 8)


def test_expression_error_caret_points_into_the_expression():
    (diagnostic,) = errors("- {conv: {out: '${4 // zero}', kernel: 1}}\n")
    assert diagnostic.message == "unknown name 'zero'"
    line = diagnostic.position.line_text
    assert line[diagnostic.position.col - 1:].startswith("zero")


def test_no_cascade_after_an_error():
    (diagnostic,) = errors("- {conv: {out: -1, kernel: 1}}\n- {conv: {out: '${in_channels}', kernel: 1}}\n- relu\n")
    assert diagnostic.path == "network[0].conv.out"


def test_all_independent_problems_are_reported():
    diagnostics = errors("- {conv: {out: -1, kernel: 1}}\n- {name: x, relu: {}, from: nope}\n- {bn: {eps: 0}}\n")
    assert [d.path for d in diagnostics] == ["network[0].conv.out", "network[1].from", "network[2].bn.eps"]


def test_the_same_error_from_many_uses_is_reported_once():
    (diagnostic,) = errors("- {repeat: 5, body: [{conv: {out: -1, kernel: 1}}]}\n")
    assert diagnostic.notes[-1].message == "the same error occurs 4 more times (other uses of this line)"


# ---- limits --------------------------------------------------------------------------------------------------------

def test_node_limit(monkeypatch):
    monkeypatch.setattr(expand, "MAX_NODES", 50)
    (diagnostic,) = errors("- {repeat: 100, body: [relu]}\n")
    assert diagnostic.message == "the network expands to more than 50 nodes"


def test_step_limit_catches_loops_that_add_nothing(monkeypatch):
    monkeypatch.setattr(expand, "MAX_STEPS", 1000)
    (diagnostic,) = errors("- {repeat: 100, body: [{repeat: 100, body: [{when: false, relu: {}}]}]}\n")
    assert "expansion steps" in diagnostic.message


def test_edge_limit(monkeypatch):
    monkeypatch.setattr(expand, "MAX_EDGES", 100)
    (diagnostic,) = errors("- dense: {repeat: 30, body: [{conv: {out: 1, kernel: 1}}]}\n")
    assert "connections" in diagnostic.message


def test_nesting_limit(monkeypatch):
    monkeypatch.setattr(expand, "MAX_NESTING", 5)
    network = "- " + "{body: [" * 8 + "relu" + "]}" * 8 + "\n"
    (diagnostic,) = errors(network)
    assert "nest deeper than 5" in diagnostic.message


def test_expression_size_limit_is_a_located_error():
    long_expression = "${" + " + ".join(["1"] * 1500) + "}"
    (diagnostic,) = errors(f"- {{conv: {{out: '{long_expression}', kernel: 1}}}}\n")
    assert "too long" in diagnostic.message and diagnostic.position.line == 6


def test_every_unknown_from_name_is_reported_and_failed_names_do_not_cascade():
    diagnostics = errors("""\
        - {name: broken, conv: {out: '${nope}', kernel: 1}}
        - {name: cat, concat: {}, from: [broken, missing1, missing2]}
        """)
    assert [d.message for d in diagnostics] == ["unknown name 'nope'", "unknown node 'missing1'",
                                                "unknown node 'missing2'"]


def test_in_channels_follow_from():
    graph = build("- {name: a, conv: {out: 6, kernel: 1}}\n- {name: b, conv: {out: 2, kernel: 1}}\n"
                  "- {name: c, conv: {out: '${in_channels * 10}', kernel: 1}, from: a}\n")
    assert graph.nodes["c"]["shape"] == (60, 8, 8)


TEMPLATE_INPUT = """\
archc: 1
name: branches
input: {shape: [16, 14, 14]}
blocks:
  two_paths:
    input: x
    params: {out: required}
    body:
      - {name: branch1, conv: {out: $out, kernel: 1}}
      - {name: branch2, conv: {out: $out, kernel: 3, padding: 1}, from: x}
      - {name: cat, concat: {}, from: [branch1, branch2]}
network:
  - {name: mixed1, two_paths: {out: 8}}
  - {name: mixed2, two_paths: {out: 12}}
  - {two_paths: {out: 4}}
"""


def test_template_input_names_each_use_of_its_input():
    graph = archc.build_graph(archc.parse(TEMPLATE_INPUT))
    inputs = {name: graph.nodes[name]["inputs"] for name in ("mixed1.branch2", "mixed2.branch2", "branch2")}
    assert inputs == {"mixed1.branch2": ["input"], "mixed2.branch2": ["mixed1.cat"], "branch2": ["mixed2.cat"]}
    # x is an alias, not a node: the names are those of the template's items only
    assert not [name for name in graph.nodes if name.split(".")[-1] == "x"]
    assert graph.nodes["mixed2.branch2"]["params"] == 16 * 12 * 9 + 12


def test_template_input_is_a_checked_name():
    assert "blocks.two_paths.input: '3x' is not a valid name" in spec_error(TEMPLATE_INPUT.replace("input: x",
                                                                                                  "input: 3x"))
    assert "blocks.two_paths.body[1].from: unknown node 'y'" in spec_error(TEMPLATE_INPUT.replace("from: x}",
                                                                                                 "from: y}"))


def test_template_input_name_is_seen_only_inside_its_body():
    # unnamed uses put their nodes in the enclosing namespace, but not their input name: after the use, from: x is
    # unknown (it used to read the last use's input), and an inner template's x shadows the outer one only inside
    spec = """\
archc: 1
name: nested_inputs
input: {shape: [4, 8, 8]}
blocks:
  inner:
    input: x
    body:
      - {name: a, conv: {out: 4, kernel: 1}}
      - {name: inner_sum, add: {}, from: [a, x]}
  outer:
    input: x
    body:
      - {name: pre, conv: {out: 4, kernel: 1}}
      - {inner: {}}
      - {name: outer_sum, add: {}, from: [inner_sum, x]}
network:
  - {name: stem, conv: {out: 4, kernel: 1}}
  - {name: blk, outer: {}}
"""
    graph = archc.build_graph(archc.parse(spec))
    assert graph.nodes["blk.inner_sum"]["inputs"] == ["blk.a", "blk.pre"]
    assert graph.nodes["blk.outer_sum"]["inputs"] == ["blk.inner_sum", "stem"]
    head = "  - {name: head, conv: {out: 4, kernel: 1}, from: blk.x}\n"
    assert "network[2].from: unknown node 'blk.x'" in spec_error(spec + head)


def test_gate_input_name_is_seen_only_inside_its_body():
    spec = """\
archc: 1
name: gate_input
input: {shape: [4, 8, 8]}
network:
  - {name: stem, conv: {out: 4, kernel: 1}}
  - gate:
      input: x
      body:
        - {name: mean, channel_mean: {}, from: x}
        - {name: sigmoid, sigmoid: {}}
  - {name: head, conv: {out: 4, kernel: 1}, from: x}
"""
    message = spec_error(spec)
    assert message.count("error:") == 1
    assert ("11:51: error: network[2].from: unknown node 'x' (hint: 'x' is the input name of the gate at line 6, "
            "which from: sees only inside its body)") in message
    graph = archc.build_graph(archc.parse(spec.replace("from: x}\n", "from: stem}\n")))
    assert graph.nodes["mean"]["inputs"] == ["stem"]
