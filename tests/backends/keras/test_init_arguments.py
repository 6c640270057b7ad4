"""Initialisers with arguments draw from the same distribution in both backends, and emitted source applies them."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("keras")

import archc  # noqa: E402
from archc.transfer import read_state  # noqa: E402

INITS = {
    "normal": ({"normal": {"mean": 0.5, "std": 0.01}}, {"mean": 0.5, "std": 0.01}),
    "uniform": ({"uniform": {"a": -0.3, "b": 0.1}}, {"mean": -0.1, "std": 0.4 / 12 ** 0.5, "min": -0.3, "max": 0.1}),
    "trunc_normal": ({"trunc_normal": {"std": 0.02}}, {"mean": 0.0, "std": 0.02}),  # torch's a, b = -2, 2: wide
    "trunc_normal_2sd": ({"trunc_normal": {"std": 1.0, "a": -2, "b": 2}},
                         {"mean": 0.0, "std": 0.8796, "min": -2.0, "max": 2.0}),  # N(0, 1) cut at 2: sd 0.88
    "constant": ({"constant": {"value": 0.25}}, {"mean": 0.25, "std": 0.0}),
}


def spec(init: dict) -> dict:
    return {"archc": 1, "name": "init", "input": {"shape": [400]},
            "network": [{"name": "fc", "linear": {"out": 300, "init": init}}]}


def check(values: np.ndarray, expected: dict) -> None:
    assert abs(values.mean() - expected["mean"]) < 0.01 * max(expected["std"], 0.01) * 10
    assert abs(values.std() - expected["std"]) <= 0.02 * expected["std"] + 1e-7
    if "min" in expected:
        assert values.min() >= expected["min"] - 1e-6 and values.max() <= expected["max"] + 1e-6
        assert values.min() < expected["min"] + 0.05 and values.max() > expected["max"] - 0.05


@pytest.mark.parametrize("name", sorted(INITS))
def test_both_backends_draw_the_distribution(name):
    init, expected = INITS[name]
    from archc.backends.keras import build_model as build_keras
    from archc.backends.torch import build_model as build_torch

    graph = archc.build_graph(spec(init))
    torch_weight = build_torch(graph, seed=0).state_dict()["fc.weight"].numpy()
    keras_weight = read_state(build_keras(graph, seed=0))["fc.weight"]
    for values in (torch_weight, keras_weight):  # 120,000 draws each
        check(values, expected)


def test_emitted_source_applies_the_initialiser():
    from archc.backends.torch import emit_source

    text = emit_source(archc.build_graph(spec({"trunc_normal": {"std": 0.02}})))
    assert "nn.init.trunc_normal_(self.fc.weight, mean=0.0, std=0.02, a=-2.0, b=2.0)" in text


def test_keras_refuses_a_truncation_it_cannot_draw():
    with pytest.raises(archc.SpecError, match="draws trunc_normal only with bounds"):
        archc.load(spec({"trunc_normal": {"std": 1.0, "a": -3, "b": 3}}), backend="keras")
