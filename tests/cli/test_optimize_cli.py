"""``archc compile --optimize`` and ``archc export --optimize``: the folded inference model in .pt2 / ONNX computes
what the spec's model computes in eval mode."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnxruntime = pytest.importorskip("onnxruntime")

import archc  # noqa: E402
from archc.cli import main  # noqa: E402

SPEC = """
archc: 1
name: folded
input: {shape: [3, 16, 16]}
network:
  - {name: conv1, conv: {out: 8, kernel: 3, padding: 1, bias: false}}
  - {name: bn1, bn: {}}
  - relu
  - residual:
      body:
        - {name: conv2, conv: {out: 8, kernel: 3, padding: 1}}
        - {name: bn2, bn: {}}
      after: relu
  - {name: drop, dropout: {p: 0.5}}
  - {name: pool, global_avgpool: {}}
  - flatten
  - {name: fc, linear: {out: 4}}
"""


def test_compile_optimize_writes_a_folded_onnx_and_pt2_with_the_same_outputs(tmp_path: Path):
    spec = tmp_path / "folded.yaml"
    spec.write_text(SPEC)
    x = np.random.default_rng(0).standard_normal((3, 3, 16, 16)).astype("float32")
    expected = archc.load(str(spec), seed=0).eval()(torch.from_numpy(x)).detach().numpy()
    onnx_path, pt2_path = tmp_path / "folded.onnx", tmp_path / "folded.pt2"
    assert main(["compile", str(spec), "--optimize", "-o", str(onnx_path)]) == 0
    assert main(["compile", str(spec), "--optimize", "-o", str(pt2_path)]) == 0
    session = onnxruntime.InferenceSession(str(onnx_path))
    np.testing.assert_allclose(session.run(None, {"input": x})[0], expected, rtol=1e-4, atol=1e-5)
    ops = {node.op_type for node in __import__("onnx").load(str(onnx_path)).graph.node}
    assert "BatchNormalization" not in ops and "Dropout" not in ops
    program = torch.export.load(str(pt2_path)).module()
    np.testing.assert_allclose(program(torch.from_numpy(x)).detach().numpy(), expected, rtol=1e-4, atol=1e-5)


def test_compile_optimize_refuses_emit_source(tmp_path: Path, capsys):
    spec = tmp_path / "folded.yaml"
    spec.write_text(SPEC)
    code = main(["compile", str(spec), "--optimize", "-o", str(tmp_path / "m.pt2"), "--emit-source",
                 str(tmp_path / "m.py")])
    assert code == 2 and "cannot carry --optimize" in capsys.readouterr().err
    assert not (tmp_path / "m.pt2").exists()


VIT_SWIN = """
archc: 1
name: vit_and_swin
input: {shape: [3, 16, 16]}
network:
  - {name: patch, conv: {out: 8, kernel: 2, stride: 2}}
  - to_tokens
  - {name: windows, window_attention: {heads: 2, window: 4, shift: 2}}
  - {name: class_token, class_token: {init: {normal: {std: 1.0}}}}
  - {name: attention, attention: {heads: 2}}
  - {name: token, token: {}}
  - {name: fc, linear: {out: 4}}
"""


def test_compile_optimize_exports_attention_to_onnx(tmp_path: Path):
    # a folded model needs no gradients, so nn.MultiheadAttention took its fused kernel, which ONNX lacks:
    # "cannot be exported to ONNX (opset 17): Exporting the operator 'aten::_native_multi_head_attention'"
    spec = tmp_path / "vit_and_swin.yaml"
    spec.write_text(VIT_SWIN)
    x = np.random.default_rng(0).standard_normal((3, 3, 16, 16)).astype("float32")
    expected = archc.load(str(spec), seed=0).eval()(torch.from_numpy(x)).detach().numpy()
    path = tmp_path / "vit_and_swin.onnx"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["compile", str(spec), "--optimize", "-o", str(path)]) == 0
    # the windows' padding is a constant of the fixed size: the tracer's warning about it is not shown
    assert not [w for w in caught if issubclass(w.category, torch.jit.TracerWarning) and "window" in w.filename]
    session = onnxruntime.InferenceSession(str(path))
    np.testing.assert_allclose(session.run(None, {"input": x})[0], expected, rtol=1e-4, atol=1e-5)
    assert torch.backends.mha.get_fastpath_enabled()  # restored after the export
