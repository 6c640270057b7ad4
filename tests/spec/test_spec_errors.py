"""Spec mistakes that used to be accepted, misreported or reported many times: defaults:, from:, params holding
expressions, merges of different ranks, child params that are typos of a base parameter, internal type names."""

from __future__ import annotations

import pytest

import archc
from archc import SpecError


def diagnostics(text: str) -> list:
    with pytest.raises(SpecError) as info:
        archc.build_graph(text)
    return info.value.diagnostics


def spec(network: str, extra: str = "", shape: str = "[3, 8, 8]") -> str:
    return f"archc: 1\nname: t\ninput: {{shape: {shape}}}\n{extra}network:\n{network}"


# ---- defaults: -----------------------------------------------------------------------------------------------------

THREE_CONVS = "  - {conv: {out: 8}}\n  - {conv: {out: 8}}\n  - {conv: {out: 8, kernel: 1}}\n"


def test_a_misspelt_op_under_defaults_is_one_error_at_its_line():
    (error,) = diagnostics(spec(THREE_CONVS, "defaults:\n  conv: {kernel: 3}\n  bnn: {eps: 0.001}\n"))
    assert (error.message, error.hint) == ("unknown op 'bnn'", "did you mean 'bn'?")
    assert (error.position.line, error.position.col, error.path) == (6, 3, "defaults.bnn")


def test_a_misspelt_argument_under_defaults_is_one_error_at_the_typo_not_one_per_node():
    (error,) = diagnostics(spec(THREE_CONVS, "defaults:\n  conv: {kernal: 3}\n"))
    assert (error.message, error.hint) == ("unknown key 'kernal'", "did you mean 'kernel'?")
    assert (error.position.line, error.position.col, error.path) == (5, 10, "defaults.conv")


def test_a_wrong_value_under_defaults_is_reported_once_where_it_is_written():
    (error,) = diagnostics(spec(THREE_CONVS, "defaults:\n  conv: {kernel: 0, bias: '${in_channels > 1}'}\n"))
    assert error.path == "defaults.conv.kernel" and error.position.line == 5
    assert error.message.startswith("expected a positive integer")


def test_valid_defaults_still_apply():
    graph = archc.build_graph(spec(THREE_CONVS, "defaults:\n  conv: {kernel: 3, bias: false}\n"))
    kernels = [data["attrs"].kernel_hw for _, data in graph.op_nodes()]
    assert kernels == [(3, 3), (3, 3), (1, 1)] and graph.num_params == 3 * 8 * 9 + 8 * 8 * 9 + 8 * 8


# ---- from: ----------------------------------------------------------------------------------------------------------

def test_from_a_name_defined_later_says_so_and_where():
    (error,) = diagnostics(spec("  - {name: a, conv: {out: 8, kernel: 1}}\n"
                                "  - {name: sum, add: {}, from: [a, b]}\n"
                                "  - {name: b, conv: {out: 8, kernel: 1}, from: a}\n"))
    assert error.message == "'b' is defined later, at line 7"
    assert error.hint == "from: reads nodes defined earlier in the network; move this item after it"
    assert (error.position.line, error.position.col) == (6, 36)


@pytest.mark.parametrize("value, what", [("[a, {x: 1}]", "a mapping"), ("[a, [a]]", "a nested list"),
                                          ("2.5", "the number 2.5"), ("true", "true")])
def test_from_with_a_value_that_is_no_name_says_what_from_takes(value, what):
    (error,) = diagnostics(spec(f"  - {{name: a, conv: {{out: 8, kernel: 1}}}}\n  - {{add: {{}}, from: {value}}}\n"))
    assert error.message == f"expected a node name or a list of node names, got {what}"


def test_from_a_number_that_names_no_node():
    (error,) = diagnostics(spec("  - {name: a, conv: {out: 8, kernel: 1}}\n  - {relu: {}, from: 3}\n"))
    assert error.message == "no node is named '3'"


