"""Several outputs (backbone features, auxiliary classifiers): spec outputs:, archc.load(outputs=, features=True), in
torch (a list), emitted source, .pt2, ONNX and Keras (a multi-output model), and in archc summary."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import archc  # noqa: E402
from archc.errors import SpecError  # noqa: E402

SPEC = """
archc: 1
name: backbone
input: {shape: [3, 32, 32]}
outputs: [stage1, stage2, head]
network:
  - {name: stem, conv: {out: 8, kernel: 3, stride: 2}}
  - name: stage1
    body: [{name: conv, conv: {out: 8, kernel: 3}}, {name: bn, bn: {}}, relu]
  - name: stage2
    body: [{name: conv, conv: {out: 16, kernel: 3, stride: 2}}, relu]
  - {name: pool, global_avgpool: {keepdims: false}}
  - {name: head, linear: {out: 10}}
"""
SHAPES = [(8, 16, 16), (16, 8, 8), (10,)]


def test_spec_outputs_in_torch_source_pt2_and_onnx(tmp_path):
    from zoo.reference import emitted_class

    from archc.backends import onnx as onnx_backend
    from archc.backends.torch import save

    graph = archc.build_graph(SPEC)
    assert graph.outputs == ["stage1.relu", "stage2.relu", "head"]
    model = archc.load(SPEC, seed=0).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = model(x)
    assert isinstance(expected, list) and [tuple(t.shape[1:]) for t in expected] == SHAPES
    emitted = emitted_class(graph)().eval()
    emitted.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(emitted(x), expected))
    save(model, graph, tmp_path / "m.pt2")
    exported = torch.export.load(str(tmp_path / "m.pt2")).module()
    assert all(torch.allclose(a, b) for a, b in zip(exported(x), expected))
    onnxruntime = pytest.importorskip("onnxruntime")
    onnx_backend.save(model, graph, tmp_path / "m.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["output_0", "output_1", "output_2"]
    for result, reference in zip(session.run(None, {"input": x.numpy()}), expected):
        np.testing.assert_allclose(result, reference.numpy(), rtol=1e-4, atol=1e-5)


def test_keras_is_a_multi_output_model_equal_to_torch(tmp_path):
    keras = pytest.importorskip("keras")
    from archc.transfer import transfer_weights

    model = archc.load(SPEC, seed=0).eval()
    keras_model = archc.load(SPEC, backend="keras")
    transfer_weights(model, keras_model)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = model(x)
    results = keras_model(x.permute(0, 2, 3, 1).numpy(), training=False)
    assert len(results) == 3
    from archc.backends import keras as keras_backend

    keras_backend.save(keras_model, archc.build_graph(SPEC), tmp_path / "m.keras")  # a .keras file keeps the outputs
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert [tuple(o.shape[1:]) for o in loaded.outputs] == [(16, 16, 8), (8, 8, 16), (10,)]
    for result, reference in zip(results, expected):
        reference = reference.numpy()
        reference = reference.transpose(0, 2, 3, 1) if reference.ndim == 4 else reference
        np.testing.assert_allclose(np.asarray(result), reference, rtol=1e-4, atol=1e-5)


def test_load_outputs_and_features():
    model = archc.load("resnet18", features=True, resolution=64)
    shapes = [tuple(t.shape[1:]) for t in model(torch.randn(1, 3, 64, 64))]
    # the end of every stride: the stem (2), after the max pool (4) ... layer4 (32), as timm's feature_info
    assert shapes == [(64, 32, 32), (64, 16, 16), (128, 8, 8), (256, 4, 4), (512, 2, 2)]
    graph = archc.build_graph("resnet18", resolution=64)
    assert graph.stage_ends() == ["relu", "layer1.1.relu_1", "layer2.1.relu_1", "layer3.1.relu_1", "layer4.1.relu_1"]
    model = archc.load("resnet18", outputs=["layer2", "fc"], resolution=64)
    assert [tuple(t.shape[1:]) for t in model(torch.randn(1, 3, 64, 64))] == [(128, 8, 8), (1000,)]
    with pytest.raises(SpecError, match="outputs: unknown node 'layer9'"):
        archc.load("resnet18", outputs=["layer9"])


def test_features_of_a_net_without_feature_maps_says_so():
    # an MLP has no [C, H, W] node: the message is about features=True, not the empty outputs list it expands to
    with pytest.raises(SpecError, match="features=True: 'highway_fc' has no feature maps"):
        archc.load("highway_fc", features=True)


def test_unknown_spec_output_is_located_and_summary_lists_each_output(capsys):
    from archc.cli import main

    with pytest.raises(SpecError) as caught:
        archc.build_graph(SPEC.replace("[stage1, stage2, head]", "[stage1, stag2]"))
    assert "outputs[1]: outputs: unknown node 'stag2' (hint: did you mean 'stage2'?)" in str(caught.value)
    summary = archc.summarize(SPEC)
    assert summary.outputs == [("stage1.relu", (8, 16, 16), (2, 2)), ("stage2.relu", (16, 8, 8), (4, 4)),
                               ("head", (10,), None)]
    assert main(["summary", SPEC]) == 0
    text = capsys.readouterr().out
    assert "output 1: stage2.relu" in text and "[16, 8, 8], stride 4" in text
