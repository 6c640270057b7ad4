"""archc.transfer_weights: by name, both ways, with errors that name every tensor that does not fit."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import archc
from archc.transfer import TransferError, expected_tensors, read_state, transfer_weights

keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")


def test_core_import_stays_framework_free():
    code = ("import sys, archc; archc.transfer_weights; "
            "assert not {'torch', 'keras', 'tensorflow', 'numpy'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_layouts():
    torch_model = archc.load("resnet20", backend="torch", seed=0)
    keras_model = archc.load("resnet20", backend="keras", seed=1)
    transfer_weights(torch_model, keras_model)
    conv, fc = keras_model.get_layer("layer2.0.conv1"), keras_model.get_layer("linear")
    state = torch_model.state_dict()
    np.testing.assert_array_equal(conv.kernel.numpy(), state["layer2.0.conv1.weight"].permute(2, 3, 1, 0).numpy())
    np.testing.assert_array_equal(fc.kernel.numpy(), state["linear.weight"].T.numpy())
    bn = keras_model.get_layer("bn1")
    for attribute, suffix in [("gamma", "weight"), ("beta", "bias"), ("moving_mean", "running_mean"),
                              ("moving_variance", "running_var")]:
        np.testing.assert_array_equal(getattr(bn, attribute).numpy(), state[f"bn1.{suffix}"].numpy())


def test_state_dict_and_keras_to_keras():
    source = archc.load("resnet20", backend="torch", seed=0)
    first = archc.load("resnet20", backend="keras", seed=1)
    second = archc.load("resnet20", backend="keras", seed=2)
    transfer_weights(source.state_dict(), first)
    transfer_weights(first, second)
    assert all(np.array_equal(a, b) for a, b in zip(read_state(first).values(), read_state(second).values()))


def test_expected_tensors_match_the_torch_model():
    graph = archc.build_graph("se_resnet18")
    model = archc.load("se_resnet18", backend="torch")
    assert expected_tensors(graph) == {key: tuple(value.shape) for key, value in model.state_dict().items()}


def test_names_every_missing_and_unexpected_tensor():
    with pytest.raises(TransferError) as info:
        transfer_weights(archc.load("resnet20", backend="torch"), archc.load("resnet32", backend="keras"))
    message = str(info.value)
    assert "missing in the source: layer1.3.conv1.weight" in message and "layer3.4.bn2.running_var" in message
    with pytest.raises(TransferError, match="not in the destination: layer1.3.conv1.weight"):
        transfer_weights(archc.load("resnet32", backend="keras"), archc.load("resnet20", backend="torch"))


def test_names_shape_mismatches_even_when_not_strict():
    source = archc.load("resnet20", backend="keras", num_classes=100)
    destination = archc.load("resnet20", backend="torch")
    with pytest.raises(TransferError, match=r"linear.weight: source \[100, 64\], destination \[10, 64\]"):
        transfer_weights(source, destination, strict=False)


def test_not_strict_copies_what_fits():
    source = archc.load("resnet20", backend="torch", seed=0)
    destination = archc.load("resnet32", backend="keras", seed=1)
    transfer_weights(source, destination, strict=False)
    np.testing.assert_array_equal(read_state(destination)["conv1.weight"], source.state_dict()["conv1.weight"].numpy())


def test_unmappable_keras_layer():
    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, keras.layers.DepthwiseConv2D(3, name="dw")(inputs))
    with pytest.raises(TransferError, match="'dw' .*DepthwiseConv2D.* cannot map"):
        read_state(model)


def test_unsupported_objects():
    with pytest.raises(TypeError, match="expected a torch.nn.Module, a keras.Model or a state_dict"):
        transfer_weights(object(), archc.load("resnet20", backend="keras"))
    with pytest.raises(TypeError, match="cannot load weights into a dict"):
        transfer_weights(archc.load("resnet20", backend="torch"), {})
