"""Every zoo spec on the Keras backend: parameter counts equal archc's summary, and the model computes what the
torch backend computes from the same weights (random torch weights -> Keras, then back, exactly).

The zoo grows as specs are added. Heavy specs (many MACs or very deep) are marked slow, except resnet18 and
densenet121, which always run at their full 224x224 input.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

import archc
from archc.ir.graph import Graph
from archc.zoo import zoo_names

keras = pytest.importorskip("keras")

ALWAYS = {"resnet18", "densenet121"}
MAX_FAST_MACS = 2.0e9
MAX_FAST_NODES = 600  # Keras builds ~20-50 ms per layer on a busy 2-core machine
MAX_FAST_NODES_BUILD_ONLY = 1000


@cache
def graph_of(name: str) -> Graph:
    return archc.build_graph(name)


def params(build_only: bool) -> list:
    out = []
    for name in zoo_names():
        graph = graph_of(name)
        heavy = len(graph) > MAX_FAST_NODES_BUILD_ONLY if build_only else (
            graph.num_macs > MAX_FAST_MACS or len(graph) > MAX_FAST_NODES)
        out.append(pytest.param(name, marks=pytest.mark.slow) if heavy and name not in ALWAYS else name)
    return out


def count(weights: list) -> int:
    return sum(int(np.prod(weight.shape)) for weight in weights)


@pytest.mark.parametrize("name", params(build_only=True))
def test_parameter_counts(name):
    graph = graph_of(name)
    model = archc.api.backend_module("keras").build_model(graph)
    summary = archc.summarize(graph)
    assert count(model.trainable_weights) == summary.params
    assert count(model.non_trainable_weights) == summary.buffers  # BatchNorm moving mean and variance


@pytest.mark.parametrize("name", params(build_only=False))
def test_same_function_as_torch(name, same_function):
    graph = graph_of(name)
    batch = 1 if graph.num_macs > 1e9 else 2
    same_function(graph, batch=batch)
