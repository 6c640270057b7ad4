"""Every zoo spec on the Keras backend: parameter counts equal archc's summary, and the model computes what the
torch backend computes from the same weights (random torch weights -> Keras, then back, exactly).

The zoo grows as specs are added. Heavy specs are marked slow by the suite-wide policy of tests/conftest.py.
resnet18 and densenet121 run at their full 224x224 input; the other image specs at the small resolution of the
reference harness (tests/zoo/reference.py), set through their `resolution` param.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

import archc
from archc.errors import SpecError
from archc.ir.graph import Graph
from archc.ops.registry import has_trait
from archc.spec.parse import parse
from archc.zoo import zoo_names

keras = pytest.importorskip("keras")


FULL_SIZE = {"resnet18", "densenet121"}
#: a Keras functional model holds only the layers between its input and outputs, so the auxiliary heads of these nets
#: (parameters the torch model keeps for torchvision's state dict, outputs of neither) are left out: compared without
WITHOUT_AUX = {"googlenet", "inception_v3"}


@cache
def graph_of(name: str) -> Graph:
    from zoo.reference import small_params, small_resolution

    params = {"aux_logits": False} if name in WITHOUT_AUX else {}
    if name in FULL_SIZE or "resolution" not in parse(name).params:
        return archc.build_graph(name, **params)
    resolution = min(small_resolution(name), parse(name).params["resolution"])
    return archc.build_graph(name, resolution=resolution, **(small_params(name) | params))


def count(weights: list) -> int:
    return sum(int(np.prod(weight.shape)) for weight in weights)


def torch_only(graph: Graph) -> str | None:
    """The first op of ``graph`` that the Keras backend does not lower (trait "torch only": a ViT's token ops)."""
    return next((data["op"] for _, data in graph.op_nodes() if has_trait(data["op"], "torch only")), None)


@pytest.mark.parametrize("name", zoo_names())
def test_parameter_counts(name):
    graph = graph_of(name)
    if (op := torch_only(graph)) is not None:  # refused at the node, never a traceback
        with pytest.raises(SpecError, match=f"the keras backend has no lowering for op '{op}'"):
            archc.api.backend_module("keras").build_model(graph)
        return
    model = archc.api.backend_module("keras").build_model(graph)
    summary = archc.summarize(graph)
    assert count(model.trainable_weights) == summary.params
    assert count(model.non_trainable_weights) == summary.buffers - constant_buffers(graph)  # BN moving statistics


def constant_buffers(graph: Graph) -> int:
    """Buffers that the Keras graph holds as constants, not variables (Swin's relative_position_index)."""
    from archc.ops.registry import ROLES

    total = 0
    for _, data in graph.op_nodes():
        inputs = [graph.nodes[source]["shape"] for source in data["inputs"]]
        total += sum(t.numel for t in data["attrs"].declared_tensors(inputs)
                     if not t.decl.trainable and t.decl.keras is None and ROLES[t.decl.role].counted)
    return total


@pytest.mark.parametrize("name", zoo_names())
def test_same_function_as_torch(name, same_function):
    graph = graph_of(name)
    if torch_only(graph) is not None:
        pytest.skip(f"{name} uses torch-only ops (test_parameter_counts checks the located refusal)")
    same_function(graph, batch=1 if graph.num_macs > 1e9 else 2)


def test_googlenet_auxiliary_outputs_in_keras():
    """Named as outputs, GoogLeNet's auxiliary heads are in the Keras model too (all 13,004,888 parameters), and
    its three outputs equal torch's after the transfer (BatchNorms randomized)."""
    import torch
    from zoo.reference import TOLERANCE, randomize_batchnorm

    from archc.transfer import transfer_weights

    options = {"outputs": ["fc", "aux1", "aux2"], "resolution": 64}
    torch_model = randomize_batchnorm(archc.load("googlenet", seed=0, **options), 64)
    keras_model = archc.load("googlenet", backend="keras", seed=1, **options)
    assert count(keras_model.trainable_weights) == 13_004_888
    transfer_weights(torch_model, keras_model)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = [y.numpy() for y in torch_model(x)]
    actual = [np.asarray(y) for y in keras_model(x.permute(0, 2, 3, 1).numpy(), training=False)]
    assert len(actual) == len(expected) == 3
    for got, want in zip(actual, expected):
        assert np.abs(got - want).max() <= TOLERANCE * max(1.0, np.abs(want).max())