def test_a_number_that_names_an_iteration_is_a_name():
    graph = archc.build_graph(spec("  - {name: s, body: [{repeat: 2, body: [relu]}, {add: {}, from: [0, 1]}]}\n"))
    assert graph.nodes["s.add"]["inputs"] == ["s.0.relu", "s.1.relu"]


@pytest.mark.parametrize("definition", [
    "{name: bad, conv: {out: -1, kernel: 3}}",  # the op's arguments
    "{name: bad, when: '${nope}', relu: {}}",  # when: fails before the name is read
    "{name: bad, residual: {body: [relu], shortcut: wrong}}",  # the connection's arguments
    "{name: bad, conv: {out: '${nope}', kernel: 3}}",  # an expression
])
def test_a_failed_definition_does_not_cascade_into_unknown_node_errors(definition):
    uses = "  - {relu: {}, from: bad}\n  - {add: {}, from: [bad, bad]}\n"
    errors = diagnostics(spec(f"  - {definition}\n{uses}"))
    assert len(errors) == 1 and errors[0].position.line == 5
    assert "unknown node" not in errors[0].message


# ---- params, merges, type names ----------------------------------------------------------------------------------

def test_a_param_holding_an_expression_is_refused_where_it_is_written_and_its_uses_stay_silent():
    text = spec("  - {conv: {out: $double, kernel: 3}}\n  - {conv: {out: '${double + 1}', kernel: 3}}\n"
                "  - {conv: {out: '${params.double}', kernel: 3}}\n", "params: {width: 16, double: '${width * 2}'}\n")
    (error,) = diagnostics(text)
    assert error.message == ("parameter 'double' holds an expression ('${width * 2}'); params are data, not "
                             "evaluated")
    assert (error.path, error.position.line, error.position.col) == ("params.double", 4, 29)


@pytest.mark.parametrize("op, verb", [("concat", "concatenate"), ("add", "add"), ("mul", "multiply")])
def test_merging_features_with_an_image_names_the_rank_mismatch(op, verb):
    (error,) = diagnostics(spec("  - {name: image, conv: {out: 8, kernel: 3}}\n"
                                "  - {name: features, global_avgpool: {keepdims: false}}\n"
                                f"  - {{{op}: {{}}, from: [features, image]}}\n"))
    assert error.message == (f"cannot {verb} [8] and [8, 8, 8]: their ranks differ ([features] and [C, H, W])")
    assert "flatten" in error.hint


@pytest.mark.parametrize("network", [
    "  - {conv: {out: '${l + 1}', kernel: 3}}\n",
    "  - {conv: {out: '${l.x}', kernel: 3}}\n",
    "  - {conv: {out: '${len(3) + l}', kernel: 3}}\n",
    "  - {body: 3}\n",
    "  - [relu]\n",
    "  - {conv: {out: '${m * 2}', kernel: 3}}\n",
])
def test_no_internal_type_name_reaches_a_message(network):
    text = "\n".join(d.format() for d in diagnostics(spec(network, "params: {l: [1, 2], m: {a: 1}}\n")))
    assert "LList" not in text and "LMap" not in text and "_Unknown" not in text


# ---- a child's params ----------------------------------------------------------------------------------------------

def test_a_child_param_that_is_a_typo_of_a_base_param_is_an_error():
    errors = diagnostics("archc: 1\nextends: resnet20\nname: child\nparams: {depht: 3, widths: [8, 16, 32]}\n")
    assert [(e.message, e.hint) for e in errors] == [
        ("parameter 'depht' is not a parameter of resnet20, and nothing in the spec reads it", "did you mean 'depth'?")]
    assert (errors[0].position.line, errors[0].position.col, errors[0].path) == (4, 10, "params.depht")


def test_a_child_may_add_a_param_that_it_reads():
    text = ("archc: 1\nextends: resnet20\nname: child\nparams: {classes: 7}\n"
            "network:\n  - {conv: {out: 8, kernel: 3}}\n  - flatten\n  - {linear: {out: $classes}}\n")
    assert archc.build_graph(text).nodes[archc.build_graph(text).output_node]["shape"] == (7,)
