"""The Keras lowering registry: one lowering per op, duplicates and unknown ops are errors that name the fix."""

from __future__ import annotations

import pytest

import archc
from archc.ops.registry import OPS, load_builtin_ops

pytest.importorskip("keras")

from archc.backends.keras import LOWERINGS, build_model, get_lowering, register_lowering  # noqa: E402


def test_every_op_has_a_lowering():
    """Every op but those that declare the 'torch only' trait (refused at the node, tested in the conformance test)."""
    load_builtin_ops()
    LOWERINGS.load()
    portable = {name for name, op in OPS.items() if "torch only" not in op.traits}
    assert portable <= set(LOWERINGS), f"ops without a keras lowering: {sorted(portable - set(LOWERINGS))}"
    assert not {name for name in OPS if name not in portable} & set(LOWERINGS), "a 'torch only' op has a lowering"


def test_duplicate_registration_fails():
    with pytest.raises(ValueError, match="'relu' is already registered"):
        register_lowering("relu")(lambda builder, node, inputs: inputs[0])


def test_unknown_op_lists_the_known_ones():
    with pytest.raises(KeyError, match="unknown keras lowering 'frobnicate'; known keras lowerings: .*conv"):
        get_lowering("frobnicate")


def test_unknown_op_in_a_graph_is_a_located_spec_error():
    graph = archc.build_graph("resnet20")
    graph.nodes["layer1.0.conv1"]["op"] = "frobnicate"
    with pytest.raises(archc.SpecError, match="no lowering for op 'frobnicate'") as info:
        build_model(graph)
    assert info.value.diagnostics[0].position is not None
