"""Initial weights: the distributions of the torch backend (torch.nn.init), drawn reproducibly from the seed."""

from __future__ import annotations

import typing

import numpy as np
import pytest

import archc
from archc.ops.conv import InitName
from archc.transfer import read_state

pytest.importorskip("keras")
torch = pytest.importorskip("torch")

INITS = typing.get_args(InitName)  # the scheme names (initialisers with arguments: test_init_arguments.py)


def init_spec(init: str) -> dict:
    return {"archc": 1, "name": "init", "input": {"shape": [48, 6, 6]},
            "network": [{"name": "conv", "conv": {"out": 64, "kernel": 3, "init": init}},
                        {"name": "grouped", "conv": {"out": 64, "kernel": 3, "groups": 4, "init": init}},
                        {"name": "bn", "bn": {"gamma_init": 0.5, "beta_init": -0.25}},
                        {"global_avgpool": {"keepdims": False}},
                        {"name": "fc", "linear": {"out": 300, "init": init, "bias_init": -1.5}}]}


@pytest.mark.parametrize("init", INITS)
def test_same_distribution_as_torch(init):
    keras_state = read_state(archc.load(init_spec(init), backend="keras", seed=0))
    torch_state = {k: v.numpy() for k, v in archc.load(init_spec(init), backend="torch", seed=0).state_dict().items()}
    for key, ours in keras_state.items():
        theirs = torch_state[key]
        assert ours.shape == theirs.shape, key
        if theirs.std() == 0:
            np.testing.assert_array_equal(ours, theirs, err_msg=key)
            continue
        if ours.size < 1000:  # the 64 biases: too few for a tight estimate (test_torch_default_bounds checks them)
            assert ours.std() == pytest.approx(theirs.std(), rel=0.3), key
            continue
        assert ours.std() == pytest.approx(theirs.std(), rel=0.06), key
        assert abs(ours.mean()) < 0.1 * theirs.std(), key
        assert np.abs(ours).max() == pytest.approx(np.abs(theirs).max(), rel=0.25), key  # uniform bound / normal tail
    assert keras_state["bn.weight"].tolist() == [0.5] * 64 and keras_state["bn.bias"].tolist() == [-0.25] * 64
    assert keras_state["fc.bias"].tolist() == [-1.5] * 300


def test_torch_default_bounds():
    """torch's default is U(+-1/sqrt(fan_in)) for weight and bias; fan_in counts the group's channels only."""
    state = read_state(archc.load(init_spec("torch_default"), backend="keras", seed=3))
    for key, fan_in in [("conv", 48 * 9), ("grouped", 64 // 4 * 9)]:
        bound = 1 / np.sqrt(fan_in)
        for suffix in ("weight", "bias"):
            values = state[f"{key}.{suffix}"]
            assert np.abs(values).max() <= bound and np.abs(values).max() > 0.9 * bound


def test_seeded():
    first = read_state(archc.load("resnet20", backend="keras", seed=7))
    again = read_state(archc.load("resnet20", backend="keras", seed=7))
    other = read_state(archc.load("resnet20", backend="keras", seed=8))
    assert all(np.array_equal(first[key], again[key]) for key in first)
    assert not np.array_equal(first["conv1.weight"], other["conv1.weight"])
    # tensors of the same shape are drawn independently
    assert not np.array_equal(first["layer1.0.conv1.weight"], first["layer1.0.conv2.weight"])
