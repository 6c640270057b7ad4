"""Shared checks of the Keras backend tests: compare a graph's Keras model with its torch model, tensor by tensor."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from typing import Any

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: outputs of the two backends agree to this, relative to the output's magnitude (at least 1) ...
TOLERANCE = 1e-4
#: ... or to this multiple of torch's own float32 rounding error (torch float32 vs float64), whichever is larger: deep
#: plain nets (plain56) amplify rounding by ~1.2x per layer, so no fixed tolerance fits them
ROUNDING_FACTOR = 10.0


def calibrate_bn(model: Any, x: Any, seed: int = 0) -> None:
    """Give a torch model's BatchNorm layers random gamma / beta and the statistics of ``x`` (one training-mode
    pass), so the comparison exercises every BN tensor while activations stay finite even in 1000-layer nets."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    layers = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for layer in layers:
            layer.weight.copy_(torch.rand(layer.weight.shape, generator=generator) + 0.5)
            layer.bias.copy_(torch.rand(layer.bias.shape, generator=generator) * 0.6 - 0.3)
            layer.reset_running_stats()
            layer.momentum, layer.saved_momentum = None, layer.momentum  # cumulative: running = batch statistics
        model.train()
        model(x)
        model.eval()
        for layer in layers:
            layer.momentum = layer.saved_momentum
            del layer.saved_momentum


def to_keras_layout(x: Any) -> Any:
    """NCHW torch tensor -> NHWC numpy array (feature vectors unchanged)."""
    return x.permute(0, 2, 3, 1).numpy() if x.dim() == 4 else x.numpy()


def compare_backends(graph: Any, batch: int = 2, seed: int = 0) -> dict[str, float]:
    """Random torch weights -> Keras by name; both run in inference mode on one input and agree (TOLERANCE); then
    Keras -> a fresh torch model must reproduce the torch weights exactly. Returns the max difference, the output
    scale and torch's float32 rounding error."""
    import numpy as np
    import torch
    from zoo.reference import randomize_zero_weights

    from archc.api import backend_module
    from archc.transfer import read_state, torch_only_suffixes, transfer_weights

    x = torch.randn(batch, *graph.nodes[graph.input_node]["shape"], generator=torch.Generator().manual_seed(seed))
    torch_model = backend_module("torch").build_model(graph, seed=seed)
    calibrate_bn(torch_model, torch.randn(2, *x.shape[1:], generator=torch.Generator().manual_seed(seed + 1)), seed)
    randomize_zero_weights(torch_model, seed)  # a zero-initialised head (ViT's) would make every output 0
    keras_model = backend_module("keras").build_model(graph, seed=seed + 1)
    transfer_weights(torch_model, keras_model)

    with torch.no_grad():
        expected = torch_model(x).numpy()
        exact = copy.deepcopy(torch_model).double()(x.double()).numpy()
    actual = np.asarray(keras_model(to_keras_layout(x), training=False))
    if actual.ndim == 4:
        actual = actual.transpose(0, 3, 1, 2)
    assert actual.shape == expected.shape
    assert np.isfinite(expected).all(), "the torch output is not finite: no comparison possible"
    difference, scale = float(np.abs(actual - expected).max()), float(np.abs(expected).max())
    rounding = float(np.abs(expected - exact).max())
    assert difference <= max(TOLERANCE * max(1.0, scale), ROUNDING_FACTOR * rounding), (
        f"max |torch - keras| = {difference} (output scale {scale}, torch float32 rounding {rounding})")

    fresh = backend_module("torch").build_model(graph, seed=seed + 2)
    transfer_weights(keras_model, fresh)
    original, back = torch_model.state_dict(), fresh.state_dict()
    for key, tensor in original.items():
        if not key.endswith("num_batches_tracked"):
            assert torch.equal(back[key], tensor), f"{key} changed on the way torch -> keras -> torch"
    # Keras holds every tensor but the step counters and the buffers computed from the op's arguments (Swin's index)
    assert set(read_state(keras_model)) == {key for key in original if not key.endswith("num_batches_tracked")
                                            and not key.endswith(torch_only_suffixes())}
    return {"difference": difference, "scale": scale, "rounding": rounding}


@pytest.fixture
def same_function() -> Callable[..., dict[str, float]]:
    """``same_function(graph)``: torch and Keras compute the same outputs from the same weights (compare_backends)."""
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    return compare_backends
